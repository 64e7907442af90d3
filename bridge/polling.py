"""Polling and reconciling: find changes no webhook told us about.

MantisBT has no webhooks, so it is polled; systems with webhooks are swept now and then, so a
deleted, disabled or failing webhook delays a sync instead of losing it. Each poll reads the
tickets updated since the stored high-water mark minus an overlap window, and hands each change
to the same dispatch as a webhook; dedupe on (ticket id, updated_at) drops what was seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast

from redis import Redis
from rq import Queue

from bridge import keyspace
from bridge.config import Config
from bridge.failures import inbox_hooks
from bridge.lease import LEASE_SECONDS, Lease
from bridge.models import Event, EventKind, SystemRef
from bridge.pause import PauseStore
from bridge.protocol import Capability, Connector, Polls, SystemSettings
from bridge.queue import dispatch_event, enqueue_sync, job_id_for
from bridge.stores import GaveUpStore, Stores, SyncLog
from bridge.stores.values import text, text_map
from bridge.telemetry.hooks import pairs_requeued

DEFAULT_POLL_INTERVAL = 60  # systems without webhooks
DEFAULT_SWEEP_INTERVAL = 600  # reconciling systems that have webhooks (Zendesk export: 10/min)
OPEN_GRACE = timedelta(seconds=2)  # after a second's first sight, a poll sees all of it
OPEN_KEPT = timedelta(hours=1)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def interval_for(settings: SystemSettings, connector: Connector) -> int:
    """Seconds between polls; 0 means never (no polling support, or switched off)."""
    if Capability.POLLING not in connector.capabilities:
        return 0
    configured = settings.options.get("poll_interval")
    if configured is not None:
        return int(configured)
    if Capability.WEBHOOKS in connector.capabilities:
        return DEFAULT_SWEEP_INTERVAL
    return DEFAULT_POLL_INTERVAL


def overlap_for(settings: SystemSettings) -> timedelta:
    return timedelta(seconds=int(settings.options.get("poll_overlap", 120)))


@dataclass(frozen=True)
class PollResult:
    system: str
    changes: int
    queued: int
    duplicates: int
    cursor: str
    skipped: bool = False
    requeued: int = 0  # pairs that had given up on this system, queued again
    paused: bool = False  # skipped: the system is paused (bridge.pause)

    def as_dict(self) -> dict[str, object]:
        return {
            "system": self.system,
            "changes": self.changes,
            "queued": self.queued,
            "duplicates": self.duplicates,
            "cursor": self.cursor,
            "skipped": self.skipped,
            "requeued": self.requeued,
            "paused": self.paused,
        }


def poll_once(
    system: str,
    connector: Connector,
    config: Config,
    redis: Redis,
    queue: Queue,
    clock: Clock = utc_now,
) -> PollResult:
    """One poll of one system; overlapping polls of the same system are skipped, and so are
    polls of a paused one (its cursor stays, so the first poll after the pause reads it all).

    `clock` gives the time a first poll starts from (the cursor afterwards comes from the
    system's own timestamps).
    """
    if PauseStore(redis, clock).system_paused(system) is not None:
        return PollResult(system, 0, 0, 0, "", skipped=True, paused=True)
    settings = connector.settings
    every = interval_for(settings, connector) or DEFAULT_POLL_INTERVAL
    # Every remote call has its own deadline, so a poll rarely outlasts the lease; if one does,
    # the next poll overlaps it, which dedupe makes harmless.
    lock = Lease(redis, keyspace.poll_lock(system), seconds=min(LEASE_SECONDS, every * 2))
    if not lock.acquire():
        return PollResult(system, 0, 0, 0, "", skipped=True)
    try:
        result = _poll(system, connector, config, redis, queue, clock)
    except Exception as exc:
        inbox_hooks.poll_failed(redis, system, exc, clock())  # one inbox entry per cause
        raise
    finally:
        lock.release()
    inbox_hooks.poll_succeeded(redis, system, queue.name)
    return result


def _poll(
    system: str, connector: Connector, config: Config, redis: Redis, queue: Queue, clock: Clock
) -> PollResult:
    stores = Stores.of(redis)
    status_key = keyspace.poll_status(system)
    raw = redis.hget(status_key, "cursor")
    now = clock()
    # First poll: start now, do not replay the system's whole history.
    cursor = datetime.fromisoformat(text(raw)) if raw else now
    since = cursor - overlap_for(connector.settings)
    started = time.monotonic()
    events = cast(Polls, connector).changes_since(since)
    queued = duplicates = 0
    newest = cursor
    top = max((e.occurred_at for e in events if e.occurred_at), default=None)
    looks = OpenSeconds.load(redis.hget(status_key, "open_seconds"), now)
    for event in events:
        # A poll sees only the last updater, not who made each change since the last poll:
        # never let that drop the event as the bridge's own (the sync is state-based anyway).
        event = replace(event, actor_id=None)
        key = event.delivery_id or f"poll:{event.ref.id}:{event.occurred_at}"
        key = looks.key_for(key, _second_is_over(event, top))
        result = dispatch_event(event, config, stores.intake, stores.links, queue, key)
        looks.dispatched(key, result.duplicate or result.unlinked)
        queued += len(result.jobs)
        duplicates += result.duplicate
        if event.occurred_at and event.occurred_at > newest:
            newest = event.occurred_at
    redis.hset(
        status_key,
        mapping={
            "cursor": newest.isoformat(),
            "last_ok": now.isoformat(),
            "last_ok_ts": f"{now.timestamp():.3f}",
            "changes": len(events),
            "queued": queued,
            "took_ms": int((time.monotonic() - started) * 1000),
            "open_seconds": looks.dump(),
        },
    )
    stores.intake.touch_source(system)
    requeued = requeue_gave_up(system, config, stores.gave_up, stores.log, queue, now)
    return PollResult(
        system, len(events), queued, duplicates, newest.isoformat(), requeued=len(requeued)
    )


def _second_is_over(event: Event, top: datetime | None) -> bool:
    """Whether the system's clock had left the event's second when it answered this poll: the
    answer holds a change at least a second newer. Timestamps have whole seconds (MantisBT),
    so another change can still land in the newest second seen, with the same (id, time)."""
    return event.occurred_at is None or (
        top is not None and event.occurred_at <= top - timedelta(seconds=1)
    )


@dataclass
class OpenSeconds:
    """Changes first seen in a second that was not over yet, and when this bridge first saw each.

    Such a change is looked at again, under a key of each poll's own, by every poll until one
    shows its second over: its answer holds a newer second, or it starts OPEN_GRACE after the
    first sight (the second ended at most one second after it, by any clock). That poll looks a
    last time under the change's `:final` key; later polls dedupe it. So a quiet system's
    newest change costs one more sync, not one per poll, and polls in quick succession (a
    resume, an operator's `bridge poll`) miss nothing that landed in the same second.
    """

    now: datetime
    first_seen: dict[str, str]
    _keys: dict[str, str] = field(default_factory=dict)  # dispatch key -> change's key

    @classmethod
    def load(cls, raw: bytes | str | None, now: datetime) -> OpenSeconds:
        try:
            stored = json.loads(text(raw)) if raw else {}
        except ValueError:
            stored = {}
        return cls(
            now, {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}
        )

    def key_for(self, key: str, second_over: bool) -> str:
        """The dedupe key to dispatch the change under (its own, a look's, or its last)."""
        seen = self.first_seen.get(key)
        if seen is None:
            if not second_over:
                self._keys[key] = key
            return key
        if second_over or self.now >= datetime.fromisoformat(seen) + OPEN_GRACE:
            self.first_seen.pop(key)
            return f"{key}:final"
        return f"{key}:{self.now.timestamp():.3f}"

    def dispatched(self, key: str, settled: bool) -> None:
        """A change dispatched under its own key, in a second not yet over: open, unless the
        dispatch settled it (a duplicate, or a ticket no route links)."""
        if self._keys.pop(key, None) is not None and not settled:
            self.first_seen[key] = self.now.isoformat()

    def dump(self) -> str:
        """What stays open, without looks older than OPEN_KEPT (a change no longer listed)."""
        kept = {
            k: v for k, v in self.first_seen.items()
            if self.now - datetime.fromisoformat(v) < OPEN_KEPT
        }  # fmt: skip
        return json.dumps(kept, sort_keys=True)


def requeue_gave_up(
    system: str,
    config: Config,
    gave_up: GaveUpStore,
    sync_log: SyncLog,
    queue: Queue,
    now: datetime,
) -> list[str]:
    """The system answered a poll: sync again every pair that gave up waiting for it.

    Each pair leaves the set only after its job is queued, so a failure here loses nothing
    (the next good poll tries again). Returns the new job ids.
    """
    jobs: list[str] = []
    for pair in gave_up.gave_up_on(system):
        route = next((r for r in config.routes if r.name == pair.route), None)
        if route is not None:
            marker = f"requeue:{pair.first_id}:{now.isoformat()}"
            ref = SystemRef(route.first, pair.first_id)
            event = Event(ref, EventKind.OTHER, marker, occurred_at=now)
            job_id = job_id_for(route.name, system, marker)
            job = enqueue_sync(queue, config, route, event, job_id=job_id, first_id=pair.first_id)
            sync_log.add(
                ref,
                "requeued",
                {"job": job.id, "reason": f"{system} answers again"},
            )
            jobs.append(job.id)
        gave_up.forget_gave_up(system, pair)  # a removed route: nothing to do
    if jobs:
        pairs_requeued(system, len(jobs))
    return jobs


def poll_status(redis: Redis, system: str) -> dict[str, str]:
    """Last poll of a system (for operators): cursor, last_ok, changes, queued, took_ms."""
    return text_map(redis.hgetall(keyspace.poll_status(system)))
