"""The records the bridge keeps per pair, and the store protocols the engine's edge speaks.

Plain data with no Redis in sight, so the planner and its tests can use them without loading a
client; the stores in `bridge.stores` implement the protocols on Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bridge.models import SystemRef


@dataclass(frozen=True, order=True)
class PairKey:
    """Names one pair the bridge keeps in step: a route and its first-level ticket.

    The first-level id is known from the first event on, before any link exists, so every
    record of the pair (link, marks, state, claim, notes) is kept under it; the second-level
    ticket is found through the link. One value instead of two loose strings, so a route
    cannot be passed where a ticket id was meant.
    """

    route: str
    first_id: str


@dataclass(frozen=True)
class LinkRecord:
    """A stored escalation plus the follow-up writes already done (so a retry finishes them)."""

    route: str
    first: SystemRef
    second: SystemRef
    second_url: str
    created_at: str
    first_marked: bool = False
    note_id: str | None = None
    history_marked: bool = False

    @property
    def pair(self) -> PairKey:
        return PairKey(self.route, self.first.id)


@dataclass(frozen=True)
class Claim:
    owner: str
    at: float


@dataclass(frozen=True)
class ParkedItem:
    """A comment the bridge stopped copying on purpose: one entry per item and cause.

    The same cause seen again bumps `count` and `last_seen` instead of adding an entry, so an
    operator reads "403 Forbidden, 4 times, last at ..." rather than a page of repeats.
    """

    key: str  # the source comment key ("<system>:<id>")
    reason: str
    count: int
    first_seen: str
    last_seen: str
    # Refused because the target ticket was read-only in this status (a resolved MantisBT issue
    # below MANAGER): tried again by itself once the ticket leaves it. Empty: waits for a resync.
    while_status: str = ""


# What the engine's edge (bridge.reader, bridge.executor) needs from storage, one protocol per
# store: Redis in production (bridge.stores), dicts in pure unit tests.
class Links(Protocol):
    def get_link(self, pair: PairKey) -> LinkRecord | None: ...

    def save_link(self, link: LinkRecord) -> None: ...

    def update_link(self, pair: PairKey, **changes: Any) -> None: ...


class Claims(Protocol):
    def claim_escalation(self, pair: PairKey, owner: str) -> Claim | None:
        """Take the claim; None when taken, else the claim that blocks us."""

    def release_claim(self, pair: PairKey) -> None: ...

    def take_over_claim(self, pair: PairKey, owner: str) -> None: ...


class MissingRequests(Protocol):
    def set_missing_request(self, pair: PairKey, mark: str | None) -> None:
        """Store the mark of the data asked for (None: nothing asked)."""

    def missing_request(self, pair: PairKey) -> str | None:
        """The fingerprint last asked for (UNSURE-prefixed while the request is being written)."""


class PairStates(Protocol):
    def pair_state(self, pair: PairKey) -> dict[str, str]:
        """Status/priority of both sides as last seen or written by the bridge ({} if new)."""

    def set_pair_state(self, pair: PairKey, state: Mapping[str, str]) -> None: ...


class ItemMarks(Protocol):
    def comment_marks(self, pair: PairKey) -> dict[str, str]:
        """Source comment key ("<system>:<id>") -> its mark as stored (`bridge.marks` parses it)."""

    def comment_marks_of(self, pair: PairKey, keys: Iterable[str]) -> dict[str, str]:
        """The marks of just these keys (those without a mark are left out): what an
        incremental read needs, at a cost that does not grow with the pair's history."""

    def mark_comment(self, pair: PairKey, key: str, value: str) -> None: ...

    def parked_items(self, pair: PairKey) -> dict[str, ParkedItem]:
        """Items of the pair that are not copied, by source comment key."""

    def park_item(
        self, pair: PairKey, key: str, reason: str, at: datetime, while_status: str = ""
    ) -> ParkedItem:
        """Record that an item is not copied; the same reason again bumps its count."""

    def unpark_item(self, pair: PairKey, key: str) -> None: ...


class AgentNotes(Protocol):
    def agent_notes(self, pair: PairKey) -> dict[str, str]:
        """Cause -> id of the note that told the agent (UNSURE while it is being written)."""

    def set_agent_note(self, pair: PairKey, cause: str, value: str) -> None: ...

    def clear_agent_notes(self, pair: PairKey, causes: Iterable[str]) -> None: ...


class TicketLog(Protocol):
    def add(self, ref: SystemRef, action: str, detail: Mapping[str, Any] | None = None) -> None:
        """One entry in the ticket's sync log."""


@dataclass(frozen=True)
class PairStores:
    """The stores one sync works with, each its own object: Redis ones in production
    (`bridge.stores.Stores` adds the intake's and the gave-up sets), fakes in unit tests."""

    links: Links
    claims: Claims
    waiting: MissingRequests
    state: PairStates
    marks: ItemMarks
    notes: AgentNotes
    log: TicketLog
