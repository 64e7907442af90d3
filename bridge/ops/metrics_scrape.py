"""The /metrics collector: Redis-kept metrics (bridge.telemetry.metrics) and live state, per scrape.

Counters, histograms and timestamps come from the Redis hashes every process writes; queue
depth, workers, sources and escalations waiting are read fresh from Redis and RQ on each scrape
(bridge.ops.inspect, the reader the console and `bridge status` use too). Every name exposed
here is in README.md's metrics table; tests/integration/test_metrics_names.py holds both to it.
"""

from __future__ import annotations

import logging
import math
import platform
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from redis import Redis
from redis.exceptions import RedisError

from bridge import keyspace
from bridge.telemetry.metrics import (
    COUNTERS,
    HISTOGRAMS,
    RENAMED_OUTCOMES,
    TIMESTAMPS,
    parse_time,
    read_hash,
)

log = logging.getLogger(__name__)

# bridge_queue_jobs' states; disjoint, so their sum is every job the bridge holds.
QUEUE_STATES = (
    "queued", "waiting_slot", "started", "scheduled", "deferred", "failed", "parked",
)  # fmt: skip


def _bridge_version() -> str:
    try:
        return version("ticket-bridge")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_info() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "bridge_build_info",
        "Always 1; the labels say which bridge and Python answer.",
        labels=["version", "python"],
    )
    family.add_metric([_bridge_version(), platform.python_version()], 1)
    return family


def _counter_values(redis: Redis, suffix: str) -> dict[tuple[str, ...], float]:
    raw = read_hash(redis, keyspace.metric(suffix))
    if suffix not in ("jobs", "last_job"):
        return raw
    merged: dict[tuple[str, ...], float] = {}
    for (route, outcome, *rest), value in raw.items():
        labels = (route, RENAMED_OUTCOMES.get(outcome, outcome), *rest)
        if suffix == "last_job":
            merged[labels] = max(merged.get(labels, 0.0), value)
        else:
            merged[labels] = merged.get(labels, 0.0) + value
    return merged


def counter_families(redis: Redis) -> list[Metric]:
    families: list[Metric] = []
    for suffix, spec in COUNTERS.items():
        family = CounterMetricFamily(spec.name, spec.doc, labels=list(spec.labels))
        for labels, value in sorted(_counter_values(redis, suffix).items()):
            if len(labels) == len(spec.labels):
                family.add_metric(list(labels), value)
        families.append(family)
    return families


def histogram_families(redis: Redis) -> list[Metric]:
    families: list[Metric] = []
    for suffix, spec in HISTOGRAMS.items():
        family = HistogramMetricFamily(spec.name, spec.doc, labels=list(spec.labels))
        raw = read_hash(redis, keyspace.metric(suffix))
        width = len(spec.labels)
        series = sorted({labels[:width] for labels in raw if len(labels) == width + 1})
        for labels in series:
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound in (*spec.buckets, math.inf):
                le = "+Inf" if bound == math.inf else repr(float(bound))
                cumulative += raw.get((*labels, le), 0.0)
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, raw.get((*labels, "sum"), 0.0))
        families.append(family)
    return families


def timestamp_families(redis: Redis) -> list[Metric]:
    families: list[Metric] = []
    for suffix, spec in TIMESTAMPS.items():
        family = GaugeMetricFamily(spec.name, spec.doc, labels=list(spec.labels))
        for labels, value in sorted(_counter_values(redis, suffix).items()):
            if len(labels) == len(spec.labels):
                family.add_metric(list(labels), value)
        families.append(family)
    return families


class BridgeCollector(Collector):
    """Everything /metrics shows, read from Redis at each scrape."""

    def __init__(self, redis: Redis, config: Any, connectors: Mapping[str, Any]) -> None:
        self.redis = redis
        self.config = config
        self.connectors = connectors

    def collect(self) -> Iterable[Metric]:
        from bridge.ops.inspect import Inspector  # late: inspect imports RQ and the config

        up = GaugeMetricFamily("bridge_redis_up", "Whether Redis answered this scrape.")
        yield build_info()
        try:
            families = [
                *counter_families(self.redis),
                *histogram_families(self.redis),
                *timestamp_families(self.redis),
            ]
            inspector = Inspector(self.redis, self.config, self.connectors)
            families.extend(live_families(inspector))
        except RedisError as exc:
            log.warning("metrics scrape without Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _epoch(iso: str | None) -> float | None:
    when = parse_time(iso)
    return when.timestamp() if when is not None else None


def live_families(inspector: Any) -> list[Metric]:
    """Queue depth, workers, escalations waiting and each system's last contact, as of now."""
    overview = inspector.queue_overview()
    depth = GaugeMetricFamily(
        "bridge_queue_jobs",
        "Jobs the bridge holds, by queue and state (waiting_slot: held back until the job "
        "before them on their ticket is done; failed excludes parked).",
        labels=["queue", "state"],
    )
    counts = {
        "queued": overview.queued,
        "waiting_slot": overview.waiting_slot,
        "started": overview.started,
        "scheduled": overview.scheduled,
        "deferred": overview.deferred,
        "failed": max(0, overview.failed - overview.parked),
        "parked": overview.parked,
    }
    for state in QUEUE_STATES:
        depth.add_metric([overview.name, state], counts[state])
    workers = GaugeMetricFamily(
        "bridge_workers", "Workers on the bridge's queue whose pulse is alive."
    )
    workers.add_metric([], len(overview.workers))
    waiting = GaugeMetricFamily(
        "bridge_escalations_waiting", "First-level tickets whose escalation waits for data."
    )
    waiting.add_metric([], len(inspector.stores.waiting.waiting_for_data()))
    polled = GaugeMetricFamily(
        "bridge_poll_last_success_timestamp_seconds",
        "When a polled (or swept) system last answered a poll (Unix time; absent: never).",
        labels=["system"],
    )
    seen = GaugeMetricFamily(
        "bridge_source_last_seen_timestamp_seconds",
        "When a system was last heard from, by webhook or poll (Unix time; absent: never).",
        labels=["system"],
    )
    threshold = GaugeMetricFamily(
        "bridge_source_silence_threshold_seconds",
        "How long a system may stay unheard from before it counts as silent "
        "(options.silence_alert, or its default).",
        labels=["system"],
    )
    silent = GaugeMetricFamily(
        "bridge_source_silent",
        "1 when a system has been silent longer than its threshold (or never heard from).",
        labels=["system"],
    )
    for source in inspector.sources():
        ok = _epoch(source.poll_last_ok)
        if ok is not None:
            polled.add_metric([source.system], ok)
        last = _epoch(source.last_seen)
        if last is not None:
            seen.add_metric([source.system], last)
        threshold.add_metric([source.system], source.threshold)
        silent.add_metric([source.system], 1 if source.alert else 0)
    return [depth, workers, waiting, polled, seen, threshold, silent]


def registry_for(redis: Redis, config: Any, connectors: Mapping[str, Any]) -> CollectorRegistry:
    """A per-app registry (never the global one), so tests and replicas do not collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(redis, config, connectors))
    return registry
