"""What the operator console and `bridge status` show, read from Redis and RQ.

One reader for both, so the web page and the CLI never disagree about what is stuck. Retry and
discard are here too (resync and link live in bridge.ops.actions); they only touch Redis and
the queue, never a ticket system.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.rate_limit import RateLimitRegistry
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

from bridge import keyspace
from bridge.config import Config, Route
from bridge.errors import PermanentError
from bridge.failures.inbox import Inbox
from bridge.maintenance import PULSE_TTL
from bridge.models import SystemRef
from bridge.ops.overview import FailedJob, Match, QueueOverview, SourceHealth, WorkerInfo
from bridge.polling import interval_for, poll_status
from bridge.protocol import Capability, Connector
from bridge.queue import get_queue
from bridge.records import PairKey
from bridge.registry import build_connector
from bridge.settings.ops import DEFAULT_WEBHOOK_SILENCE, POLL_SILENCE_FACTOR
from bridge.stores import Stores
from bridge.telemetry.metrics import since


class OpsError(Exception):
    """An operator action that cannot be done as asked; the message says why."""


def _reason(job: Job) -> str:
    reason = job.meta.get("park_reason")
    if reason:
        return str(reason)
    result = job.latest_result()
    exc_info = (result.exc_string if result is not None else None) or ""
    lines = [line for line in exc_info.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no reason recorded"


def silence_threshold(settings: Any, connector: Connector) -> int:
    """`options.silence_alert`, else 3600 s for webhook systems, 3 poll intervals for polled."""
    configured = settings.options.get("silence_alert")
    if configured is not None:
        return int(configured)
    every = interval_for(settings, connector)
    if Capability.WEBHOOKS in connector.capabilities or every <= 0:
        return DEFAULT_WEBHOOK_SILENCE
    return POLL_SILENCE_FACTOR * every


def _now() -> datetime:
    return datetime.now(UTC)


class Inspector:
    """Reads and acts on one bridge's Redis; connectors are used for their settings and for
    `ticket_exists`, the one read an operator action makes before it queues anything."""

    def __init__(
        self,
        redis: Redis,
        config: Config,
        connectors: Mapping[str, Connector] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.redis = redis
        self.config = config
        self.clock = clock
        self.connectors = connectors or {
            name: build_connector(s) for name, s in config.systems.items()
        }
        self.stores = Stores.of(redis)
        self.queue = get_queue(redis, config)

    # -- reading -----------------------------------------------------------------------------
    def _failed_registry(self) -> FailedJobRegistry:
        return FailedJobRegistry(queue=self.queue)

    def failed_jobs(self, limit: int = 200) -> list[FailedJob]:
        """Newest failure first."""
        ids = self._failed_registry().get_job_ids(0, limit - 1, desc=True)
        jobs = Job.fetch_many(ids, connection=self.redis, serializer=JSONSerializer)
        return [self.describe(job) for job in jobs if job is not None]

    def describe(self, job: Job) -> FailedJob:
        """A job as the failed list shows it, with its whole reason."""
        meta = job.meta or {}
        system = str(meta.get("system") or "")
        if not system and (job.func_name or "").endswith("poll_system") and job.args:
            system = str(job.args[0])
        received = str(meta.get("received_at") or "")
        ended = job.ended_at.replace(tzinfo=UTC).isoformat() if job.ended_at else None
        return FailedJob(
            id=job.id,
            parked=bool(meta.get("park_reason")),
            reason=_reason(job),
            system=system,
            ticket=str(meta.get("ticket") or ""),
            route=str(meta.get("route") or ""),
            received_at=received,
            age=since(received or ended, self.clock()),
            description=job.description or job.func_name or "",
            waits_for=str(meta.get("waits_for") or ""),
            attempts=int(meta.get("failed_attempts") or 0),
            group=str(meta.get("inbox_group") or ""),
            cause=str(meta.get("inbox_cause") or ""),
        )

    def fetch(self, job_id: str) -> Job:
        """A job by id; OpsError when there is none (expired, discarded or mistyped)."""
        return self._fetch(job_id)

    def queue_overview(self) -> QueueOverview:
        failed_ids = self._failed_registry().get_job_ids()
        parked = 0
        for job in Job.fetch_many(failed_ids, connection=self.redis, serializer=JSONSerializer):
            parked += bool(job is not None and (job.meta or {}).get("park_reason"))
        workers = [self._worker_info(w) for w in Worker.all(queue=self.queue)]
        return QueueOverview(
            name=self.queue.name,
            queued=self.queue.count,
            started=StartedJobRegistry(queue=self.queue).count,
            scheduled=ScheduledJobRegistry(queue=self.queue).count,
            deferred=DeferredJobRegistry(queue=self.queue).count,
            failed=len(failed_ids),
            parked=parked,
            workers=sorted((w for w in workers if w.alive), key=lambda w: w.name),
            stale_workers=sorted((w for w in workers if not w.alive), key=lambda w: w.name),
            waiting_slot=self.waiting_for_slot(),
        )

    def waiting_for_slot(self) -> int:
        """Jobs RQ holds back for their ticket's concurrency slot (status `rate_limited`):
        in neither the queue nor a registry, so `queued` leaves them out.

        RQ's RateLimitRegistry names the keys; the counts are read in one round trip
        (`get_rate_limited_job_count` is one per ticket)."""
        registries = [
            r
            for r in RateLimitRegistry.all(self.redis)
            if r.key.startswith(keyspace.PAIR_SLOT_PREFIX)
        ]
        if not registries:
            return 0
        with self.redis.pipeline(transaction=False) as pipe:
            for registry in registries:
                pipe.zcard(registry.rate_limited_key)
            return sum(int(n) for n in pipe.execute())

    def _worker_info(self, worker: BaseWorker) -> WorkerInfo:
        """Liveness by the pulse (bridge.maintenance), which has a Redis-side expiry: the same
        judgement the maintenance uses to hand a dead worker's jobs to another."""
        beat = worker.last_heartbeat.replace(tzinfo=UTC) if worker.last_heartbeat else None
        age = (self.clock() - beat).total_seconds() if beat else None
        alive = True  # a worker without a pulse: RQ's registration (with its own TTL) is all
        if self.redis.sismember(keyspace.PULSED, worker.name):
            left_ms = int(self.redis.pttl(keyspace.alive(worker.name)))
            alive = left_ms > 0
            if alive:
                age = max(0.0, PULSE_TTL - left_ms / 1000)
        return WorkerInfo(
            name=worker.name,
            state=str(worker.get_state()),
            current_job=worker.get_current_job_id(),
            heartbeat_age=age,
            alive=alive,
        )

    def sources(self) -> list[SourceHealth]:
        seen = self.stores.intake.sources_seen()
        now = self.clock()
        out = []
        for name, settings in self.config.systems.items():
            connector = self.connectors[name]
            every = interval_for(settings, connector)
            webhooks = Capability.WEBHOOKS in connector.capabilities
            if webhooks:
                mode = "webhooks" + (f", swept every {every} s" if every else "")
            else:
                mode = f"polled every {every} s" if every else "no webhooks, not polled"
            status = poll_status(self.redis, name) if every else {}
            out.append(
                SourceHealth(
                    system=name,
                    type=settings.type,
                    mode=mode,
                    last_seen=seen.get(name),
                    silent_for=since(seen.get(name), now),
                    threshold=silence_threshold(settings, connector),
                    poll_last_ok=status.get("last_ok"),
                    poll_lag=since(status.get("last_ok"), now),
                )
            )
        return out

    def waiting(self) -> list[dict[str, Any]]:
        now = self.clock().timestamp()
        items = self.stores.waiting.waiting_for_data()
        for item in items:
            item["age"] = now - item["since"]
            route = self._route_or_none(item["route"])
            item["system"] = route.first if route else "?"
        return items

    def gave_up(self) -> dict[str, list[PairKey]]:
        """Per system: the pairs waiting for it to answer again."""
        return {name: self.stores.gave_up.gave_up_on(name) for name in self.config.systems}

    def _route_or_none(self, name: str) -> Route | None:
        return next((r for r in self.config.routes if r.name == name), None)

    def search(self, ticket: str, system: str | None = None) -> list[Match]:
        """A ticket id of any system: its link on every route, and the story of both sides."""
        ticket = ticket.strip().lstrip("#")
        systems = [system] if system else list(self.config.systems)
        matches: list[Match] = []
        for name in systems:
            if name not in self.config.systems:
                raise OpsError(f"unknown system {name!r}")
            ref = SystemRef(name, ticket)
            found = False
            for route in self.config.routes:
                pair = None
                if route.first == name:
                    pair = PairKey(route.name, ticket)
                elif route.second == name:
                    pair = self.stores.links.first_for_second(route.name, ref)
                if pair is None:
                    continue
                link = self.stores.links.get_link(pair)
                waiting = next(
                    (
                        w
                        for w in self.stores.waiting.waiting_for_data()
                        if w["route"] == route.name and w["ticket"] == pair.first_id
                    ),
                    None,
                )
                if link is None and waiting is None and not self._has_log(ref):
                    continue
                refs = [ref] if link is None else [link.first, link.second]
                refused = list(self.stores.marks.parked_items(pair).values())
                matches.append(Match(ref, route.name, link, waiting, self._story(refs), refused))
                found = True
            if not found and self._has_log(ref):
                matches.append(Match(ref, None, None, None, self._story([ref])))
        return matches

    def ticket_exists(self, ref: SystemRef) -> bool:
        """Read the ticket on its system: False when the system says it has no such ticket
        (404). Other refusals (401/403) propagate as PermanentError, a system that cannot be
        reached as RetryableError: neither says the ticket is missing."""
        if ref.system not in self.connectors:
            raise OpsError(f"unknown system {ref.system!r}")
        try:
            self.connectors[ref.system].get_ticket(ref.id)
        except PermanentError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _has_log(self, ref: SystemRef) -> bool:
        return self.stores.log.has_log(ref)

    def _story(self, refs: list[SystemRef]) -> list[dict[str, Any]]:
        entries = [
            {**entry, "ticket": str(ref)} for ref in refs for entry in self.stores.log.timeline(ref)
        ]
        return sorted(entries, key=lambda e: str(e.get("at", "")))

    # -- acting ------------------------------------------------------------------------------
    def _fetch(self, job_id: str) -> Job:
        try:
            return Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError as exc:
            raise OpsError(f"no job {job_id!r}") from exc

    def retry(self, job_id: str) -> Job:
        """Put a failed or parked job back on its queue (it gets one more run)."""
        job = self._fetch(job_id)
        try:
            requeued = self._failed_registry().requeue(job)
        except InvalidJobOperation as exc:
            raise OpsError(f"job {job_id} is not in the failed list") from exc
        ref = _job_ref(job)
        if ref is not None:
            self.stores.log.add(ref, "operator_retry", {"job": job_id})
        return requeued

    def retry_all(self) -> list[str]:
        done = []
        for job_id in self._failed_registry().get_job_ids():
            try:
                self.retry(job_id)
            except OpsError:
                continue  # expired or taken by another operator meanwhile
            done.append(job_id)
        return done

    def discard(self, job_id: str) -> None:
        """Delete a failed job for good (the ticket keeps its sync log)."""
        job = self._fetch(job_id)
        if job_id not in self._failed_registry():
            raise OpsError(f"job {job_id} is not in the failed list")
        ref = _job_ref(job)
        self._failed_registry().remove(job, delete_job=True)
        if ref is not None:
            self.stores.log.add(ref, "operator_discard", {"job": job_id})
        route = str((job.meta or {}).get("route") or "")
        if ref is not None and route:  # its failure is dealt with: it leaves the inbox
            Inbox(self.redis, self.clock).ticket_synced(
                route, ref.id, "discarded by an operator", only_job=job_id
            )


def _job_ref(job: Job) -> SystemRef | None:
    meta = job.meta or {}
    if meta.get("system") and meta.get("ticket"):
        return SystemRef(str(meta["system"]), str(meta["ticket"]))
    return None
