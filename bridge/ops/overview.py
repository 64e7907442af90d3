"""What the operator console and `bridge status` are shown: the records Inspector reads.

Plain frozen data, kept apart from the reader that fills them from Redis and RQ
(bridge.ops.inspect): what each field means is looked up here by everything that formats
them (`bridge status`, `bridge failed`, the console's job detail and failure inbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.models import SystemRef
from bridge.records import LinkRecord, ParkedItem


@dataclass(frozen=True)
class WorkerInfo:
    """An RQ worker registration. `heartbeat_age` is the age of the bridge worker's pulse
    (every few seconds, also while idle; RQ's own heartbeat is only written every few minutes
    when idle), or of RQ's heartbeat for a worker that keeps no pulse (a plain `rq worker`).
    `alive` is False for a registration whose pulse has expired: a killed worker that RQ has
    not cleaned away yet."""

    name: str
    state: str
    current_job: str | None
    heartbeat_age: float | None
    alive: bool = True


@dataclass(frozen=True)
class QueueOverview:
    name: str
    queued: int
    started: int
    scheduled: int
    deferred: int
    failed: int
    parked: int
    workers: list[WorkerInfo]  # the live ones
    stale_workers: list[WorkerInfo] = field(default_factory=list)  # registered, pulse expired
    waiting_slot: int = 0  # held back until the job before them on their ticket is done


@dataclass(frozen=True)
class FailedJob:
    """A job in RQ's failed registry, parked or failed (see bridge.jobs for the two words).

    parked: the bridge stopped on purpose with a reason to act on (a permanent error, or a
    passing fault past the retry horizon: "gave up after ..."); failed: an unexpected
    exception or a job RQ killed. `waits_for` names the system a gave-up pair waits for: it is
    queued again by itself once that system answers a poll.
    """

    id: str
    parked: bool
    reason: str
    system: str
    ticket: str
    route: str
    received_at: str
    age: float | None
    description: str
    waits_for: str = ""
    attempts: int = 0  # failed attempts counted by the job (passing faults), 0 if none
    group: str = ""  # its failure-inbox group (bridge.failures.inbox), "" if not recorded
    cause: str = ""  # the group's normalised cause

    @property
    def ref(self) -> str:
        return f"{self.system}#{self.ticket}" if self.ticket else self.system


@dataclass(frozen=True)
class SourceHealth:
    """When a system was last heard from, and whether that is too long ago."""

    system: str
    type: str
    mode: str
    last_seen: str | None
    silent_for: float | None
    threshold: int
    poll_last_ok: str | None
    poll_lag: float | None

    @property
    def alert(self) -> bool:
        return self.silent_for is None or self.silent_for > self.threshold


@dataclass(frozen=True)
class Match:
    """One ticket the search found: its link (if any) and its story, oldest first."""

    ref: SystemRef
    route: str | None
    link: LinkRecord | None
    waiting: dict[str, Any] | None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    not_copied: list[ParkedItem] = field(default_factory=list)  # comments refused for good
