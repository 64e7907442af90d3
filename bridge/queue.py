"""Enqueue helpers: deterministic job ids, retry as data, one job at a time per ticket."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.rate_limit import RateLimit
from rq.serializers import JSONSerializer

from bridge.config import Config, Route
from bridge.models import Event, EventKind, SystemRef
from bridge.store import RedisStore

SYNC_FIRST_LEVEL = "bridge.jobs.sync_first_level"


class JsonQueue(Queue):
    """The bridge's queue: jobs take ids and plain dicts, so they travel as JSON, not pickle.

    A class (not just an argument) because RQ's WorkerPool builds queues from a class.
    """

    def __init__(self, name: str = "default", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(name, *args, **kwargs)


def get_queue(redis: Redis, config: Config) -> Queue:
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
    return f"tb:pair:{route}:{ticket_id}"


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
) -> Job:
    """Queue one sync of a first-level ticket (the event's, unless `first_id` is given)."""
    first_id = first_id or event.ref.id
    meta = {
        "route": route.name,
        "system": route.first,
        "ticket": first_id,
        "event_from": str(event.ref),
        "received_at": datetime.now(UTC).isoformat(),
    }
    options: dict[str, Any] = {
        "args": (route.name, first_id, event_to_dict(event)),
        "job_id": job_id,
        "retry": Retry(max=len(config.retry_intervals), interval=list(config.retry_intervals)),
        "rate_limit": RateLimit(key=pair_key(route.name, first_id), concurrency=1),
        "job_timeout": config.job_timeout,
        "result_ttl": 24 * 3600,
        "failure_ttl": 30 * 24 * 3600,
        "meta": meta,
        "description": f"sync {route.first}#{first_id} on route {route.name} ({event.ref})",
    }
    if delay_seconds > 0:
        return queue.enqueue_in(timedelta(seconds=delay_seconds), SYNC_FIRST_LEVEL, **options)
    return queue.enqueue(SYNC_FIRST_LEVEL, **options)


@dataclass(frozen=True)
class Dispatched:
    jobs: tuple[str, ...] = ()
    duplicate: bool = False
    unlinked: bool = False  # a second-level ticket the bridge did not create: nothing to do
    coalesced: int = 0  # targets whose waiting job will pick this change up


def dispatch_event(
    event: Event, config: Config, store: RedisStore, queue: Queue, delivery_key: str
) -> Dispatched:
    """Dedupe one event and make sure a sync is queued for every route it concerns.

    First-level events sync (or escalate) their own ticket; second-level events sync the
    first-level ticket they are linked to. When a job for the pair is still waiting to run, the
    event is coalesced onto it: the job re-reads both sides, so it will see this change too.
    If queueing fails, the dedupe key and reservations are released so the sender's (or the
    next poll's) retry is not mistaken for a duplicate.
    """
    system = event.ref.system
    targets: list[tuple[Route, str]] = [(r, event.ref.id) for r in config.routes_from(system)]
    for route in config.routes_to(system):
        first_id = store.first_for_second(route.name, system, event.ref.id)
        if first_id is not None:
            targets.append((route, first_id))
    if not targets:
        store.touch_source(system)
        return Dispatched(unlinked=True)
    intake = store.intake(
        system,
        delivery_key,
        config.dedupe_ttl,
        [(r.name, fid, job_id_for(r.name, system, f"{fid}|{delivery_key}")) for r, fid in targets],
    )
    if intake.duplicate:
        return Dispatched(duplicate=True)
    jobs: list[str] = []
    coalesced = 0
    try:
        for (route, first_id), (job_id, new) in zip(targets, intake.jobs, strict=True):
            if new:
                enqueue_sync(queue, config, route, event, job_id=job_id, first_id=first_id)
            else:
                coalesced += 1
            jobs.append(job_id)
    except Exception:
        store.forget_delivery(system, delivery_key)
        for route, first_id in targets:
            store.forget_waiting(route.name, first_id)
        raise
    return Dispatched(jobs=tuple(jobs), coalesced=coalesced)
