"""The one-line calls the web endpoint and the jobs make for metrics, logs and the waiting list.

Kept here so bridge.web.webhooks and bridge.jobs stay about their own work: each hook records
counters in Redis (see bridge.ops.metrics), writes one structured log line, and never raises on
a metrics problem, so observability cannot break a sync.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq.job import Job

from bridge.models import Event
from bridge.ops import metrics
from bridge.ops.logs import bind

log = logging.getLogger("bridge")

# Decisions after which a ticket no longer waits for data; everything else leaves it as it was.
WAITING = ("missing_data_requested", "missing_data_already_requested")
NEUTRAL = ("ignored_own_write",)


def webhook_rejected(redis: Redis, system: str, exc: Exception) -> None:
    reason = type(exc).__name__
    metrics.incr(redis, "events_rejected", (system, reason))
    log.warning("webhook refused: %s: %s", reason, exc, extra={"system": system})


def webhook_counted(redis: Redis | Pipeline, system: str, events: int, duplicates: int) -> None:
    """Count a webhook's events; given the intake's pipeline, in the same round trip."""
    metrics.incr(redis, "events_received", (system, "webhook"), events)
    if duplicates:
        metrics.incr(redis, "events_deduped", (system, "webhook"), duplicates)


def webhook_received(
    system: str, events: Sequence[Event], jobs: Sequence[str], duplicates: int
) -> None:
    tickets = ",".join(sorted({e.ref.id for e in events}))
    # Debug, not info: this line would be written for every webhook (thousands a minute in a
    # burst); the jobs log every decision at info, and /metrics counts the webhooks.
    log.debug(
        "webhook: %d event(s), %d job(s) queued, %d duplicate(s)",
        len(events),
        len(jobs),
        duplicates,
        extra={"system": system, "ticket": tickets, "job": ",".join(jobs)},
    )


def poll_done(redis: Redis, system: str, result: dict[str, Any]) -> None:
    bind(replace=True, system=system)
    if result.get("skipped"):
        return
    metrics.incr(redis, "events_received", (system, "poll"), int(result.get("changes") or 0))
    metrics.incr(redis, "events_deduped", (system, "poll"), int(result.get("duplicates") or 0))
    log.info(
        "poll: %s change(s), %s queued", result.get("changes"), result.get("queued"),
        extra={"system": system},
    )  # fmt: skip


def job_started(job: Job) -> None:
    meta = job.meta or {}
    bind(
        replace=True,
        system=meta.get("system"),
        ticket=meta.get("ticket"),
        link=meta.get("route"),
        job=job.id,
    )


def _route(job: Job) -> str:
    return str((job.meta or {}).get("route") or "?")


def job_done(job: Job, store: Any, decision: Any) -> None:
    """Count the success, time it from the event's arrival, keep the waiting index right."""
    route, ticket = _route(job), str((job.meta or {}).get("ticket") or "")
    pipe = job.connection.pipeline(transaction=False)  # one round trip for all of it
    metrics.incr(pipe, "jobs", (route, "succeeded"))
    latency = metrics.since((job.meta or {}).get("received_at"))
    if latency is not None:
        metrics.observe_latency(pipe, route, latency)
    if decision.action in WAITING and ticket:
        store.mark_waiting(route, ticket, decision.details.get("missing", decision.details), pipe)
    elif decision.action not in NEUTRAL and ticket:
        store.clear_waiting(route, ticket, pipe)
    try:
        pipe.execute()
    except RedisError as exc:
        log.warning("metrics or waiting index not updated: %s", exc)
    log.info("decision: %s (%s)", decision.action, decision.reason)


def job_retried(job: Job, exc: Exception) -> None:
    metrics.incr(job.connection, "jobs", (_route(job), "retried"))
    log.warning("will retry: %s", exc)


def job_parked(job: Job, reason: str) -> None:
    """A PermanentError, a ConfigError, or a passing fault past the retry horizon."""
    metrics.incr(job.connection, "jobs", (_route(job), "parked"))
    log.error("parked: %s", reason)


def pairs_requeued(system: str, count: int) -> None:
    log.info("%d pair(s) queued again: the system answers again", count, extra={"system": system})


def job_rescheduled(job: Job, wait_s: float) -> None:
    route = _route(job)
    metrics.incr(job.connection, "jobs", (route, "rescheduled"))
    metrics.incr(job.connection, "rate_limit_waits", (route,))
    metrics.incr(job.connection, "rate_limit_wait_seconds", (route,), wait_s)
    log.warning("rate limited: rescheduled in %s s", wait_s)
