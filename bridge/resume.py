"""Ending a maintenance window: the held pairs are synced, the resumed system is polled.

A resume removes the pause first (bridge.pause explains why that order loses nothing), then
queues one sync per held pair and, for a system that is polled, one poll right away: its
cursor stayed where the last poll before the pause left it, so that poll reads every change
made during the window. Each pair leaves the held set only after its job is queued, so a
resume that fails half-way is finished by the next one (or by the cron's tick, which also
ends pauses whose `until` has passed). Nothing is applied twice: the syncs re-read both sides
and write only what is still pending, like every sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis import Redis
from rq import Queue

from bridge import keyspace
from bridge.config import Config
from bridge.job_names import POLL_SYSTEM
from bridge.lease import Lease
from bridge.models import Event, EventKind, SystemRef
from bridge.pause import Clock, Pause, PauseStore, Scope, ScopeKind, utc_now
from bridge.polling import interval_for
from bridge.protocol import Connector
from bridge.queue import enqueue_sync, job_id_for
from bridge.stores import SyncLog

DRAIN_LEASE = 120  # seconds: queueing the held pairs of one scope takes far less


@dataclass(frozen=True)
class Drained:
    """What one resume did."""

    scope: Scope
    ended: Pause | None  # the pause removed (None: it was not paused)
    jobs: tuple[str, ...] = ()  # one sync per held pair
    poll_job: str | None = None  # the resumed system's catch-up poll
    still_paused: bool = False  # paused again meanwhile: nothing drained
    busy: bool = False  # another resume is draining this scope right now

    def as_dict(self) -> dict[str, object]:
        return {
            "scope": str(self.scope),
            "was_paused": self.ended is not None,
            "jobs": list(self.jobs),
            "poll_job": self.poll_job,
            "still_paused": self.still_paused,
            "busy": self.busy,
        }

    def summary(self) -> str:
        """One line for an operator."""
        if self.still_paused:
            return f"{self.scope.label} is paused again: nothing resumed"
        if self.busy:
            return f"{self.scope.label}: another resume is queueing its held syncs right now"
        head = f"resumed {self.scope.label}" if self.ended else f"{self.scope.label} was not paused"
        if self.ended is None and not self.jobs and self.poll_job is None:
            return head + "; nothing to do"
        poll = f", a poll of {self.scope.name} queued" if self.poll_job else ""
        return f"{head}: {len(self.jobs)} held sync(s) queued{poll}"


def resume(
    redis: Redis,
    config: Config,
    connectors: Mapping[str, Connector],
    queue: Queue,
    scope: Scope,
    clock: Clock = utc_now,
) -> Drained:
    """End the pause of `scope` (if any) and drain what it held."""
    pauses = PauseStore(redis, clock)
    ended = pauses.unpause(scope)
    return drain(pauses, config, connectors, queue, scope, ended)


def drain(
    pauses: PauseStore,
    config: Config,
    connectors: Mapping[str, Connector],
    queue: Queue,
    scope: Scope,
    ended: Pause | None = None,
) -> Drained:
    """Queue a sync for every pair `scope` holds (and a poll of a resumed polled system)."""
    if pauses.active_for([scope]) is not None:
        return Drained(scope, ended, still_paused=True)
    lease = Lease(pauses.redis, keyspace.drain_lock(str(scope)), seconds=DRAIN_LEASE)
    if not lease.acquire():
        return Drained(scope, ended, busy=True)
    try:
        now = pauses.clock()
        sync_log = SyncLog(pauses.redis)
        routes = {r.name: r for r in config.routes}
        jobs: list[str] = []
        for pair in pauses.held(scope):
            route = routes.get(pair.route)
            if route is not None:  # else a route removed from the config: nothing to sync
                marker = f"resume:{pair.first_id}:{now.isoformat()}"
                ref = SystemRef(route.first, pair.first_id)
                job = enqueue_sync(
                    queue,
                    config,
                    route,
                    Event(ref, EventKind.OTHER, marker, occurred_at=now),
                    job_id=job_id_for(route.name, str(scope), marker),
                    first_id=pair.first_id,
                )
                sync_log.add(ref, "resumed", {"job": job.id, "scope": scope.label})
                jobs.append(job.id)
            pauses.release(scope, pair)
        # A scope that was not paused (and held nothing) has nothing to catch up on.
        caught_up = ended is not None or jobs
        poll_job = (
            _poll_now(config, connectors, queue, scope, now.timestamp()) if caught_up else None
        )
    finally:
        lease.release()
    return Drained(scope, ended, tuple(jobs), poll_job)


def _poll_now(
    config: Config, connectors: Mapping[str, Connector], queue: Queue, scope: Scope, now: float
) -> str | None:
    """Queue a poll of a resumed system that is polled (its own cron slot may be minutes off)."""
    if scope.kind is not ScopeKind.SYSTEM or scope.name not in config.systems:
        return None
    connector = connectors.get(scope.name)
    every = interval_for(config.systems[scope.name], connector) if connector else 0
    if every <= 0:
        return None
    job = queue.enqueue(
        POLL_SYSTEM,
        args=(scope.name,),
        job_id=f"tb-poll-{scope.name}-resume-{int(now * 1000)}",
        job_timeout=max(60, every),
        failure_ttl=24 * 3600,  # as the cron's polls: superseded by the next one
        description=f"poll {scope.name} after its pause",
    )
    return job.id


def resume_due(
    redis: Redis,
    config: Config,
    connectors: Mapping[str, Connector],
    queue: Queue,
    clock: Clock = utc_now,
) -> list[Drained]:
    """The cron's tick: end pauses whose `until` has passed, and finish any resume that was
    interrupted (held pairs of a scope that is no longer paused)."""
    pauses = PauseStore(redis, clock)
    now = clock()
    done = [
        resume(redis, config, connectors, queue, p.scope, clock)
        for p in pauses.all()
        if not p.active(now)
    ]
    resumed = {d.scope for d in done}
    for scope in pauses.scopes_with_held():
        if scope not in resumed and pauses.active_for([scope]) is None:
            done.append(drain(pauses, config, connectors, queue, scope))
    return done
