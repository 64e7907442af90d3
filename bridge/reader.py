"""Reading what a plan is made from: tickets, comments and the store's records of a pair.

The store edge for reads: marks are parsed into their types here (`bridge.marks`), so the
planner never sees the strings they are stored as.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TypeVar, cast

from bridge.context import RouteContext
from bridge.marks import CommentMark, WriteMark, parse_comment_mark, parse_write_mark
from bridge.models import Comment, Ticket
from bridge.plan_reads import incremental, mark_keys, read_since
from bridge.protocol import Capability, Connector, ReadsTogether
from bridge.records import LinkRecord
from bridge.retry import blame
from bridge.snapshot import FirstSnapshot, NotesSnapshot, PairSnapshot
from bridge.steps import HistoryRead, Side

# Reads of the two sides are independent: fetching them side by side makes a sync cost one
# remote round trip instead of four. Threads, because the work is waiting on sockets. Shared by
# the jobs of a process (`bridge worker --threads`), up to three reads each; threads are only
# started when needed.
_READERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="bridge-read")

T = TypeVar("T")


def _blamed(system: str, read: Callable[[str], T]) -> Callable[[str], T]:
    """A read that names its system when it fails for a while (bridge.retry.blame)."""

    def call(ticket_id: str) -> T:
        with blame(system):
            return read(ticket_id)

    return call


def _read_side(
    connector: Connector, ticket_id: str, since: datetime | None
) -> Callable[[], tuple[Ticket, list[Comment]]]:
    """Start reading a side's ticket and its comments after `since` (None: all) in the
    background; the call waits for them."""
    name = connector.settings.name
    if Capability.READS_TOGETHER in connector.capabilities:
        together = partial(cast(ReadsTogether, connector).get_ticket_and_comments, since=since)
        both = _READERS.submit(_blamed(name, together), ticket_id)
        return both.result
    ticket = _READERS.submit(_blamed(name, connector.get_ticket), ticket_id)
    listed = partial(connector.list_comments, since=since)
    comments = _READERS.submit(_blamed(name, listed), ticket_id)
    return lambda: (ticket.result(), comments.result())


def read_pair(ctx: RouteContext, link: LinkRecord) -> PairSnapshot:
    """Both tickets, their comments since each side's cursor, and what the store says of
    them. Without both cursors (a pair's first sync) every comment and every mark is read."""
    state = ctx.stores.state.pair_state(link.pair)
    first_read = _read_side(ctx.first, link.first.id, read_since(state, Side.FIRST))
    second_read = _read_side(ctx.second, link.second.id, read_since(state, Side.SECOND))
    parked = ctx.stores.marks.parked_items(link.pair)
    marks = ctx.stores.marks.comment_marks(link.pair) if not incremental(state) else None
    first, first_comments = first_read()
    second, second_comments = second_read()
    if marks is None:
        marks = ctx.stores.marks.comment_marks_of(link.pair, mark_keys(
            ctx.first.settings.name, first_comments, ctx.second.settings.name, second_comments
        ))  # fmt: skip
    return PairSnapshot(
        link=link,
        first=first,
        second=second,
        first_comments=tuple(first_comments),
        second_comments=tuple(second_comments),
        marks={key: parse_comment_mark(raw) for key, raw in marks.items()},
        state=state,
        parked=parked,
    )


def read_marks(ctx: RouteContext, snap: PairSnapshot) -> dict[str, CommentMark]:
    """The marks of the comments a snapshot holds, as stored now (after its sync)."""
    keys = mark_keys(ctx.first.settings.name, snap.first_comments,
                     ctx.second.settings.name, snap.second_comments)  # fmt: skip
    raw = ctx.stores.marks.comment_marks_of(snap.link.pair, keys)
    return {key: parse_comment_mark(value) for key, value in raw.items()}


def read_first(ctx: RouteContext, ticket_id: str) -> FirstSnapshot:
    with blame(ctx.first.settings.name):
        ticket = ctx.first.get_ticket(ticket_id)
    asked = ctx.stores.waiting.missing_request(ctx.pair(ticket_id))
    mark = parse_write_mark(asked) if asked is not None else None
    return FirstSnapshot(ticket, mark, now=time.time())


def read_notes(ctx: RouteContext, first_id: str, with_items: bool = False) -> NotesSnapshot:
    """The link and the notes the agent got; with the parked items, after a sync."""
    pair = ctx.pair(first_id)
    notes = ctx.stores.notes.agent_notes(pair)
    return NotesSnapshot(
        link=ctx.stores.links.get_link(pair),
        notes={cause: parse_write_mark(raw) for cause, raw in notes.items()},
        parked=ctx.stores.marks.parked_items(pair) if with_items else {},
    )


def link_note(link: LinkRecord) -> WriteMark | None:
    """The link note's mark, from the link record (None: not written yet)."""
    return parse_write_mark(link.note_id) if link.note_id is not None else None


def read_history(ctx: RouteContext, link: LinkRecord) -> HistoryRead:
    """Both tickets once linked: their comments are history, their fields the baseline."""
    with blame(ctx.first.settings.name):
        first_comments = ctx.first.list_comments(link.first.id)
    with blame(ctx.second.settings.name):
        second_comments = ctx.second.list_comments(link.second.id)
    with blame(ctx.first.settings.name):
        first = ctx.first.get_ticket(link.first.id)
    with blame(ctx.second.settings.name):
        second = ctx.second.get_ticket(link.second.id)
    return HistoryRead(first, second, tuple(first_comments), tuple(second_comments))
