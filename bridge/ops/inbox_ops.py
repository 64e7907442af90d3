"""The failure inbox as the console and the CLI use it: groups with their next retry, the
tickets a filter names, and retry or discard of a whole group.

bridge.failures.inbox keeps the groups; this adds what only the queue knows (when a job of the group
runs next, which jobs belong to it) and the operator's actions, through the Inspector, so a
group retry logs `operator_retry` on every ticket exactly as a single retry does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.failures.inbox import Inbox
from bridge.failures.inbox_hooks import drop_failed_polls, is_poll_of
from bridge.failures.inbox_model import Filter, Group, Kind, Outcome
from bridge.job_names import POLL_SYSTEM
from bridge.models import SystemRef
from bridge.ops.inspect import Inspector, OpsError
from bridge.ops.overview import FailedJob
from bridge.pause import PauseStore
from bridge.polling import interval_for

CHUNK = 200  # jobs fetched per round trip when a group's jobs are looked for
ACTIVE = ("queued", "started", "deferred")


@dataclass(frozen=True)
class GroupView:
    """A group and what happens next to it."""

    group: Group
    next_retry: str | None  # ISO time of the earliest scheduled run (a poll: the next poll)
    next_note: str  # in words, also when nothing is scheduled
    running: int = 0  # jobs of its newest tickets queued or running now

    @property
    def id(self) -> str:
        return self.group.id


@dataclass(frozen=True)
class GroupJobs:
    """What a retry or discard of a group would touch (the console's confirmation step)."""

    group: Group
    failed: list[str]  # in the failed registry: requeued by retry, deleted by discard
    scheduled: list[str]  # waiting for a scheduled retry: moved to now by retry, kept by discard


def inbox_of(ins: Inspector) -> Inbox:
    return Inbox(ins.redis, clock=ins.clock)


def ticket_candidates(ins: Inspector, ticket: str, system: str = "") -> tuple[tuple[str, str], ...]:
    """(route, first-level id) pairs a ticket id may name: a first-level ticket on each route,
    or a second-level one through its link."""
    ticket = ticket.strip().lstrip("#")
    if not ticket:
        return ()
    pairs: list[tuple[str, str]] = []
    for route in ins.config.routes:
        if not system or system == route.first:
            pairs.append((route.name, ticket))
        if not system or system == route.second:
            pair = ins.stores.links.first_for_second(route.name, SystemRef(route.second, ticket))
            if pair is not None:
                pairs.append((pair.route, pair.first_id))
    return tuple(dict.fromkeys(pairs))


def views(ins: Inspector, where: Filter | None = None, closed: bool = False) -> list[GroupView]:
    groups = inbox_of(ins).groups(where, closed=closed)
    return [view(ins, g) for g in groups]


def view(ins: Inspector, group: Group) -> GroupView:
    if not group.is_open:
        return GroupView(group, None, f"closed: {group.closed_why}")
    if group.kind is Kind.POLL:
        return _poll_view(ins, group)
    jobs = _sample_jobs(ins, group)
    scheduled = ScheduledJobRegistry(queue=ins.queue)
    with ins.redis.pipeline(transaction=False) as pipe:
        for job_id in jobs:
            pipe.hget(f"{Job.redis_job_namespace_prefix}{job_id}", "status")
            pipe.zscore(scheduled.key, job_id)
        found = pipe.execute()
    statuses = [s.decode() if isinstance(s, bytes) else str(s or "") for s in found[0::2]]
    scores = [float(s) for s in found[1::2] if s is not None]
    running = sum(s in ACTIVE for s in statuses)
    if scores:
        at = datetime.fromtimestamp(min(scores), UTC)
        return GroupView(group, at.isoformat(), f"next retry at {_readable(at)}", running)
    if running:
        return GroupView(group, None, "queued again: runs as soon as a worker is free", running)
    if group.outcome is Outcome.PARKED and group.waits_for:
        note = f"queued again by itself after the next good poll of {group.waits_for}"
    elif group.outcome is Outcome.PARKED:
        note = "none: fix the cause, then retry the group"
    else:
        note = "none: retry the group once the cause is fixed"
    return GroupView(group, None, note)


def _poll_view(ins: Inspector, group: Group) -> GroupView:
    settings = ins.config.systems.get(group.system)
    connector = ins.connectors.get(group.system)
    every = interval_for(settings, connector) if settings and connector else 0
    if not every:
        return GroupView(group, None, "not polled any more: retry the group to poll once")
    try:
        last = datetime.fromisoformat(group.last_seen)
    except ValueError:
        return GroupView(group, None, f"the cron polls again every {every} s")
    if PauseStore(ins.redis, ins.clock).system_paused(group.system) is not None:
        return GroupView(group, None, f"{group.system} is paused: polled again on its resume")
    at = max(last + timedelta(seconds=every), ins.clock())
    return GroupView(group, at.isoformat(), f"next poll at {_readable(at)} (every {every} s)")


def _readable(moment: datetime) -> str:
    """`2030-06-01 03:05:10 UTC`: to the second, as an operator reads it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _sample_jobs(ins: Inspector, group: Group) -> list[str]:
    """The last failed job of each of the group's newest tickets still in it."""
    keys = [keyspace.inbox_ticket(route, ticket) for route, ticket in group.sample]
    values = ins.redis.mget(keys) if keys else []
    jobs = []
    for value in values:
        text = value.decode() if isinstance(value, bytes) else str(value or "")
        gid, _, rest = text.partition("|")
        if gid == group.id:
            jobs.append(rest.partition("|")[2])
    return [j for j in jobs if j]


def get_group(ins: Inspector, gid: str) -> Group:
    group = inbox_of(ins).get(gid)
    if group is None:
        raise OpsError(f"no failure group {gid!r} (closed long ago, or mistyped)")
    return group


def _jobs_in(ins: Inspector, ids: list[str]) -> Iterator[Job]:
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for job in Job.fetch_many(chunk, connection=ins.redis, serializer=JSONSerializer):
            if job is not None:
                yield job


def group_jobs(ins: Inspector, gid: str) -> GroupJobs:
    """Every job of the group in the failed and the scheduled registry (read in chunks: the
    group keeps only its newest ticket ids, the registries hold all of its jobs)."""
    group = get_group(ins, gid)
    failed_ids = FailedJobRegistry(queue=ins.queue).get_job_ids()
    if group.kind is Kind.POLL:
        polls = [j.id for j in _jobs_in(ins, failed_ids) if is_poll_of(j, group.system)]
        return GroupJobs(group, polls, [])
    scheduled_ids = ScheduledJobRegistry(queue=ins.queue).get_job_ids()
    failed = [j.id for j in _jobs_in(ins, failed_ids) if (j.meta or {}).get("inbox_group") == gid]
    scheduled = [
        j.id for j in _jobs_in(ins, scheduled_ids) if (j.meta or {}).get("inbox_group") == gid
    ]
    return GroupJobs(group, failed, scheduled)


def failed_of(ins: Inspector, found: GroupJobs, limit: int = 200) -> list[FailedJob]:
    """The group's jobs in the failed list as the job list shows them, newest first: the
    group page is where an operator retries or discards one of them, not the whole group."""
    newest = found.failed[::-1][:limit]  # the registry lists the oldest failure first
    return [ins.describe(job) for job in _jobs_in(ins, newest)]


@dataclass(frozen=True)
class Done:
    requeued: int = 0  # failed jobs queued again (retry) or deleted (discard)
    moved: int = 0  # scheduled retries moved to now
    polled: str = ""  # the poll job queued for a poll group

    def summary(self, verb: str) -> str:
        if self.polled:
            return f"a poll is queued ({self.polled})" + (
                f"; {self.requeued} failed poll(s) removed" if self.requeued else ""
            )
        text = f"{self.requeued} job(s) {verb}"
        return text + (f", {self.moved} scheduled retr(y/ies) moved to now" if self.moved else "")


def retry_group(ins: Inspector, gid: str) -> Done:
    """Queue the group's failed and parked jobs again and run its scheduled retries now; a
    poll group gets one poll at once. The group stays open until its tickets sync."""
    found = group_jobs(ins, gid)
    if found.group.kind is Kind.POLL:
        return Done(polled=_poll_now(ins, found.group.system))
    requeued = 0
    for job_id in found.failed:
        try:
            ins.retry(job_id)
        except OpsError:
            continue  # expired or retried by another operator meanwhile
        requeued += 1
    registry = ScheduledJobRegistry(queue=ins.queue)
    now = datetime.now(UTC)  # RQ's scheduler compares with its own clock
    moved = 0
    for job in _jobs_in(ins, found.scheduled):
        if job.id in registry:
            registry.schedule(job, now)
            moved += 1
    return Done(requeued, moved)


def discard_group(ins: Inspector, gid: str) -> Done:
    """Delete the group's failed and parked jobs for good (their tickets keep their logs) and
    close the group. Scheduled retries keep their time: they are not failures yet."""
    found = group_jobs(ins, gid)
    if found.group.kind is Kind.POLL:
        dropped = drop_failed_polls(ins.redis, found.group.system, ins.queue.name)
        inbox_of(ins).close([gid], "discarded by an operator")
        return Done(len(dropped))
    done = 0
    for job_id in found.failed:
        try:
            ins.discard(job_id)
        except OpsError:
            continue
        done += 1
    inbox_of(ins).close([gid], "discarded by an operator")
    return Done(done)


def _poll_now(ins: Inspector, system: str) -> str:
    if system not in ins.config.systems:
        raise OpsError(f"system {system!r} is not in the config any more")
    job = ins.queue.enqueue(
        POLL_SYSTEM, args=(system,), job_timeout=max(60, ins.config.job_timeout),
        failure_ttl=24 * 3600, description=f"poll {system} (asked by an operator)",
    )  # fmt: skip
    return str(job.id)
