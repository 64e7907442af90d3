"""Prometheus metrics kept in Redis, exposed by a custom collector at scrape time.

Workers are separate processes and RQ forks one child per job; web replicas run side by side.
In-process prometheus counters would die with each child, so every counter is a field of a Redis
hash (HINCRBY) and the latency histogram keeps its bucket counts as hash fields. Queue depth,
worker count, poll lag and source silence are read fresh on each scrape.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from bridge.store import PREFIX

log = logging.getLogger(__name__)

KEY = f"{PREFIX}:metrics"

# key suffix -> (metric name without _total, help, label names)
COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "events_received": (
        "bridge_events_received",
        "Ticket events received, by system and source (webhook or poll).",
        ("system", "source"),
    ),
    "events_deduped": (
        "bridge_events_deduped",
        "Events dropped as already received (same delivery id), by system and source.",
        ("system", "source"),
    ),
    "events_rejected": (
        "bridge_events_rejected",
        "Webhook requests refused (bad signature, malformed payload), by system and reason.",
        ("system", "reason"),
    ),
    "jobs": (
        "bridge_jobs",
        "Sync jobs finished, by route and outcome (succeeded, retried, parked, rescheduled).",
        ("route", "outcome"),
    ),
    "rate_limit_waits": (
        "bridge_rate_limit_waits",
        "Times a job was rescheduled to honour a Retry-After, by route.",
        ("route",),
    ),
    "rate_limit_wait_seconds": (
        "bridge_rate_limit_wait_seconds",
        "Seconds of Retry-After waited (scheduled), by route.",
        ("route",),
    ),
}

LATENCY = "latency"
LATENCY_BUCKETS: tuple[float, ...] = (
    0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600,
)  # fmt: skip


def _field(labels: Sequence[str]) -> str:
    return json.dumps([str(v) for v in labels])


def incr(redis: Redis | Pipeline, counter: str, labels: Sequence[str], amount: float = 1) -> None:
    """Add to a counter; a metrics write never fails the webhook or job that records it."""
    if counter not in COUNTERS:
        raise KeyError(f"unknown counter {counter!r}")
    try:
        if float(amount).is_integer():
            redis.hincrby(f"{KEY}:{counter}", _field(labels), int(amount))
        else:
            redis.hincrbyfloat(f"{KEY}:{counter}", _field(labels), float(amount))
    except RedisError as exc:
        log.warning("metric %s not recorded: %s", counter, exc)


def _bucket_for(seconds: float) -> str:
    for bound in LATENCY_BUCKETS:
        if seconds <= bound:
            return repr(float(bound))
    return "+Inf"


def observe_latency(redis: Redis | Pipeline, route: str, seconds: float) -> None:
    """One sync's time from event received to job done, into a per-route histogram.

    Given a pipeline, the writes join it (the caller executes it)."""
    seconds = max(0.0, seconds)
    key = f"{KEY}:{LATENCY}"
    try:
        pipe = redis if isinstance(redis, Pipeline) else redis.pipeline()
        pipe.hincrby(key, _field([route, _bucket_for(seconds)]), 1)
        pipe.hincrby(key, _field([route, "count"]), 1)
        pipe.hincrbyfloat(key, _field([route, "sum"]), seconds)
        if pipe is not redis:
            pipe.execute()
    except RedisError as exc:
        log.warning("latency not recorded: %s", exc)


def since(iso: str | None, now: datetime | None = None) -> float | None:
    """Seconds from an ISO timestamp until now (None when absent or unreadable)."""
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - then).total_seconds()


def _read_hash(redis: Redis, key: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for k, v in redis.hgetall(key).items():
        labels = json.loads(k.decode() if isinstance(k, bytes) else k)
        out[tuple(labels)] = float(v)
    return out


def counter_families(redis: Redis) -> list[Metric]:
    families: list[Metric] = []
    for suffix, (name, doc, label_names) in COUNTERS.items():
        family = CounterMetricFamily(name, doc, labels=list(label_names))
        for labels, value in sorted(_read_hash(redis, f"{KEY}:{suffix}").items()):
            if len(labels) == len(label_names):
                family.add_metric(list(labels), value)
        families.append(family)
    return families


def latency_family(redis: Redis) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "bridge_sync_latency_seconds",
        "Time from an event being received to its sync job finishing, by route.",
        labels=["route"],
    )
    raw = _read_hash(redis, f"{KEY}:{LATENCY}")
    routes = sorted({labels[0] for labels in raw})
    for route in routes:
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for bound in (*LATENCY_BUCKETS, math.inf):
            le = "+Inf" if bound == math.inf else repr(float(bound))
            cumulative += raw.get((route, le), 0.0)
            buckets.append((le, cumulative))
        family.add_metric([route], buckets, raw.get((route, "sum"), 0.0))
    return family


class BridgeCollector(Collector):
    """Reads the Redis counters, and computes queue depth and poll lag, at each scrape."""

    def __init__(self, redis: Redis, config: Any, connectors: Mapping[str, Any]) -> None:
        self.redis = redis
        self.config = config
        self.connectors = connectors

    def collect(self) -> Iterable[Metric]:
        from bridge.ops.inspect import Inspector  # late: inspect imports RQ and the config

        up = GaugeMetricFamily("bridge_redis_up", "Whether Redis answered this scrape.")
        try:
            families = [*counter_families(self.redis), latency_family(self.redis)]
            inspector = Inspector(self.redis, self.config, self.connectors)
            families.extend(_live_families(inspector))
        except RedisError as exc:
            log.warning("metrics scrape without Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _live_families(inspector: Any) -> list[Metric]:
    overview = inspector.queue_overview()
    depth = GaugeMetricFamily(
        "bridge_queue_jobs", "Jobs in the bridge's queue by state.", labels=["queue", "state"]
    )
    for state in ("queued", "started", "scheduled", "deferred", "failed", "parked"):
        depth.add_metric([overview.name, state], getattr(overview, state))
    workers = GaugeMetricFamily("bridge_workers", "RQ workers listening on the bridge's queue.")
    workers.add_metric([], len(overview.workers))
    waiting = GaugeMetricFamily(
        "bridge_escalations_waiting", "First-level tickets whose escalation waits for data."
    )
    waiting.add_metric([], len(inspector.store.waiting_for_data()))
    lag = GaugeMetricFamily(
        "bridge_poll_lag_seconds",
        "Seconds since the last successful poll of a polled system.",
        labels=["system"],
    )
    silence = GaugeMetricFamily(
        "bridge_source_silence_seconds",
        "Seconds since the last webhook or poll of a system (absent: never heard from).",
        labels=["system"],
    )
    silent = GaugeMetricFamily(
        "bridge_source_silent",
        "1 when a system has been silent longer than its silence_alert threshold.",
        labels=["system"],
    )
    for source in inspector.sources():
        if source.poll_lag is not None:
            lag.add_metric([source.system], source.poll_lag)
        if source.silent_for is not None:
            silence.add_metric([source.system], source.silent_for)
        silent.add_metric([source.system], 1 if source.alert else 0)
    return [depth, workers, waiting, lag, silence, silent]


def registry_for(redis: Redis, config: Any, connectors: Mapping[str, Any]) -> CollectorRegistry:
    """A per-app registry (never the global one), so tests and replicas do not collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(redis, config, connectors))
    return registry
