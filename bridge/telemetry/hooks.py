"""The one-line calls the web endpoint, the jobs and the workers make for metrics and logs.

Kept here so bridge.web.webhooks and bridge.jobs stay about their own work: each hook records
metrics in Redis (see bridge.telemetry.metrics), writes one structured log line, and never raises on
a metrics problem, so observability cannot break a sync.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq.exceptions import AbandonedJobError, DeserializationError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from bridge.errors import BridgeError, RetryableError
from bridge.job_names import POLL_SYSTEM
from bridge.models import Event
from bridge.records import PairKey
from bridge.telemetry import metrics
from bridge.telemetry.logs import bind
from bridge.telemetry.metrics import Outcome, PollOutcome

log = logging.getLogger("bridge")

# Decisions after which a ticket no longer waits for data; everything else leaves it as it was.
WAITING = ("missing_data_requested", "missing_data_already_requested")
NEUTRAL = ("ignored_own_write",)
# Decisions (bridge.engine, bridge.sync) that wrote nothing: the `ignored` outcome. Every other
# decision of a job that finished wrote something (escalated, copied, asked for data): `synced`.
NOTHING_WRITTEN = frozenset(
    {"ignored_own_write", "not_technical", "in_sync", "missing_data_already_requested",
     "already_escalated"}
)  # fmt: skip


def webhook_rejected(redis: Redis, system: str, exc: Exception) -> None:
    reason = type(exc).__name__
    metrics.incr(redis, "events_rejected", (system, reason))
    log.warning("webhook refused: %s: %s", reason, exc, extra={"system": system})


def webhook_counted(
    redis: Redis | Pipeline,
    system: str,
    events: int,
    duplicates: int,
    clock: Callable[[], float] = time.time,
) -> None:
    """Count a webhook's events and note its time; given the intake's pipeline, in the same
    round trip."""
    metrics.incr(redis, "events_received", (system, "webhook"), events)
    if duplicates:
        metrics.incr(redis, "events_deduped", (system, "webhook"), duplicates)
    metrics.stamp(redis, "last_webhook", (system,), clock())


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
    if result.get("skipped"):
        metrics.incr(redis, "polls", (system, PollOutcome.SKIPPED.value))
        return
    metrics.incr(redis, "polls", (system, PollOutcome.OK.value))
    metrics.incr(redis, "events_received", (system, "poll"), int(result.get("changes") or 0))
    metrics.incr(redis, "events_deduped", (system, "poll"), int(result.get("duplicates") or 0))
    log.info(
        "poll: %s change(s), %s queued", result.get("changes"), result.get("queued"),
        extra={"system": system},
    )  # fmt: skip


def _context_of(job: Job) -> dict[str, str]:
    """The log fields of a job: its system, ticket, route (`link`) and id."""
    meta = job.meta or {}
    fields = {
        "system": meta.get("system"),
        "ticket": meta.get("ticket"),
        "link": meta.get("route"),
        "job": job.id,
    }
    if _is_poll(job) and job.args:
        fields["system"] = job.args[0]
    return {k: str(v) for k, v in fields.items() if v}


def _is_poll(job: Job) -> bool:
    try:
        return job.func_name == POLL_SYSTEM
    except DeserializationError:
        return False


def job_started(job: Job) -> None:
    """This job's log context, replacing the previous job's (a worker runs many in turn)."""
    bind(replace=True, **_context_of(job))


def _route(job: Job) -> str:
    return str((job.meta or {}).get("route") or "?")


def job_done(job: Job, store: Any, decision: Any) -> None:
    """Count the success, time it from the event's arrival, keep the waiting index right."""
    route, ticket = _route(job), str((job.meta or {}).get("ticket") or "")
    pipe = job.connection.pipeline(transaction=False)  # one round trip for all of it
    ignored = decision.action in NOTHING_WRITTEN
    metrics.job_outcome(pipe, route, Outcome.IGNORED if ignored else Outcome.SYNCED)
    latency = metrics.since((job.meta or {}).get("received_at"))
    if latency is not None:
        metrics.observe(pipe, "latency", (route,), latency)
    if decision.action in WAITING and ticket:
        missing = decision.details.get("missing", decision.details)
        store.mark_waiting(PairKey(route, ticket), missing, pipe)
    elif decision.action not in NEUTRAL and ticket:
        store.clear_waiting(PairKey(route, ticket), pipe)
    try:
        pipe.execute()
    except RedisError as exc:
        log.warning("metrics or waiting index not updated: %s", exc)
    log.info("decision: %s (%s)", decision.action, decision.reason)


def job_retried(job: Job, exc: Exception) -> None:
    """A passing fault with retries left: planned, so a warning without a traceback."""
    metrics.job_outcome(job.connection, _route(job), Outcome.RETRIED)
    log.warning("will retry: %s", exc)


def job_parked(job: Job, reason: str) -> None:
    """A PermanentError, a ConfigError, or a passing fault past the retry horizon: the reason
    says what to do, a traceback would not add to it."""
    metrics.job_outcome(job.connection, _route(job), Outcome.PARKED)
    log.error("parked: %s", reason)


def job_failed(
    job: Job,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool:
    """RQ exception handler of the bridge's workers: every job that raised, and every job whose
    worker died mid-job (the maintenance's abandoned-job clean-up calls it without a traceback).

    An error the bridge raises on purpose was counted and logged by the sync job already
    (retried, parked); for a poll it is counted here and logged without a traceback (the next
    poll tries again). Anything else is `failed`, logged once with its traceback (the log
    formatter caps its size). Returns True: RQ's handling goes on as usual.
    """
    fields = _context_of(job)
    planned = isinstance(exc, BridgeError)
    if _is_poll(job):
        metrics.incr(job.connection, "polls", (fields.get("system", "?"), PollOutcome.FAILED.value))
        if planned:
            level = logging.WARNING if isinstance(exc, RetryableError) else logging.ERROR
            log.log(level, "poll failed: %s", exc, extra=fields)
            return True
    elif planned:
        return True
    else:
        metrics.job_outcome(job.connection, _route(job), Outcome.FAILED)
    if tb is None or exc_type is None or exc is None:  # the job ran in a worker that is gone
        log.error("job failed: %s", _what_failed(exc_type, exc), extra=fields)
    else:
        log.error(
            "job failed: %s", _what_failed(exc_type, exc), exc_info=(exc_type, exc, tb),
            extra=fields,
        )  # fmt: skip
    return True


def _what_failed(exc_type: type[BaseException] | None, exc: BaseException | None) -> str:
    if isinstance(exc, JobTimeoutException):
        return f"over its time limit ({exc})"
    if isinstance(exc, AbandonedJobError):
        return "its worker died or hung mid-job (AbandonedJobError); RQ retries it if it can"
    name = exc_type.__name__ if exc_type is not None else "unknown error"
    return f"{name}: {exc}" if str(exc or "") else name


def pairs_requeued(system: str, count: int) -> None:
    log.info("%d pair(s) queued again: the system answers again", count, extra={"system": system})


def job_rescheduled(job: Job, wait_s: float) -> None:
    route = _route(job)
    metrics.job_outcome(job.connection, route, Outcome.RETRIED)
    metrics.incr(job.connection, "rate_limit_waits", (route,))
    metrics.incr(job.connection, "rate_limit_wait_seconds", (route,), wait_s)
    log.warning("rate limited: rescheduled in %s s", wait_s)
