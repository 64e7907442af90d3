"""RQ job functions: thin. Load config and connectors, call the engine, classify errors.

Retryable errors go back to RQ's Retry (capped backoff over a horizon, bridge.retry);
RateLimited reschedules the same work after Retry-After without holding a worker.

Two words for a job in RQ's failed registry, each with one meaning:
- parked: the bridge stopped on purpose, with a reason an operator can act on (`park_reason`
  in the job's meta): a PermanentError or ConfigError, or a passing fault that outlived the
  retry horizon ("gave up after N attempts over T: ..."). A pair that gave up on an
  unreachable system is queued again by the reconciler once that system answers.
- failed: anything else, an unexpected exception or a job RQ killed (timeout, lost worker);
  RQ keeps the traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job

from bridge import agent_notes
from bridge.config import Config, Route, load_config
from bridge.context import RouteContext
from bridge.durations import fmt_age
from bridge.engine import handle_first_level
from bridge.errors import ConfigError, PermanentError, RateLimited, RetryableError
from bridge.failures import inbox_hooks
from bridge.models import Event, EventKind, SystemRef
from bridge.pause import Held, PauseStore, route_scopes
from bridge.polling import poll_once
from bridge.protocol import Connector
from bridge.queue import enqueue_sync, event_from_dict, get_queue
from bridge.records import PairKey, PairStores
from bridge.registry import build_connector
from bridge.resume import resume_due
from bridge.retry import Unreachable
from bridge.stores import Stores, SyncLog
from bridge.telemetry import hooks as telemetry  # metrics, logs, waiting list

log = logging.getLogger("bridge")


@dataclass
class Runtime:
    """Config and connectors, built once per worker process (connectors hold HTTP sessions)."""

    config: Config
    connectors: dict[str, Connector]

    def context(self, route: Route, stores: PairStores) -> RouteContext:
        return RouteContext(
            name=route.name,
            mapping=route.mapping,
            language=route.language,
            first=self.connectors[route.first],
            second=self.connectors[route.second],
            stores=stores,
            claim_timeout=max(900.0, self.config.job_timeout * 2.0),
            notify_agent_after=self.config.notify_agent_after,
        )


_cache: dict[tuple[str, int], Runtime] = {}
_lock = threading.Lock()


def runtime(redis: Redis | None = None) -> Runtime:
    """The runtime for BRIDGE_CONFIG, rebuilt when the file changes.

    With `redis`, connectors share their systems' request budgets (options.requests_per_minute)
    with every other worker.
    """
    path = os.environ.get("BRIDGE_CONFIG")
    if not path:
        raise ConfigError("BRIDGE_CONFIG is not set in the worker's environment")
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns)
    with _lock:
        if key not in _cache:
            config = load_config(path)
            connectors = {n: build_connector(s, redis) for n, s in config.systems.items()}
            _cache.clear()
            _cache[key] = Runtime(config, connectors)
        return _cache[key]


def _park(job: Job, sync_log: SyncLog, ref: SystemRef, reason: str) -> None:
    job.retries_left = 0  # a permanent error must not burn the retry schedule
    job.meta["park_reason"] = reason
    job.save_meta()
    telemetry.job_parked(job, reason)
    sync_log.add(ref, "parked", {"job": job.id, "reason": reason})


def _started(job: Job) -> datetime:
    """When this attempt started, by RQ's clock (RQ stores naive UTC)."""
    at = job.started_at or datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _retry_or_give_up(
    job: Job, stores: Stores, route: Route, ref: SystemRef, exc: RetryableError
) -> tuple[float, str | None]:
    """Count the failed attempt; past the last one, park with what was tried and for how long.

    RQ decrements `retries_left` as it schedules each retry, so the attempt that fails with
    none left is the last of the schedule. Returns how long the job has been failing (by RQ's
    own times) and the park reason when it gave up.
    """
    tries = int(job.meta.get("failed_attempts", 0)) + 1
    job.meta["failed_attempts"] = tries
    job.meta.setdefault("failing_since", _started(job).isoformat())
    spent = (_started(job) - datetime.fromisoformat(job.meta["failing_since"])).total_seconds()
    if job.retries_left:
        job.save_meta()
        telemetry.job_retried(job, exc)
        stores.log.add(
            ref, "retry", {"job": job.id, "reason": str(exc), "retries_left": job.retries_left}
        )
        return spent, None
    reason = f"gave up after {tries} attempts over {fmt_age(spent)}: {exc}"
    if isinstance(exc, Unreachable):
        # The reconciler queues the pair again after the next good poll of that system.
        stores.gave_up.add_gave_up(exc.system, PairKey(route.name, ref.id))
        job.meta["waits_for"] = exc.system
    _park(job, stores.log, ref, reason)
    return spent, reason


def _tell_agent(
    ctx: RouteContext, ticket_id: str, exc: Exception, reason: str, parked: bool
) -> None:
    """The agent hears of a stuck ticket once per cause, unless the helpdesk itself is what
    does not answer (the note could not arrive, and would cost a request on every retry)."""
    if isinstance(exc, Unreachable) and exc.system == ctx.first.settings.name:
        return
    agent_notes.job_stuck(ctx, ticket_id, reason, parked)


def poll_system(system: str) -> Any:
    """Cron: read what changed on a system since the last poll and queue the syncs."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("poll_system must run inside an RQ worker")
    telemetry.job_started(job)  # log context
    rt = runtime(job.connection)
    connector = rt.connectors.get(system)
    if connector is None:
        raise ConfigError(f"poll for unknown system {system!r}")
    queue = get_queue(job.connection, rt.config)
    result = poll_once(system, connector, rt.config, job.connection, queue).as_dict()
    telemetry.poll_done(job.connection, system, result)
    return result


def resume_pauses() -> Any:
    """Cron: end pauses whose `until` has passed and sync what they held (bridge.resume)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("resume_pauses must run inside an RQ worker")
    rt = runtime(job.connection)
    queue = get_queue(job.connection, rt.config)
    done = resume_due(job.connection, rt.config, rt.connectors, queue)
    for drained in done:
        log.info("pause: %s", drained.summary())
    return [d.as_dict() for d in done]


def _held(job: Job, sync_log: SyncLog, ref: SystemRef, held: Held) -> dict[str, Any]:
    """The pair waits for the end of a pause: no remote call, no retry, not a failure."""
    scope = held.pause.scope
    if held.new:  # one timeline entry per pause, however many events arrive meanwhile
        sync_log.add(
            ref, "held", {"job": job.id, "scope": scope.label, "reason": held.pause.reason}
        )
    log.info("held: %s is paused (%s)", scope.label, held.pause.reason or "no reason given")
    return {"action": "held", "paused": str(scope)}


def on_sync_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    traceback: Any,
) -> None:
    """RQ's failure callback of a sync job: the attempt goes into the failure inbox."""
    try:
        config: Config | None = runtime(connection).config
    except Exception:  # an unreadable config: still record, with what the job knows
        config = None
    inbox_hooks.job_failed(job, exc_type, exc, config, datetime.now(UTC))


def on_sync_success(job: Job, connection: Redis, result: Any) -> None:
    """RQ's success callback of a sync job: the pair leaves the failure inbox."""
    inbox_hooks.job_succeeded(job, datetime.now(UTC))


def sync_first_level(route_name: str, ticket_id: str, event: dict[str, Any] | None = None) -> Any:
    """A first-level ticket changed: bring its route up to date (unless it is paused)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("sync_first_level must run inside an RQ worker")
    rt = runtime(job.connection)
    stores = Stores.of(job.connection)
    route = rt.config.route(route_name)
    ref = SystemRef(route.first, ticket_id)
    telemetry.job_started(job)  # log context
    scopes = route_scopes(route.name, route.first, route.second)
    held = PauseStore(job.connection).hold(scopes, PairKey(route.name, ticket_id))
    if held is not None:
        return _held(job, stores.log, ref, held)
    ctx = rt.context(route, stores)
    try:
        decision = handle_first_level(ctx, ticket_id, event_from_dict(event), run_id=job.id)
    except RateLimited as exc:
        later = enqueue_sync(
            get_queue(job.connection, rt.config),
            rt.config,
            route,
            event_from_dict(event) or Event(ref, EventKind.OTHER),
            delay_seconds=exc.retry_after,
            first_id=ticket_id,
        )
        stores.log.add(
            ref,
            "rate_limited",
            {"job": job.id, "wait_s": exc.retry_after, "next_job": later.id, "reason": str(exc)},
        )
        telemetry.job_rescheduled(job, exc.retry_after)
        return {"action": "rescheduled", "wait_s": exc.retry_after, "next_job": later.id}
    except (PermanentError, ConfigError) as exc:
        _park(job, stores.log, ref, str(exc))
        _tell_agent(ctx, ticket_id, exc, str(exc), parked=True)
        raise
    except RetryableError as exc:
        spent, gave_up = _retry_or_give_up(job, stores, route, ref, exc)
        if gave_up is not None:
            _tell_agent(ctx, ticket_id, exc, gave_up, parked=True)
        elif spent >= ctx.notify_agent_after:
            _tell_agent(ctx, ticket_id, exc, str(exc), parked=False)
        raise
    agent_notes.job_recovered(ctx, ticket_id)
    telemetry.job_done(job, stores.waiting, decision)
    return decision.as_dict()
