"""Where a pair's comment reads start: a cursor per side, and the plan that moves it.

A sync used to read every comment of both tickets, so its cost grew with the ticket's history
(at 1,000 old comments, 14 requests instead of 4). Now each side has a cursor in the pair
state: the creation time the next read starts from (`read_since`). The connector reads only
what is newer (Zendesk pages newest first and stops; a system whose ticket read carries every
comment skips the older ones unparsed), and the reader fetches only those comments' marks.

The rules that keep every comment exactly-once:

- **A cursor never passes an open comment.** A comment whose mark is unsure (a write that may
  have happened) or parked (refused, waiting for its source to change, the operator or the
  issue to reopen) must be found again by a later sync, so the cursor stops at the oldest
  such comment; otherwise it moves to the newest comment read. Everything before a cursor is
  settled for good: copied, skipped, history, or the bridge's own.
- **Reads overlap.** A read starts `OVERLAP` before the cursor: a comment stamped before the
  newest one read but visible only later (a vendor request that stamps, then commits) is still
  found; the marks of what is read again tell it is done.
- **Only after a sync that finished.** The cursor moves in a plan of its own, after the pair's
  plan completed, on the marks as they are stored then; a sync that fails or dies leaves it.
- **No cursor, full read.** A pair without one (linked before cursors, or never synced) reads
  everything and all its marks, as before; its first sync sets the cursors. The bridge's own
  copies it knows only from the marks of their sources get a mark of their own (`Echo`) when
  they are in the next read's window, since that read sees only the marks of what it reads
  (copies made since are marked so when they are written).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from bridge.marks import CommentMark, Copied, Echo, Parked, Unsure, item_key
from bridge.models import Comment
from bridge.snapshot import PairSnapshot, RouteFacts
from bridge.steps import MarkComment, Plan, SetPairState, Side

# Longer than a vendor takes between stamping a comment and committing it (PHP's default
# max_execution_time is 30 s, Zendesk ends API requests after 60 s); a read costs the
# comments of this long before the newest one, which are few and all marked.
OVERLAP = timedelta(minutes=2)
# The cursor of a side that had no comments at its first read: everything after it is new.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cursor_key(side: Side) -> str:
    """The pair-state key of a side's cursor."""
    return f"{side}_comments_from"


def read_since(state: Mapping[str, str], side: Side) -> datetime | None:
    """Where a read of this side starts (exclusive); None: read everything."""
    raw = state.get(cursor_key(side))
    if not raw:
        return None
    try:
        cursor = datetime.fromisoformat(raw)
    except ValueError:  # not one the bridge wrote: a full read sets it right
        return None
    if cursor.tzinfo is None:
        cursor = cursor.replace(tzinfo=UTC)
    return cursor - OVERLAP


def incremental(state: Mapping[str, str]) -> bool:
    """Whether both sides read from a cursor (else the sync reads all comments and marks)."""
    return all(read_since(state, side) is not None for side in Side)


def mark_keys(first: str, first_comments: Iterable[Comment], second: str,
              second_comments: Iterable[Comment]) -> list[str]:  # fmt: skip
    """The marks a plan of these comments looks at: each comment's, and the note naming the
    files its copy lost (only a comment with files has one)."""
    keys: list[str] = []
    for system, comments in ((first, first_comments), (second, second_comments)):
        for comment in comments:
            key = item_key(system, comment.id)
            keys.append(key)
            if comment.attachments:
                keys.append(f"{key}#files")
    return keys


def advance_reads(
    facts: RouteFacts, snap: PairSnapshot, marks: Mapping[str, CommentMark]
) -> Plan[None]:
    """Move each side's cursor after a sync of `snap` finished; `marks` are the marks of the
    comments it read, as stored now."""
    cursors: dict[str, str] = {}
    for side, system, comments in (
        (Side.FIRST, facts.first.settings.name, snap.first_comments),
        (Side.SECOND, facts.second.settings.name, snap.second_comments),
    ):
        key = cursor_key(side)
        full = read_since(snap.state, side) is None
        dated = [c for c in comments if c.created_at is not None]
        opened = [
            c for c in dated if isinstance(marks.get(item_key(system, c.id)), Unsure | Parked)
        ]
        if opened:
            at = min(c.created_at or _EPOCH for c in opened)
        elif dated:
            at = max(c.created_at or _EPOCH for c in dated)
        elif not full:
            continue  # nothing read since the cursor: it stands
        else:
            at = _EPOCH
        if full:
            yield from _mark_known_copies(system, dated, at, snap.marks, marks)
        value = at.astimezone(UTC).isoformat()
        if snap.state.get(key) != value:
            cursors[key] = value
    if cursors:
        yield SetPairState(cursors)


def _mark_known_copies(
    system: str,
    comments: list[Comment],
    cursor: datetime,
    every_mark: Mapping[str, CommentMark],
    marks: Mapping[str, CommentMark],
) -> Plan[None]:
    """After a full read: the bridge's copies in the next read's window that only their
    sources' marks name (made before copies were marked themselves) get an `Echo` mark."""
    sources = {m.key: key for key, m in every_mark.items() if isinstance(m, Copied)}
    for comment in comments:
        key = item_key(system, comment.id)
        created = comment.created_at or _EPOCH
        if key in sources and key not in marks and created >= cursor - OVERLAP:
            yield MarkComment(key, Echo(sources[key]))
