"""Enqueue helpers: deterministic job ids, retry as data, one job at a time per ticket."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.rate_limit import RateLimit
from rq.serializers import JSONSerializer

from bridge.config import Config, Route
from bridge.models import Event, EventKind, SystemRef

SYNC_FIRST_LEVEL = "bridge.jobs.sync_first_level"


def get_queue(redis: Redis, config: Config) -> Queue:
    return Queue(config.queue_name, connection=redis, serializer=JSONSerializer)


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
) -> Job:
    """Queue one sync of the event's ticket on a route."""
    meta = {
        "route": route.name,
        "system": event.ref.system,
        "ticket": event.ref.id,
        "received_at": datetime.now(UTC).isoformat(),
    }
    options: dict[str, Any] = {
        "args": (route.name, event.ref.id, event_to_dict(event)),
        "job_id": job_id,
        "retry": Retry(max=len(config.retry_intervals), interval=list(config.retry_intervals)),
        "rate_limit": RateLimit(key=pair_key(route.name, event.ref.id), concurrency=1),
        "job_timeout": config.job_timeout,
        "result_ttl": 24 * 3600,
        "failure_ttl": 30 * 24 * 3600,
        "meta": meta,
        "description": f"sync {event.ref} on route {route.name}",
    }
    if delay_seconds > 0:
        return queue.enqueue_in(timedelta(seconds=delay_seconds), SYNC_FIRST_LEVEL, **options)
    return queue.enqueue(SYNC_FIRST_LEVEL, **options)
