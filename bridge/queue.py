"""Enqueue helpers: deterministic job ids, retry as data, one job at a time per ticket."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Callback, Queue
from rq.job import Job
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.serializers import JSONSerializer

from bridge.config import Config, Route
from bridge.models import Event, EventKind, SystemRef
from bridge.retry import retry_for
from bridge.store import RedisStore

log = logging.getLogger("bridge")

SYNC_FIRST_LEVEL = "bridge.jobs.sync_first_level"
# RQ runs these after every failed attempt (also for a worker killed mid-job) and after a
# success: they keep the failure inbox (bridge.ops.inbox) in step with the jobs.
ON_FAILURE = Callback("bridge.jobs.on_sync_failure")
ON_SUCCESS = Callback("bridge.jobs.on_sync_success")
POLL_SYSTEM = "bridge.jobs.poll_system"
PAIR_KEY_PREFIX = "tb:pair:"  # RQ rate-limit keys of the per-ticket slots (pair_key)
RESULT_TTL = 24 * 3600
FAILURE_TTL = 30 * 24 * 3600


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
    """Queue a rate-limited job as part of the caller's pipeline (its other writes too).

    Why not `enqueue`: RQ's public path refuses a pipeline for rate-limited jobs and spends
    three round trips per job (queue set, job save, slot acquire). Its own
    `_enqueue_rate_limited_job` has a documented pipeline mode (RQ's registries use it to
    retry rate-limited jobs), unsafe only if the returned job is saved again on that
    pipeline, which the bridge never does. With IntakePipeline a webhook costs two round
    trips instead of five (see bench/intake.py). Pinned by `rq>=3.0,<4`.
    """
    job = queue.create_job(func, rate_limit=rate_limit, **create)
    job.origin = queue.name
    pipeline.sadd(queue.redis_queues_keys, queue.key)
    return queue._enqueue_rate_limited_job(job, pipeline=pipeline)


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


def pair_key(route: str, ticket_id: str) -> str:
    """The per-ticket concurrency key: jobs for one linked pair never run side by side."""
    return f"{PAIR_KEY_PREFIX}{route}:{ticket_id}"


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
    rate_limit = RateLimit(key=pair_key(route.name, first_id), concurrency=1)
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
    event: Event, config: Config, store: RedisStore, queue: Queue, delivery_key: str
) -> Dispatched:
    """Dedupe one event and make sure a sync is queued for every route it concerns."""
    return dispatch_events([(event, delivery_key)], config, store, queue)[0]


def dispatch_events(
    items: Sequence[tuple[Event, str]],
    config: Config,
    store: RedisStore,
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
    pipe = IntakePipeline.of(store.redis)
    results: list[Dispatched] = []
    queued: list[Job] = []
    taken: list[tuple[str, str, list[tuple[Route, str]]]] = []
    try:
        for event, delivery_key in items:
            system = event.ref.system
            targets = _targets(event, config, store)
            if not targets:
                store.touch_source(system)
                results.append(Dispatched(unlinked=True))
                continue
            intake = store.intake(
                system,
                delivery_key,
                config.dedupe_ttl,
                [(r.name, fid, job_id_for(r.name, system, f"{fid}|{delivery_key}"))
                 for r, fid in targets],
            )  # fmt: skip
            if intake.duplicate:
                results.append(Dispatched(duplicate=True))
                continue
            if intake.in_progress:
                results.append(Dispatched(in_progress=True))
                continue
            taken.append((system, delivery_key, targets))
            store.commit_delivery(pipe, system, delivery_key, config.dedupe_ttl)
            jobs: list[str] = []
            coalesced = 0
            for (route, first_id), (job_id, new) in zip(targets, intake.jobs, strict=True):
                if new:
                    queued.append(enqueue_sync(queue, config, route, event, job_id=job_id,
                                               first_id=first_id, pipeline=pipe))  # fmt: skip
                else:
                    coalesced += 1
                jobs.append(job_id)
            results.append(Dispatched(jobs=tuple(jobs), coalesced=coalesced))
        essential = len(pipe)
        if also is not None:
            also(pipe, results)
        outcome = pipe.execute(raise_on_error=False)
        failed = [r for r in outcome[:essential] if isinstance(r, Exception)]
        if failed and all(isinstance(r, NoScriptError) for r in failed):
            _SCRIPTS_SEEN.clear()  # Redis lost its script cache (restart): acquire directly
            for job in queued:
                registry = RateLimitRegistry.from_job(job)
                registry.acquire_and_enqueue(job.rate_limit_concurrency or 1)
        elif failed:
            raise failed[0]
        for extra in outcome[essential:]:  # metrics: never fail the intake over them
            if isinstance(extra, Exception):
                log.warning("intake: an extra write failed: %s", extra)
    except Exception as exc:
        # A Redis that timed out is likely hung: a release would hang as long again, and the
        # sender is waiting for its answer. Its reservations run out by themselves.
        if not isinstance(exc, RedisTimeoutError):
            _release(store, taken)
        raise
    return results


def _release(store: RedisStore, taken: list[tuple[str, str, list[tuple[Route, str]]]]) -> None:
    """Give back reservations whose jobs were not written, so a retry is not a duplicate.

    Best effort: with Redis unreachable this fails too, and the reservations expire on their
    own (PENDING_DELIVERY_TTL); the failure that got us here is the one to report.
    """
    try:
        store.release_reservations(
            [(system, key, [(route.name, first_id) for route, first_id in targets])
             for system, key, targets in taken]
        )  # fmt: skip
    except RedisError as exc:
        log.warning("intake: reservations left to expire: %s", exc)


def _targets(event: Event, config: Config, store: RedisStore) -> list[tuple[Route, str]]:
    system = event.ref.system
    targets: list[tuple[Route, str]] = [(r, event.ref.id) for r in config.routes_from(system)]
    for route in config.routes_to(system):
        first_id = store.first_for_second(route.name, system, event.ref.id)
        if first_id is not None:
            targets.append((route, first_id))
    return targets
