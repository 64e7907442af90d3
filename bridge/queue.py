"""Enqueue helpers: deterministic job ids, retry as data, one job at a time per ticket."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Callback, Queue, Retry
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.config import Config, Route
from bridge.job_names import SYNC_FIRST_LEVEL
from bridge.models import Event, EventKind, SystemRef
from bridge.records import PairKey
from bridge.retry import RandomSource, intervals
from bridge.stores import IntakeStore, LinkStore

log = logging.getLogger("bridge")

# RQ runs these after every failed attempt (also for a worker killed mid-job) and after a
# success: they keep the failure inbox (bridge.failures.inbox) in step with the jobs.
ON_FAILURE = Callback("bridge.jobs.on_sync_failure")
ON_SUCCESS = Callback("bridge.jobs.on_sync_success")
RESULT_TTL = 24 * 3600
FAILURE_TTL = 30 * 24 * 3600

_SHARED_RNG = random.Random()


def retry_for(config: Config, rng: RandomSource = _SHARED_RNG) -> Retry:
    """RQ's Retry for one sync job: the configured fixed list if any, else the backoff
    (bridge.retry draws the schedule; the config says which)."""
    fixed = list(config.retry_intervals)
    waits = fixed or intervals(config.retry, rng)
    return Retry(max=len(waits), interval=waits)


class JsonQueue(Queue):
    """The bridge's queue: jobs take ids and plain dicts, so they travel as JSON, not pickle.

    A class (not just an argument) because RQ's WorkerPool builds queues from a class.
    """

    def __init__(self, name: str = "default", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(name, *args, **kwargs)


def _enqueue_limited_on(
    queue: Queue, pipeline: Pipeline, func: str, rate_limit: RateLimit, **create: Any
) -> Job:
    """Queue a rate-limited job as part of the caller's transaction (its other writes too).

    Why not `enqueue`: RQ's public path refuses a pipeline for rate-limited jobs and spends
    three round trips per job (queue set, job save, slot acquire). So the job is queued here by
    the steps RQ 3.0 takes itself (`Queue._enqueue_rate_limited_job`, private), built from
    public parts only: saved as rate_limited, added to its key's waiting set, then RQ's slot
    acquire queued on the same pipeline (`RateLimitRegistry.acquire_and_enqueue(pipeline=)`),
    which promotes it to its queue when its slot is free. The job is not saved again after
    that (a later save would overwrite the promoted status). With IntakePipeline a webhook
    costs two round trips instead of five, three when its pair has a job that may still wait
    (see bench/intake.py and `still_waiting`). Checked against RQ 3.0.0:
    tests/integration/test_intake_rq.py compares what this writes with what RQ's own enqueue
    writes, so an RQ that changes its steps fails there first.
    """
    job = queue.create_job(func, status=JobStatus.RATE_LIMITED, rate_limit=rate_limit, **create)
    registry = RateLimitRegistry(rate_limit.key, queue.connection)
    pipeline.sadd(queue.redis_queues_keys, queue.key)
    registry.register(rate_limit.concurrency, pipeline)
    job.save(pipeline=pipeline)
    job.cleanup(ttl=job.ttl, pipeline=pipeline)
    registry.add_to_rate_limited(job.id, pipeline)
    registry.acquire_and_enqueue(rate_limit.concurrency, pipeline=pipeline)
    return job


_SCRIPTS_SEEN: set[str] = set()


class IntakePipeline(Pipeline):
    """A transaction that asks the server whether its scripts exist only once per process.

    redis-py sends SCRIPT EXISTS before every pipeline that runs a script (RQ's slot acquire),
    which would be a third round trip on the webhook path. After a Redis restart the cache is
    empty and the EVALSHA inside the transaction answers NOSCRIPT; `dispatch_events` then
    repeats only the acquire, which loads the script (acquiring free slots is idempotent).
    """

    @classmethod
    def of(cls, redis: Redis) -> IntakePipeline:
        return cls(redis.connection_pool, redis.response_callbacks, True, None)

    def load_scripts(self) -> None:
        shas = {script.sha for script in self.scripts}
        if shas <= _SCRIPTS_SEEN:
            return
        super().load_scripts()
        _SCRIPTS_SEEN.update(script.sha for script in self.scripts)


def get_queue(redis: Redis, config: Config) -> JsonQueue:
    return JsonQueue(config.queue_name, connection=redis)


def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "system": event.ref.system,
        "id": event.ref.id,
        "kind": event.kind.value,
        "delivery_id": event.delivery_id,
        "actor_id": event.actor_id,
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "data": dict(event.data),
    }


def event_from_dict(data: dict[str, Any] | None) -> Event | None:
    if not data:
        return None
    occurred = data.get("occurred_at")
    return Event(
        ref=SystemRef(data["system"], str(data["id"])),
        kind=EventKind(data.get("kind", EventKind.OTHER.value)),
        delivery_id=data.get("delivery_id"),
        actor_id=data.get("actor_id"),
        occurred_at=datetime.fromisoformat(occurred) if occurred else None,
        data=data.get("data") or {},
    )


def job_id_for(route: str, system: str, delivery_id: str) -> str:
    digest = hashlib.sha256(f"{route}|{system}|{delivery_id}".encode()).hexdigest()[:24]
    return f"tb-{route}-{digest}"


def enqueue_sync(
    queue: Queue,
    config: Config,
    route: Route,
    event: Event,
    job_id: str | None = None,
    delay_seconds: float = 0,
    first_id: str | None = None,
    pipeline: Pipeline | None = None,
) -> Job:
    """Queue one sync of a first-level ticket (the event's, unless `first_id` is given).

    With a pipeline (and no delay) the job is written when the caller executes it.
    """
    first_id = first_id or event.ref.id
    meta = {
        "route": route.name,
        "system": route.first,
        "ticket": first_id,
        "event_from": str(event.ref),
        "received_at": datetime.now(UTC).isoformat(),
    }
    retry = retry_for(config)
    # One job per pair at a time: jobs for one linked pair never run side by side.
    rate_limit = RateLimit(key=keyspace.pair_slot(PairKey(route.name, first_id)), concurrency=1)
    description = f"sync {route.first}#{first_id} on route {route.name} ({event.ref})"
    args = (route.name, first_id, event_to_dict(event))
    if pipeline is not None and delay_seconds <= 0:
        return _enqueue_limited_on(
            queue, pipeline, SYNC_FIRST_LEVEL, rate_limit, args=args, job_id=job_id, retry=retry,
            timeout=config.job_timeout, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
            meta=meta, description=description, on_failure=ON_FAILURE, on_success=ON_SUCCESS,
        )  # fmt: skip
    options: dict[str, Any] = {
        "args": args,
        "job_id": job_id,
        "retry": retry,
        "rate_limit": rate_limit,
        "job_timeout": config.job_timeout,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "meta": meta,
        "description": description,
        "on_failure": ON_FAILURE,
        "on_success": ON_SUCCESS,
    }
    if delay_seconds > 0:
        return queue.enqueue_in(timedelta(seconds=delay_seconds), SYNC_FIRST_LEVEL, **options)
    return queue.enqueue(SYNC_FIRST_LEVEL, **options)


@dataclass(frozen=True)
class Dispatched:
    jobs: tuple[str, ...] = ()
    duplicate: bool = False
    in_progress: bool = False  # the same delivery is being queued by another request: retry
    unlinked: bool = False  # a second-level ticket the bridge did not create: nothing to do
    coalesced: int = 0  # targets whose waiting job will pick this change up


def dispatch_event(
    event: Event,
    config: Config,
    intake: IntakeStore,
    links: LinkStore,
    queue: Queue,
    delivery_key: str,
) -> Dispatched:
    """Dedupe one event and make sure a sync is queued for every route it concerns."""
    return dispatch_events([(event, delivery_key)], config, intake, links, queue)[0]


def dispatch_events(
    items: Sequence[tuple[Event, str]],
    config: Config,
    intake: IntakeStore,
    links: LinkStore,
    queue: Queue,
    also: Callable[[Pipeline, list[Dispatched]], None] | None = None,
) -> list[Dispatched]:
    """Dedupe events (with their delivery keys) and queue a sync for every route they concern.

    First-level events sync (or escalate) their own ticket; second-level events sync the
    first-level ticket they are linked to. When a job for the pair is still waiting to run, the
    event is coalesced onto it: the job re-reads both sides, so it will see this change too.
    The new jobs, the final dedupe keys (and whatever `also` adds, e.g. metrics) go to Redis in
    one transaction: a delivery counts as received exactly when its jobs exist. If that fails,
    the reservations are released (or expire), so the sender's (or the next poll's) retry is not
    mistaken for a duplicate.
    """
    taking = _Intake(config, intake, links, queue)
    try:
        results = [taking.take(event, delivery_key) for event, delivery_key in items]
        taking.commit(results, also)
    except Exception as exc:
        # A Redis that timed out is likely hung: a release would hang as long again, and the
        # sender is waiting for its answer. Its reservations run out by themselves.
        if not isinstance(exc, RedisTimeoutError):
            taking.release()
        raise
    return results


# The statuses of a job that has not begun to read its pair: a change coalesced onto it is seen.
NOT_STARTED = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED,
                     JobStatus.RATE_LIMITED})  # fmt: skip


class _Intake:
    """One `dispatch_events` call: the transaction it builds, and what it has reserved."""

    def __init__(self, config: Config, intake: IntakeStore, links: LinkStore, queue: Queue) -> None:
        self.config, self.intake, self.links, self.queue = config, intake, links, queue
        self.pipe = IntakePipeline.of(intake.redis)
        self.queued: list[Job] = []  # written by the transaction
        self.taken: list[tuple[str, str, list[PairKey]]] = []  # (system, delivery key, pairs)

    def take(self, event: Event, delivery_key: str) -> Dispatched:
        """Reserve one delivery, and coalesce it onto or queue a job for each of its pairs."""
        system = event.ref.system
        targets = _targets(event, self.config, self.links)
        if not targets:
            self.intake.touch_source(system)
            return Dispatched(unlinked=True)
        pairs = [pair for _, pair in targets]
        reserved = self.intake.intake(system, delivery_key, pairs)
        if reserved.duplicate or reserved.in_progress:
            return Dispatched(duplicate=reserved.duplicate, in_progress=reserved.in_progress)
        self.taken.append((system, delivery_key, pairs))
        self.intake.commit_delivery(self.pipe, system, delivery_key, self.config.dedupe_ttl)
        return self._coalesce_or_queue(event, delivery_key, targets, reserved.newest)

    def _coalesce_or_queue(
        self, event: Event, key: str, targets: list[tuple[Route, PairKey]], newest: Sequence[str]
    ) -> Dispatched:
        """Per pair: the newest job if it still waits (it will see this change), else a new one."""
        waiting = still_waiting(self.intake.redis, newest)
        jobs: list[str] = []
        for (route, pair), job_id in zip(targets, newest, strict=True):
            jobs.append(job_id if job_id in waiting else self._queue(route, pair, event, key))
        return Dispatched(jobs=tuple(jobs), coalesced=sum(j in waiting for j in newest))

    def _queue(self, route: Route, pair: PairKey, event: Event, delivery_key: str) -> str:
        """A new sync job for the pair, written with the transaction; it is the pair's newest."""
        job_id = job_id_for(route.name, event.ref.system, f"{pair.first_id}|{delivery_key}")
        self.queued.append(enqueue_sync(self.queue, self.config, route, event, job_id=job_id,
                                        first_id=pair.first_id, pipeline=self.pipe))  # fmt: skip
        self.intake.note_waiting_job(self.pipe, pair, job_id)
        return job_id

    def commit(
        self, results: list[Dispatched], also: Callable[[Pipeline, list[Dispatched]], None] | None
    ) -> None:
        """Run the transaction; the extra writes of `also` (metrics) never fail the intake."""
        essential = len(self.pipe)
        if also is not None:
            also(self.pipe, results)
        outcome = self.pipe.execute(raise_on_error=False)
        failed = [r for r in outcome[:essential] if isinstance(r, Exception)]
        if failed and all(isinstance(r, NoScriptError) for r in failed):
            self._acquire_slots()
        elif failed:
            raise failed[0]
        for extra in outcome[essential:]:
            if isinstance(extra, Exception):
                log.warning("intake: an extra write failed: %s", extra)

    def _acquire_slots(self) -> None:
        """Redis lost its script cache (a restart): the jobs are written, only RQ's slot acquire
        failed; run it directly, which loads the script (acquiring free slots is idempotent)."""
        _SCRIPTS_SEEN.clear()
        for job in self.queued:
            registry = RateLimitRegistry.from_job(job)
            registry.acquire_and_enqueue(job.rate_limit_concurrency or 1)

    def release(self) -> None:
        """Give back reservations whose jobs were not written, so a retry is not a duplicate.

        Best effort: with Redis unreachable this fails too, and the reservations expire on
        their own (PENDING_DELIVERY_TTL); the failure that got us here is the one to report.
        """
        try:
            self.intake.release_reservations(self.taken)
        except RedisError as exc:
            log.warning("intake: reservations left to expire: %s", exc)


def still_waiting(redis: Redis, job_ids: Iterable[str]) -> set[str]:
    """The jobs among `job_ids` that RQ has not started yet ("" and unknown ids are not).

    Asked through RQ's public Job API, never read from its storage layout: one status read per
    job, and an event names one job per route it concerns (usually one). `Job.fetch_many`
    would read them in one round trip, but restores whole jobs: 2.5 times the cost for one."""
    waiting: set[str] = set()
    for job_id in sorted({job_id for job_id in job_ids if job_id}):
        try:
            status = Job(job_id, connection=redis).get_status()
        except (InvalidJobOperation, ValueError):  # gone, or a status this RQ does not know
            continue
        if status in NOT_STARTED:
            waiting.add(job_id)
    return waiting


def _targets(event: Event, config: Config, links: LinkStore) -> list[tuple[Route, PairKey]]:
    system = event.ref.system
    targets = [(r, PairKey(r.name, event.ref.id)) for r in config.routes_from(system)]
    for route in config.routes_to(system):
        pair = links.first_for_second(route.name, event.ref)
        if pair is not None:
            targets.append((route, pair))
    return targets
