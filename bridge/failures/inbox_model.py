"""What the failure inbox talks about: a failed attempt, the group it counts into, and the
filter a list of groups is read with.

The failed registry is a log: one row per job, so a revoked token is one identical row per
ticket and an unreachable tracker one failed poll a minute. The inbox keeps one *group* per
(kind, system, cause) instead (bridge.failures.causes says what a cause is), with a count, first and
last seen, the tickets it affects and what happens next. A group closes by itself when every
ticket in it has synced since, or (a poll group) when its system polls fine again; the next
failure of the same cause opens a new episode of it.

Plain values, apart from the store that keeps them (bridge.failures.inbox): the RQ callbacks, the
queue-side actions, the alerts, the console and the CLI all speak in these, and most of them
never write a group.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from bridge.failures.causes import Cause


class Kind(enum.Enum):
    """What failed: a ticket pair's sync job, or the poll of a system."""

    SYNC = "sync"
    POLL = "poll"


class Outcome(enum.Enum):
    """What happens next to the latest failure of a group."""

    RETRYING = "retrying"  # RQ runs it again on its schedule (a poll: the next cron poll)
    PARKED = "parked"  # stopped on purpose with a reason: fix the cause, then retry
    FAILED = "failed"  # unexpected error, out of retries: retry by hand


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as the RQ callbacks and the poller report it."""

    kind: Kind
    system: str
    cause: Cause
    reason: str
    outcome: Outcome
    at: datetime
    route: str = ""
    ticket: str = ""  # the pair's first-level id ("" for a poll)
    job_id: str = ""
    attempts: int = 0
    waits_for: str = ""


def group_id(kind: Kind, system: str, cause: Cause) -> str:
    """Stable over restarts: the same cause of the same system is always the same group."""
    digest = hashlib.sha256(f"{kind.value}|{system}|{cause.text}".encode()).hexdigest()[:10]
    return f"{system}-{digest}"


@dataclass(frozen=True)
class Group:
    id: str
    kind: Kind
    system: str
    error: str
    detail: str
    status: int | None
    reason: str  # the latest failure's whole reason
    outcome: Outcome
    count: int  # failed attempts (or polls) in this episode
    tickets: int  # distinct tickets in this episode
    open_tickets: int  # of those, not synced since
    first_seen: str
    last_seen: str
    routes: tuple[str, ...]
    state: str  # open or closed
    closed_at: str = ""
    closed_why: str = ""
    attempts: int = 0  # the latest failure's attempt number (its job's failed tries)
    waits_for: str = ""
    last_job: str = ""
    sample: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # newest (route, ticket)

    @property
    def cause(self) -> str:
        return f"{self.error}: {self.detail}" if self.detail else self.error

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def seen_age(self, now: datetime) -> tuple[float, float]:
        """Seconds since first and last seen."""
        return (_age(self.first_seen, now), _age(self.last_seen, now))


def _age(iso: str, now: datetime) -> float:
    try:
        return max(0.0, (now - datetime.fromisoformat(iso)).total_seconds())
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Filter:
    """Which groups a list shows. `tickets`: (route, first-level id) pairs, any of which the
    group must hold; ages are seconds since the group was first seen."""

    route: str = ""
    system: str = ""
    tickets: tuple[tuple[str, str], ...] = ()
    newer_than: float | None = None
    older_than: float | None = None

    @property
    def active(self) -> bool:
        return bool(self.route or self.system or self.tickets) or (
            self.newer_than is not None or self.older_than is not None
        )

    def admits(self, g: Group, held: set[str] | None, now: datetime) -> bool:
        """`held`: the ids of the groups the filter's tickets currently fail in (the store
        looks them up), None when the filter names no ticket."""
        if self.system and g.system != self.system:
            return False
        if self.route and self.route not in g.routes:
            return False
        if held is not None and g.id not in held:
            return False
        first_age, _ = g.seen_age(now)
        if self.newer_than is not None and first_age > self.newer_than:
            return False
        return not (self.older_than is not None and first_age < self.older_than)
