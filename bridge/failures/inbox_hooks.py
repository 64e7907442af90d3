"""Where failures enter the inbox (bridge.failures.inbox) and where they leave it.

Sync jobs report through RQ's own job callbacks (bridge.jobs.on_sync_failure / on_sync_success,
attached at enqueue time), so every way a job can fail is seen: a parked error, a retry, an
unexpected exception, a time limit, and a worker killed mid-job (RQ's abandoned-job cleanup
calls the same failure callback). Polls report from bridge.polling.

Every hook swallows its own errors: a Redis hiccup while recording must never turn a good sync
into a failure or replace a job's real exception.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.config import Config
from bridge.errors import PermanentError
from bridge.failures.causes import blamed_system, classify
from bridge.failures.inbox import Inbox
from bridge.failures.inbox_model import Failure, Kind, Outcome
from bridge.job_names import POLL_SYSTEM
from bridge.models import SystemRef
from bridge.retry import Unreachable
from bridge.stores import SyncLog

log = logging.getLogger("bridge")

ABANDONED = "AbandonedJobError"
ABANDONED_REASON = "the worker running it stopped mid-job (killed, or lost its connection)"


def _status(exc: BaseException | None) -> int | None:
    return exc.status if isinstance(exc, PermanentError) else None


def job_failed(
    job: Job, exc_type: type[BaseException] | None, exc: BaseException | None,
    config: Config | None, at: datetime,
) -> str:  # fmt: skip
    """Count a failed attempt of a sync job into its group; returns the group id ("" when it
    could not be recorded). The group id is kept in the job's meta for `failed list`."""
    try:
        return _job_failed(job, exc_type, exc, config, at)
    except Exception as err:  # never replace the job's own failure
        log.warning("failure inbox: job %s not recorded: %s", job.id, err)
        return ""


def _job_failed(
    job: Job, exc_type: type[BaseException] | None, exc: BaseException | None,
    config: Config | None, at: datetime,
) -> str:  # fmt: skip
    meta = job.meta or {}
    error = exc_type.__name__ if exc_type is not None else "Error"
    parked = str(meta.get("park_reason") or "")
    reason = ABANDONED_REASON if error == ABANDONED else parked or str(exc or "").strip() or error
    if parked:
        outcome = Outcome.PARKED
    elif job.retries_left:
        outcome = Outcome.RETRYING
    else:
        outcome = Outcome.FAILED
    route_name = str(meta.get("route") or "")
    first = str(meta.get("system") or "")
    candidates, types = [first], {}
    if config is not None:
        route = next((r for r in config.routes if r.name == route_name), None)
        if route is not None:
            candidates = [route.first, route.second]
        types = {name: s.type for name, s in config.systems.items()}
    named = exc.system if isinstance(exc, Unreachable) else None
    system = blamed_system(reason, candidates, types, named=named, default=first)
    failure = Failure(
        kind=Kind.SYNC,
        system=system or "?",
        cause=classify(reason, error, _status(exc)),
        reason=reason,
        outcome=outcome,
        at=at,
        route=route_name,
        ticket=str(meta.get("ticket") or ""),
        job_id=job.id,
        attempts=int(meta.get("failed_attempts") or 0),
        waits_for=str(meta.get("waits_for") or ""),
    )
    gid, _ = Inbox(job.connection).record(failure)
    job.meta["inbox_group"] = gid
    job.meta["inbox_cause"] = failure.cause.text
    job.save_meta()
    return gid


def job_succeeded(job: Job, at: datetime) -> None:
    """The pair synced: it leaves its group, and the job that failed for it before is done by
    this sync (a sync re-reads both sides), so it leaves the failed list too."""
    try:
        _job_succeeded(job, at)
    except Exception as err:  # a good sync stays good
        log.warning("failure inbox: success of %s not recorded: %s", job.id, err)


def _job_succeeded(job: Job, at: datetime) -> None:
    meta = job.meta or {}
    route, ticket = str(meta.get("route") or ""), str(meta.get("ticket") or "")
    if not route or not ticket:
        return
    redis: Redis = job.connection
    if not redis.exists(keyspace.inbox_ticket(route, ticket)):
        return  # the usual case: nothing of this pair is in the inbox
    inbox = Inbox(redis, clock=lambda: at)
    old_job, _ = inbox.ticket_synced(route, ticket)
    if old_job and old_job != job.id:
        registry = FailedJobRegistry(job.origin, connection=redis, serializer=JSONSerializer)
        if old_job in registry:
            registry.remove(old_job, delete_job=True)
            ref = SystemRef(str(meta.get("system") or ""), ticket)
            SyncLog(redis).add(ref, "superseded", {"job": old_job, "by": job.id})


def poll_failed(redis: Redis, system: str, exc: BaseException, at: datetime) -> None:
    """One entry per system and cause, however many polls fail: the next poll is the retry."""
    try:
        reason = str(exc).strip() or type(exc).__name__
        Inbox(redis).record(
            Failure(
                kind=Kind.POLL,
                system=system,
                cause=classify(reason, type(exc).__name__, _status(exc)),
                reason=reason,
                outcome=Outcome.RETRYING,
                at=at,
            )
        )
    except Exception as err:
        log.warning("failure inbox: failed poll of %s not recorded: %s", system, err)


def poll_succeeded(redis: Redis, system: str, queue_name: str) -> None:
    """Close the system's poll groups; the failed polls they stood for are superseded by this
    one (it read everything since the last good poll), so they leave the failed list."""
    try:
        if Inbox(redis).poll_ok(system):
            drop_failed_polls(redis, system, queue_name)
    except Exception as err:
        log.warning("failure inbox: good poll of %s not recorded: %s", system, err)


def drop_failed_polls(redis: Redis, system: str, queue_name: str) -> list[str]:
    """Delete the failed poll jobs of a system from the failed registry; returns their ids."""
    registry = FailedJobRegistry(queue_name, connection=redis, serializer=JSONSerializer)
    ids = registry.get_job_ids()
    dropped = []
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        for job in Job.fetch_many(chunk, connection=redis, serializer=JSONSerializer):
            if job is not None and is_poll_of(job, system):
                registry.remove(job, delete_job=True)
                dropped.append(job.id)
    return dropped


def is_poll_of(job: Job, system: str | None = None) -> bool:
    """A poll job (of `system`, when given)."""
    if (job.func_name or "") != POLL_SYSTEM:
        return False
    return system is None or (bool(job.args) and str(job.args[0]) == system)
