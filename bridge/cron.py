"""`bridge cron`: RQ's CronScheduler enqueues the polls of every system that needs them, and
checks the alert conditions (bridge.ops.alerts) when the config has an `alerts` section.

RQ's CronJob enqueues with the default (pickle) serializer, while the bridge's queue and
workers speak JSON (jobs take ids and plain dicts). JsonCronJob changes only that.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.cron import CronJob, CronScheduler
from rq.exceptions import StopRequested
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge.config import Config
from bridge.ops.alerts import AlertLoop
from bridge.ops.inspect import Inspector
from bridge.polling import interval_for
from bridge.reconnect import wait_for_redis
from bridge.registry import build_connector

log = logging.getLogger(__name__)

# How often the cron ends pauses whose `until` has passed (bridge.resume): a window given as
# "until 06:00" ends within this many seconds of it.
RESUME_TICK = 60


class JsonCronJob(CronJob):
    def enqueue(self, connection: Any) -> Job:
        if self.func is None:
            raise ValueError(f"cron job {self.name} has no function")
        queue = Queue(self.queue_name, connection=connection, serializer=JSONSerializer)
        job = queue.enqueue(
            self.func, args=self.args, kwargs=self.kwargs, **self.job_options
        )  # fmt: skip
        log.info("enqueued %s %s", self.name, job.id, extra={"job": job.id})
        return job


class BridgeCronScheduler(CronScheduler):
    stop_asked = False
    # The alert check rides on the scheduler's own loop: after each round of enqueueing, and
    # the loop wakes up in time for it.
    alerts: AlertLoop | None = None

    def enqueue_jobs(self) -> list[CronJob]:
        enqueued = super().enqueue_jobs()
        if self.alerts is not None:
            self.alerts.tick()
        return enqueued

    def calculate_sleep_interval(self) -> float:
        sleep = float(super().calculate_sleep_interval())
        if self.alerts is not None:
            sleep = min(sleep, self.alerts.seconds_to_next())
        return sleep

    def _request_stop(self, signum: Any, frame: Any) -> None:
        """Remember the stop: RQ's clean-up may fail on a dead Redis and hide it."""
        self.stop_asked = True
        super()._request_stop(signum, frame)

    def register(  # type: ignore[override]
        self,
        func: Callable[..., Any],
        queue_name: str,
        args: tuple[Any, ...] | None = None,
        interval: int | None = None,
        job_timeout: int | None = None,
        name: str = "",
        failure_ttl: int | None = None,
    ) -> CronJob:
        job = JsonCronJob(
            queue_name=queue_name,
            func=func,
            args=args,
            interval=interval,
            job_timeout=job_timeout,
            name=name,
            failure_ttl=failure_ttl,
        )
        self._cron_jobs.append(job)
        return job


def schedule_polls(scheduler: BridgeCronScheduler, config: Config) -> list[tuple[str, int]]:
    """Register one poll per system that needs one, and the pause tick; returns the polls'
    (system, interval) pairs."""
    from bridge.jobs import poll_system, resume_pauses

    planned: list[tuple[str, int]] = []
    for name, settings in config.systems.items():
        every = interval_for(settings, build_connector(settings))
        if every > 0:
            scheduler.register(
                poll_system,
                config.queue_name,
                args=(name,),
                interval=every,
                job_timeout=max(60, every),
                name=f"poll-{name}",
                # A failed poll is superseded by the next one; keep it a day for operators.
                failure_ttl=24 * 3600,
            )
            planned.append((name, every))
    scheduler.register(
        resume_pauses,
        config.queue_name,
        interval=RESUME_TICK,
        job_timeout=60,
        name="resume-pauses",
        failure_ttl=24 * 3600,
    )
    return planned


def utc_now() -> datetime:
    return datetime.now(UTC)


def alert_loop(
    config: Config, redis: Redis, clock: Callable[[], datetime] = utc_now
) -> AlertLoop | None:
    """The alert check for the config's `alerts` section (None without one)."""
    if config.alerts is None:
        return None
    return AlertLoop(Inspector(redis, config, clock=clock), config.alerts, clock)


def run_cron(
    config: Config,
    redis: Redis,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """RQ's cron scheduler until a stop is asked for (SIGTERM / Ctrl-C).

    RQ's scheduler raises when Redis goes away and would leave the process down; a new one is
    started as soon as Redis answers again (a stop while waiting ends the process, cleanly).
    """
    alerts = alert_loop(config, redis, clock)  # one for all generations: it keeps its pace
    for generation in itertools.count(1):
        scheduler = BridgeCronScheduler(
            connection=redis, name=f"bridge-cron-{os.getpid()}-{generation}"
        )
        scheduler.alerts = alerts
        planned = schedule_polls(scheduler, config)
        if generation == 1:
            for system, every in planned:
                log.info("poll %s every %d s", system, every, extra={"system": system})
            if alerts is not None:
                log.info("alerts checked every %g s", alerts.settings.check_every)
        try:
            scheduler.start()
            return  # stopped on request
        except RedisError as exc:
            if scheduler.stop_asked:  # the stop's own clean-up met the outage
                return
            log.warning("cron: lost Redis: %s", exc)
        try:
            if not wait_for_redis(redis, scheduler_stopping(scheduler), what="cron"):
                return
        except (StopRequested, KeyboardInterrupt):  # a signal while waiting
            return


def scheduler_stopping(scheduler: BridgeCronScheduler) -> Callable[[], bool]:
    return lambda: scheduler.stop_asked
