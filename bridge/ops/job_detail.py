"""One job in full, for `bridge failed show`: what a one-line list row cannot hold.

The whole reason (and the traceback of an unexpected failure), how often it was tried, when it
runs next (or what it waits for), and the story of its ticket pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bridge.ops.inspect import Inspector
from bridge.ops.overview import FailedJob


@dataclass(frozen=True)
class JobDetail:
    job: FailedJob
    status: str  # RQ's: failed, scheduled, queued, started, finished, ...
    failing_since: str | None
    retries_left: int
    next_retry: str | None  # ISO time of the next scheduled run, if one is scheduled
    next_retry_note: str  # what brings the job back when nothing is scheduled
    traceback: str  # of the last failed run; empty for a parked job (its reason says it all)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def job_detail(ins: Inspector, job_id: str) -> JobDetail:
    """Everything the bridge knows about a job; OpsError (from the Inspector) when there is
    no such job."""
    job = ins.fetch(job_id)
    info = ins.describe(job)
    found = job.get_status(refresh=True)
    status = found.value if found is not None else "unknown"
    next_at = _scheduled_at(ins, job)
    return JobDetail(
        job=info,
        status=status,
        failing_since=(job.meta or {}).get("failing_since"),
        retries_left=int(job.retries_left or 0),
        next_retry=next_at,
        next_retry_note=_note(info, status, next_at),
        traceback="" if info.parked else _traceback(job),
        timeline=_timeline(ins, info),
    )


def _scheduled_at(ins: Inspector, job: Job) -> str | None:
    try:
        at = ScheduledJobRegistry(queue=ins.queue).get_scheduled_time(job)
    except NoSuchJobError:  # not scheduled
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def _note(info: FailedJob, status: str, next_at: str | None) -> str:
    if next_at is not None:
        return f"scheduled for {next_at}"
    if status in ("queued", "started", "deferred"):
        return f"{status}: it runs (or waits for its ticket's slot) now"
    if info.description.startswith("bridge.jobs.poll_system"):
        return "none needed: the cron polls the system again on its schedule"
    if info.waits_for:
        return f"queued again by itself after the next good poll of {info.waits_for}"
    if status == "failed":
        return f"none: retry it by hand (`bridge failed retry {info.id}`) once the cause is fixed"
    return "none"


def _traceback(job: Job) -> str:
    result = job.latest_result()
    return ((result.exc_string if result is not None else None) or "").strip()


def _timeline(ins: Inspector, info: FailedJob) -> list[dict[str, Any]]:
    """The pair's story when the job names a ticket (both sides, oldest first)."""
    if not info.system or not info.ticket or info.system not in ins.config.systems:
        return []
    matches = ins.search(info.ticket, info.system)
    return matches[0].timeline if matches else []
