"""Prometheus metrics kept in Redis: what workers, the cron and the web replicas record.

Workers are separate processes (a pool, containers scaled out, with `--fork` one child per
job) and web replicas run side by side. prometheus_client's in-process metrics would die with
each process and every replica would report only its own, so every counter is a field of a
Redis hash (HINCRBY), a histogram keeps its bucket counts as hash fields, and a
`*_timestamp_seconds` gauge is a hash field holding a Unix time. bridge.ops.metrics_scrape
turns them into metric families at each scrape, so every replica reports the same totals.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from bridge import keyspace

if TYPE_CHECKING:
    from bridge.protocol import Exchange

log = logging.getLogger(__name__)


class Outcome(Enum):
    """How one run of a sync job ended: the `outcome` label of bridge_jobs_total.

    Each run counts once. A job RQ retries after a failure counts again when it runs again.
    """

    SYNCED = "synced"  # done, and something was written (escalated, copied, asked for data)
    IGNORED = "ignored"  # done, nothing to write (in step, the bridge's own echo, not technical)
    RETRIED = "retried"  # a passing fault or a Retry-After: planned to run again
    PARKED = "parked"  # stopped on purpose with a reason to act on (bridge.jobs)
    FAILED = "failed"  # an unexpected exception, a time-out, or its worker died mid-job


class PollOutcome(Enum):
    """How one poll job ended: the `outcome` label of bridge_polls_total."""

    OK = "ok"
    SKIPPED = "skipped"  # another poll of the same system was still running
    FAILED = "failed"  # the system did not answer, or refused (the next poll tries again)


@dataclass(frozen=True)
class Spec:
    """One metric kept in a Redis hash: its exposed name, help text and label names."""

    name: str
    doc: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()  # histograms only


# key suffix -> counter (exposed as <name>_total)
COUNTERS: dict[str, Spec] = {
    "events_received": Spec(
        "bridge_events_received",
        "Ticket events received, by system and source (webhook or poll).",
        ("system", "source"),
    ),
    "events_deduped": Spec(
        "bridge_events_deduped",
        "Events dropped as already received (same delivery id), by system and source.",
        ("system", "source"),
    ),
    "events_rejected": Spec(
        "bridge_events_rejected",
        "Webhook requests refused (bad signature, malformed payload), by system and reason.",
        ("system", "reason"),
    ),
    "jobs": Spec(
        "bridge_jobs",
        "Sync job runs, by route and outcome (synced, ignored, retried, parked, failed).",
        ("route", "outcome"),
    ),
    "polls": Spec(
        "bridge_polls",
        "Poll jobs of systems without webhooks (or swept), by system and outcome "
        "(ok, skipped, failed).",
        ("system", "outcome"),
    ),
    "rate_limit_waits": Spec(
        "bridge_rate_limit_waits",
        "Times a job was rescheduled to honour a Retry-After, by route.",
        ("route",),
    ),
    "rate_limit_wait_seconds": Spec(
        "bridge_rate_limit_wait_seconds",
        "Seconds of Retry-After waited (scheduled), by route.",
        ("route",),
    ),
    "remote_requests": Spec(
        "bridge_remote_requests",
        "HTTP requests sent to the ticket systems, by system, method and status class "
        "(2xx, 3xx, 4xx, 5xx, or error: no answer).",
        ("system", "method", "status_class"),
    ),
}

HISTOGRAMS: dict[str, Spec] = {
    "latency": Spec(
        "bridge_sync_latency_seconds",
        "Time from an event being received to its sync job finishing, by route.",
        ("route",),
        (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600),
    ),
    "remote_latency": Spec(
        "bridge_remote_request_duration_seconds",
        "Time from sending a request to a ticket system until its answer's headers are in "
        "(or the request failed), by system and method.",
        ("system", "method"),
        (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    ),
}

# Gauges holding a Unix time. "Seconds since" would be computed by the scraping replica's
# clock and go stale between scrapes; a timestamp is exact, and `time() - x` in PromQL is
# the age wherever it is wanted.
TIMESTAMPS: dict[str, Spec] = {
    "last_job": Spec(
        "bridge_job_last_finished_timestamp_seconds",
        "When a sync job run last ended with each outcome, by route (Unix time).",
        ("route", "outcome"),
    ),
    "last_webhook": Spec(
        "bridge_webhook_last_received_timestamp_seconds",
        "When a system's last accepted webhook came in (Unix time).",
        ("system",),
    ),
}

# Outcomes of earlier versions, still in the Redis hash of a bridge that was upgraded.
RENAMED_OUTCOMES = {"succeeded": Outcome.SYNCED.value, "rescheduled": Outcome.RETRIED.value}


def field(labels: Sequence[str]) -> str:
    """The hash field of one label set."""
    return json.dumps([str(v) for v in labels])


def _write(redis: Redis | Pipeline, what: str, write: Callable[[Pipeline], object]) -> None:
    """Run `write` on the caller's pipeline (the caller executes it), or on one of its own
    sent at once. A metrics write never fails the webhook or job that records it."""
    try:
        if isinstance(redis, Pipeline):
            write(redis)
            return
        with redis.pipeline(transaction=False) as pipe:
            write(pipe)
            pipe.execute()
    except RedisError as exc:
        log.warning("metric %s not recorded: %s", what, exc)


def _check(table: dict[str, Spec], key: str, labels: Sequence[str]) -> str:
    spec = table.get(key)
    if spec is None:
        raise KeyError(f"unknown metric {key!r}")
    if len(labels) != len(spec.labels):
        raise ValueError(f"{spec.name} takes labels {spec.labels}, got {tuple(labels)}")
    return keyspace.metric(key)


def _incr(pipe: Pipeline, key: str, name: str, amount: float) -> None:
    if float(amount).is_integer():
        pipe.hincrby(key, name, int(amount))
    else:
        pipe.hincrbyfloat(key, name, float(amount))


def incr(redis: Redis | Pipeline, counter: str, labels: Sequence[str], amount: float = 1) -> None:
    """Add to a counter (given a pipeline, as part of it)."""
    key = _check(COUNTERS, counter, labels)
    _write(redis, counter, lambda pipe: _incr(pipe, key, field(labels), amount))


def bucket_for(seconds: float, buckets: Sequence[float]) -> str:
    for bound in buckets:
        if seconds <= bound:
            return repr(float(bound))
    return "+Inf"


def observe(redis: Redis | Pipeline, histogram: str, labels: Sequence[str], seconds: float) -> None:
    """One observation into a histogram: its bucket's count, the total count and the sum."""
    key = _check(HISTOGRAMS, histogram, labels)
    seconds = max(0.0, seconds)
    le = bucket_for(seconds, HISTOGRAMS[histogram].buckets)

    def write(pipe: Pipeline) -> None:
        pipe.hincrby(key, field([*labels, le]), 1)
        pipe.hincrby(key, field([*labels, "count"]), 1)
        pipe.hincrbyfloat(key, field([*labels, "sum"]), seconds)

    _write(redis, histogram, write)


def stamp(redis: Redis | Pipeline, timestamp: str, labels: Sequence[str], at: float) -> None:
    """Set a `*_timestamp_seconds` gauge to the Unix time `at`."""
    key = _check(TIMESTAMPS, timestamp, labels)
    _write(redis, timestamp, lambda pipe: pipe.hset(key, field(labels), f"{at:.3f}"))


def job_outcome(
    redis: Redis | Pipeline, route: str, outcome: Outcome, clock: Callable[[], float] = time.time
) -> None:
    """Count one job run's outcome and note when it happened."""
    incr(redis, "jobs", (route, outcome.value))
    stamp(redis, "last_job", (route, outcome.value), clock())


def request_recorder(redis: Redis) -> Callable[[Exchange], None]:
    """The observer an HttpClient tells of every request it sends (bridge.registry attaches
    it): counted by status class and timed, in one round trip per request."""

    def record(exchange: Exchange) -> None:
        labels = (exchange.system, exchange.method)
        with redis.pipeline(transaction=False) as pipe:
            incr(pipe, "remote_requests", (*labels, exchange.status.value))
            observe(pipe, "remote_latency", labels, exchange.seconds)
            try:
                pipe.execute()
            except RedisError as exc:
                log.warning("request metrics not recorded: %s", exc)

    return record


def since(iso: str | None, now: datetime | None = None) -> float | None:
    """Seconds from an ISO timestamp until now (None when absent or unreadable)."""
    then = parse_time(iso)
    if then is None:
        return None
    return ((now or datetime.now(UTC)) - then).total_seconds()


def parse_time(iso: str | None) -> datetime | None:
    """An ISO timestamp as an aware datetime (naive ones are UTC); None if absent or bad."""
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return then if then.tzinfo else then.replace(tzinfo=UTC)


def read_hash(redis: Redis, key: str) -> dict[tuple[str, ...], float]:
    """A metric hash as label tuples -> values (fields that are not ours are skipped)."""
    out: dict[tuple[str, ...], float] = {}
    for k, v in redis.hgetall(key).items():
        try:
            labels = json.loads(k.decode() if isinstance(k, bytes) else k)
            out[tuple(labels)] = float(v)
        except (ValueError, TypeError):
            continue
    return out
