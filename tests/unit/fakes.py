"""Fakes for pure engine tests: an in-memory store and a scripted connector.

They stand in for our own protocols (the stores of bridge.records, Connector), not for Redis
or HTTP; queue and store behaviour is tested against a real Redis in tests/integration.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from bridge.errors import PermanentError, ReadOnlyTicket, RetryableError
from bridge.models import (
    Attachment,
    Comment,
    Event,
    NewComment,
    SystemRef,
    Ticket,
    TicketChanges,
    TicketDraft,
)
from bridge.protocol import Capability, SystemSettings
from bridge.records import Claim, LinkRecord, PairKey, PairStores, ParkedItem


# One time line for every fake: a comment on one side and a status change on the other compare
# by when they happened, as on real systems (the values are arbitrary, only their order counts).
class _TimeLine:
    """A second per event; `time_passes` jumps ahead (history made long ago)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __next__(self) -> float:
        self.now += 1
        return self.now


_TIME = _TimeLine()


def time_passes(seconds: float) -> None:
    """Every fake's next event happens `seconds` later."""
    _TIME.now += seconds


class WorkerDied(BaseException):
    """Stands in for SIGKILL: no except clause in the engine catches it."""


class MemoryStore:
    def __init__(self) -> None:
        self.links: dict[PairKey, LinkRecord] = {}
        self.claims: dict[PairKey, Claim] = {}
        self.asked: dict[PairKey, str] = {}
        self.entries: list[tuple[SystemRef, str, dict[str, Any]]] = []
        self.states: dict[PairKey, dict[str, str]] = {}
        self.marks: dict[PairKey, dict[str, str]] = {}
        self.items: dict[PairKey, dict[str, ParkedItem]] = {}
        self.notes: dict[PairKey, dict[str, str]] = {}

    def pair_state(self, pair: PairKey) -> dict[str, str]:
        return dict(self.states.get(pair, {}))

    def set_pair_state(self, pair: PairKey, state: Mapping[str, str]) -> None:
        self.states.setdefault(pair, {}).update(state)

    def comment_marks(self, pair: PairKey) -> dict[str, str]:
        return dict(self.marks.get(pair, {}))

    def comment_marks_of(self, pair: PairKey, keys: Iterable[str]) -> dict[str, str]:
        marks = self.marks.get(pair, {})
        return {key: marks[key] for key in keys if key in marks}

    def mark_comment(self, pair: PairKey, key: str, value: str) -> None:
        self.marks.setdefault(pair, {})[key] = value

    def parked_items(self, pair: PairKey) -> dict[str, ParkedItem]:
        return dict(self.items.get(pair, {}))

    def park_item(
        self,
        pair: PairKey,
        key: str,
        reason: str,
        at: datetime,
        while_status: str = "",
    ) -> ParkedItem:
        items = self.items.setdefault(pair, {})
        old = items.get(key)
        seen = at.isoformat()
        if old is not None and old.reason == reason:
            items[key] = replace(old, count=old.count + 1, last_seen=seen,
                                 while_status=while_status)  # fmt: skip
        else:
            items[key] = ParkedItem(key, reason, 1, seen, seen, while_status)
        return items[key]

    def unpark_item(self, pair: PairKey, key: str) -> None:
        self.items.get(pair, {}).pop(key, None)

    def agent_notes(self, pair: PairKey) -> dict[str, str]:
        return dict(self.notes.get(pair, {}))

    def set_agent_note(self, pair: PairKey, cause: str, value: str) -> None:
        self.notes.setdefault(pair, {})[cause] = value

    def clear_agent_notes(self, pair: PairKey, causes: Iterable[str]) -> None:
        for cause in causes:
            self.notes.get(pair, {}).pop(cause, None)

    def get_link(self, pair: PairKey) -> LinkRecord | None:
        return self.links.get(pair)

    def save_link(self, link: LinkRecord) -> None:
        self.links[link.pair] = link

    def update_link(self, pair: PairKey, **changes: Any) -> None:
        self.links[pair] = replace(self.links[pair], **changes)

    def claim_escalation(self, pair: PairKey, owner: str) -> Claim | None:
        existing = self.claims.get(pair)
        if existing:
            return existing
        self.claims[pair] = Claim(owner, time.time())
        return None

    def release_claim(self, pair: PairKey) -> None:
        self.claims.pop(pair, None)

    def take_over_claim(self, pair: PairKey, owner: str) -> None:
        self.claims[pair] = Claim(owner, time.time())

    def set_missing_request(self, pair: PairKey, mark: str | None) -> None:
        if mark is None:
            self.asked.pop(pair, None)
        else:
            self.asked[pair] = mark

    def missing_request(self, pair: PairKey) -> str | None:
        return self.asked.get(pair)

    def add(self, ref: SystemRef, action: str, detail: Mapping[str, Any] | None = None) -> None:
        self.entries.append((ref, action, dict(detail or {})))

    def actions(self) -> list[str]:
        return [a for _, a, _ in self.entries]

    def as_stores(self) -> PairStores:
        """This one object as every store a sync works with, so it holds (and shows) all
        that a sync recorded."""
        return PairStores(self, self, self, self, self, self, self)


@dataclass
class FakeConnector:
    """Keeps tickets and comments in dicts and records every write."""

    name: str
    kind: str = "fake"
    bridge_user: str = "99"
    tickets: dict[str, Ticket] = field(default_factory=dict)
    comments: dict[str, list[Comment]] = field(default_factory=dict)
    writes: list[tuple[str, Any]] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)
    # Comments whose text contains one of these are refused for good (403), the rest go in.
    refuse_text: set[str] = field(default_factory=set)
    refuse_status: int = 403
    refusals: list[str] = field(default_factory=list)  # bodies of the comments refused
    # Writes that happen but whose answer is lost (timeout after the server did the work) ...
    applied_then_timeout: set[str] = field(default_factory=set)
    # Writes after which the worker process dies (SIGKILL): nothing after them runs.
    die_after: set[str] = field(default_factory=set)
    # ... and writes whose answer is lost before the server did anything.
    timeout_before: set[str] = field(default_factory=set)
    capabilities: frozenset[Capability] = frozenset()
    # MantisBT's reassign_on_feedback: a note by the bridge (the reporter of what it escalates)
    # on an issue in `feedback` sets the issue to this status (real: `new`, or `assigned`).
    reporter_note_flips_to: str | None = None
    # MantisBT below MANAGER: an issue in one of these statuses refuses notes and updates (403).
    read_only: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    uploaded: list[tuple[str, bytes]] = field(default_factory=list)
    clock: float = 1_000_000.0
    # Each list_comments: where it started (None: all) and how many comments it returned.
    comment_reads: list[tuple[datetime | None, int]] = field(default_factory=list)
    recent_read: int = 0  # comments recent_comments handed out, newest first
    max_attachment_bytes: int = 5 * 1024 * 1024  # bridge.protocol.Connector's limit

    def __post_init__(self) -> None:
        self.settings = SystemSettings(
            name=self.name, type=self.kind, url=f"https://{self.name}.example",
            bridge_user=self.bridge_user,
        )  # fmt: skip
        self._ids = itertools.count(100)

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail_on:
            raise PermanentError(f"{op} refused by fake", 422)
        if op in self.timeout_before:
            self.timeout_before.discard(op)
            raise RetryableError(f"{op}: read timeout", maybe_applied=True)

    def _maybe_lose_answer(self, op: str) -> None:
        if op in self.die_after:
            self.die_after.discard(op)
            raise WorkerDied(f"process killed right after {op}")
        if op in self.applied_then_timeout:
            self.applied_then_timeout.discard(op)
            raise RetryableError(f"{op}: read timeout", maybe_applied=True)

    def fetch_attachment(self, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
        data = self.files[attachment.id or ""]
        if len(data) > max_bytes:
            raise PermanentError("too large", 413)
        dest.write(data)
        return len(data)

    def say(self, ticket_id: str, author: str, body: str, public: bool = True,
            files: tuple[Attachment, ...] = ()) -> Comment:  # fmt: skip
        """Someone (not the bridge) comments on this side."""
        self.clock = next(_TIME)
        comment = Comment(
            str(next(self._ids)), body, public, author_id=author, author_name=f"User {author}",
            created_at=datetime.fromtimestamp(self.clock, UTC), attachments=files,
        )  # fmt: skip
        self.comments.setdefault(ticket_id, []).append(comment)
        return comment

    def set(self, ticket_id: str, **changes: Any) -> None:
        """Someone (not the bridge) changes status/priority on this side."""
        self.clock = next(_TIME)
        self.tickets[ticket_id] = replace(
            self.tickets[ticket_id], updated_at=datetime.fromtimestamp(self.clock, UTC), **changes
        )

    def find_created(self, source_url: str, since: datetime) -> Ticket | None:
        for t in self.tickets.values():
            if source_url in t.description:
                return t
        return None

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        return None

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        return []

    def get_ticket(self, ticket_id: str) -> Ticket:
        return self.tickets[ticket_id]

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        self._maybe_fail("create")
        new_id = str(next(self._ids))
        ticket = Ticket(
            ref=SystemRef(self.name, new_id), subject=draft.subject,
            description=draft.description, priority=draft.priority,
            fields=dict(draft.fields), url=self.ticket_url(new_id),
        )  # fmt: skip
        self.tickets[new_id] = ticket
        self.writes.append(("create", draft))
        self._maybe_lose_answer("create")
        return ticket

    def _refuse_read_only(self, ticket_id: str, what: str) -> None:
        if self.tickets[ticket_id].status in self.read_only:
            raise ReadOnlyTicket(
                f"{what} refused: 403 Issue '{ticket_id}' is read-only.", ticket_id
            )

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        self._maybe_fail("update")
        self._refuse_read_only(ticket_id, "update")
        t = self.tickets[ticket_id]
        self.clock = next(_TIME)
        t = replace(
            t,
            updated_at=datetime.fromtimestamp(self.clock, UTC),
            status=changes.status or t.status,
            priority=changes.priority or t.priority,
            external_id=changes.external_id or t.external_id,
            fields={**t.fields, **changes.fields},
        )
        self.tickets[ticket_id] = t
        self.writes.append(("update", changes))
        return t

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        self._maybe_fail("comment")
        if any(text in comment.body for text in self.refuse_text):
            status = self.refuse_status
            self.refusals.append(comment.body)
            raise PermanentError(f"add note failed: {status} refused: access denied", status)
        if ticket_id in self.tickets:
            self._refuse_read_only(ticket_id, "add note")
        cid = str(next(self._ids))
        self.clock = next(_TIME)
        stored = tuple(
            Attachment(a.filename, size=a.size, id=f"{cid}-{i}")
            for i, a in enumerate(comment.attachments)
        )
        for a in comment.attachments:
            assert a.path is not None
            self.uploaded.append((a.filename, Path(a.path).read_bytes()))
        self.comments.setdefault(ticket_id, []).append(
            Comment(cid, comment.body, comment.public, author_id=self.bridge_user,
                    created_at=datetime.fromtimestamp(self.clock, UTC), attachments=stored)
        )  # fmt: skip
        self.writes.append(("comment", comment))
        flipped = self.tickets.get(ticket_id)
        if self.reporter_note_flips_to and flipped is not None and flipped.status == "feedback":
            self.tickets[ticket_id] = replace(flipped, status=self.reporter_note_flips_to)
        self._maybe_lose_answer("comment")
        return cid

    def stored_text(self, text: str) -> str:
        return text

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        comments = self.comments.get(ticket_id, [])
        if since is not None:
            comments = [c for c in comments if c.created_at is None or c.created_at > since]
        self.comment_reads.append((since, len(comments)))
        return list(comments)

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        for comment in reversed(self.comments.get(ticket_id, [])):
            self.recent_read += 1
            yield comment

    def ticket_url(self, ticket_id: str) -> str:
        return f"https://{self.name}.example/t/{ticket_id}"
