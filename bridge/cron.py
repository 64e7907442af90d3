"""`bridge cron`: RQ's CronScheduler enqueues the polls of every system that needs them.

RQ's CronJob enqueues with the default (pickle) serializer, while the bridge's queue and
workers speak JSON (jobs take ids and plain dicts). JsonCronJob changes only that.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.cron import CronJob, CronScheduler
from rq.exceptions import StopRequested
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge.config import Config
from bridge.polling import interval_for
from bridge.reconnect import wait_for_redis
from bridge.registry import build_connector

log = logging.getLogger(__name__)


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
    """Register one poll per system that needs one; returns (system, interval) pairs."""
    from bridge.jobs import poll_system

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
    return planned


def run_cron(config: Config, redis: Redis) -> None:
    """RQ's cron scheduler until a stop is asked for (SIGTERM / Ctrl-C).

    RQ's scheduler raises when Redis goes away and would leave the process down; a new one is
    started as soon as Redis answers again (a stop while waiting ends the process, cleanly).
    """
    for generation in itertools.count(1):
        scheduler = BridgeCronScheduler(
            connection=redis, name=f"bridge-cron-{os.getpid()}-{generation}"
        )
        planned = schedule_polls(scheduler, config)
        if generation == 1:
            for system, every in planned:
                log.info("poll %s every %d s", system, every, extra={"system": system})
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
