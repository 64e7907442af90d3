"""Where a pair's comment reads start (bridge.plan_reads), as tables: the snapshot a sync read
and the marks it left -> the cursor steps; then the cursor rules end to end with the fakes:
an open comment older than everything new is still found, reads start at the cursor, and the
lookup for a lost write reads newest first and stops at it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.engine import handle_first_level
from bridge.errors import RetryableError
from bridge.marks import CommentMark, Copied, Echo, History, Parked, Skipped, Unsure
from bridge.models import Attachment, Comment
from bridge.plan_reads import OVERLAP, advance_reads, cursor_key, incremental, mark_keys, read_since
from bridge.records import PairKey
from bridge.snapshot import PairSnapshot
from bridge.steps import MarkComment, SetPairState, Side, Step, preview
from bridge.sync import release_parked
from tests.unit.fakes import FakeConnector, time_passes
from tests.unit.test_planner import FACTS, FIRST, LINK, SECOND, said
from tests.unit.test_sync import CUSTOMER, DEV, linked

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
FIRST_FROM, SECOND_FROM = cursor_key(Side.FIRST), cursor_key(Side.SECOND)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def comment(n: int, minutes: int, who: str = "501") -> Comment:
    return replace(said(who, f"comment {n}", n), created_at=T0 + timedelta(minutes=minutes))


# Cursors one minute before the last comments below: the snapshot read from them.
CURSORS = {FIRST_FROM: at(10), SECOND_FROM: at(10)}


@dataclass(frozen=True)
class Row:
    first: tuple[Comment, ...] = ()
    second: tuple[Comment, ...] = ()
    state: Mapping[str, str] | None = None  # None: the cursors above
    before: Mapping[str, CommentMark] | None = None  # the marks the snapshot read
    after: Mapping[str, CommentMark] | None = None  # the marks once the sync is done
    steps: tuple[Step, ...] = ()


def run(row: Row) -> list[Step]:
    state = CURSORS if row.state is None else row.state
    snap = PairSnapshot(LINK, FIRST, SECOND, row.first, row.second, row.before or {}, state)
    steps, _ = preview(advance_reads(FACTS, snap, row.after or {}))
    return steps


ROWS = {
    "the first sync sets both cursors at the newest comment read": Row(
        (comment(1, 0), comment(2, 11)), (comment(3, 5),), state={},
        after={"helpdesk:1": History(), "helpdesk:2": Copied("vendor:9"),
               "vendor:3": Copied("helpdesk:8")},
        steps=(SetPairState({FIRST_FROM: at(11), SECOND_FROM: at(5)}),)),
    "a side without comments at its first read is read in full from then on": Row(
        (comment(1, 0),), (), state={}, after={"helpdesk:1": History()},
        steps=(SetPairState({FIRST_FROM: at(0),
                             SECOND_FROM: datetime(1970, 1, 1, tzinfo=UTC).isoformat()}),)),
    "nothing new since the cursor: it stands": Row(),
    "the newest comment is where the cursor is: nothing to write": Row(
        (comment(1, 10),), after={"helpdesk:1": Copied("vendor:9")}),
    "copied, skipped, history and the bridge's own move the cursor on": Row(
        (comment(1, 10), comment(2, 11, who="99"), comment(3, 12)), (comment(4, 13),),
        after={"helpdesk:1": Copied("vendor:9"), "helpdesk:3": Skipped(),
               "vendor:4": Echo("helpdesk:7")},
        steps=(SetPairState({FIRST_FROM: at(12), SECOND_FROM: at(13)}),)),
    "an unsure comment holds the cursor at it": Row(
        (comment(1, 11), comment(2, 12)),
        after={"helpdesk:1": Unsure(), "helpdesk:2": Copied("vendor:9")},
        steps=(SetPairState({FIRST_FROM: at(11)}),)),
    "a parked comment holds it, however many come after": Row(
        (comment(1, 10), comment(2, 11), comment(3, 12)),
        after={"helpdesk:1": Parked("f00"), "helpdesk:2": Copied("vendor:9"),
               "helpdesk:3": Copied("vendor:10")}),
    "the oldest of two open comments holds it": Row(
        (), (comment(1, 11), comment(2, 12), comment(3, 13)),
        after={"vendor:1": Copied("helpdesk:9"), "vendor:2": Parked("f00"),
               "vendor:3": Unsure()},
        steps=(SetPairState({SECOND_FROM: at(12)}),)),
    "after a full read, a copy in the next window that only its source names is marked": Row(
        (comment(1, 0), comment(2, 11, who="502")), (comment(3, 12),), state={},
        before={"vendor:3": Copied("helpdesk:2")}, after={"vendor:3": Copied("helpdesk:2")},
        steps=(MarkComment("helpdesk:2", Echo("vendor:3")),
               SetPairState({FIRST_FROM: at(11), SECOND_FROM: at(12)}))),
    "older copies stay out of every later read: no mark": Row(
        (comment(1, 0, who="502"), comment(2, 30)), (), state={},
        before={"vendor:3": Copied("helpdesk:1"), "vendor:4": Copied("helpdesk:2")},
        after={"helpdesk:2": Echo("vendor:4")},
        steps=(SetPairState({FIRST_FROM: at(30),
                             SECOND_FROM: datetime(1970, 1, 1, tzinfo=UTC).isoformat()}),)),
    "a read from a cursor marks no copy (it never had every mark)": Row(
        (comment(2, 11, who="502"),), before={"vendor:3": Copied("helpdesk:2")},
        steps=(SetPairState({FIRST_FROM: at(11)}),)),
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_cursor_plans(row: Row) -> None:
    assert run(row) == list(row.steps)


def test_a_read_starts_an_overlap_before_the_cursor() -> None:
    assert read_since(CURSORS, Side.FIRST) == T0 + timedelta(minutes=10) - OVERLAP
    assert read_since({}, Side.FIRST) is None
    assert read_since({FIRST_FROM: "not a time"}, Side.FIRST) is None  # a full read repairs it
    assert incremental(CURSORS) and not incremental({FIRST_FROM: at(1)})


def test_a_plan_looks_at_the_marks_of_what_it_read_and_of_their_file_notes() -> None:
    with_file = replace(comment(2, 1), attachments=(Attachment("log.txt"),))
    assert mark_keys("helpdesk", (comment(1, 0), with_file), "vendor", (comment(3, 2),)) == [
        "helpdesk:1", "helpdesk:2", "helpdesk:2#files", "vendor:3"
    ]  # fmt: skip


# End to end with the fakes ------------------------------------------------------------------
def copies(connector: FakeConnector, ticket_id: str, text: str) -> int:
    return sum(c.body.endswith(f"\n\n{text}") for c in connector.comments.get(ticket_id, []))


def long_ago(connector: FakeConnector, ticket_id: str, who: str, n: int) -> None:
    """`n` comments ten minutes apart, then an hour of quiet: a history, not a burst."""
    for i in range(n):
        connector.say(ticket_id, who, f"old {i}")
        time_passes(600)
    time_passes(3600)


def test_later_syncs_read_from_the_cursor_and_copy_each_comment_once() -> None:
    ctx, first, second, _, issue = linked()
    long_ago(first, "1", CUSTOMER, 30)
    assert first.comment_reads[0][0] is None  # the escalation's sync read everything
    handle_first_level(ctx, "1")
    assert first.comment_reads[-1][1] > 30  # every one is new to the bridge
    first.say("1", CUSTOMER, "new one")
    second.say(issue, DEV, "Which version?")
    handle_first_level(ctx, "1")  # reads the vendor side's copies of before once more
    time_passes(3600)
    first.say("1", CUSTOMER, "newer one")
    handle_first_level(ctx, "1")
    # The copies of a burst (the 30 made in one sync) stay in the overlap before the newest
    # comment until a later one is read: the copy of "newer one", an hour on, is read here...
    handle_first_level(ctx, "1")
    handle_first_level(ctx, "1")  # ... and from now on nothing old is read again

    for text in ("old 0", "old 29", "new one", "newer one"):
        assert copies(second, issue, text) == 1
    assert copies(first, "1", "Which version?") == 1
    for side in (first, second):
        since, returned = side.comment_reads[-1]
        assert since is not None and returned <= 3  # the history is not read again


def test_a_parked_comment_holds_the_cursor_and_is_copied_once_when_released() -> None:
    ctx, first, second, store, issue = linked()
    second.refuse_text = {"secret"}
    parked = first.say("1", CUSTOMER, "the secret log")
    handle_first_level(ctx, "1")
    assert store.parked_items(PairKey("acme", "1"))
    time_passes(3600)
    long_ago(first, "1", CUSTOMER, 5)
    handle_first_level(ctx, "1")
    assert copies(second, issue, "old 4") == 1
    held = store.pair_state(PairKey("acme", "1"))[FIRST_FROM]
    assert held == parked.created_at.isoformat()  # type: ignore[union-attr]

    second.refuse_text = set()
    release_parked(store, PairKey("acme", "1"))  # the operator's resync
    handle_first_level(ctx, "1")
    assert copies(second, issue, "the secret log") == 1
    assert store.pair_state(PairKey("acme", "1"))[FIRST_FROM] > held  # settled: the cursor moves on
    handle_first_level(ctx, "1")
    assert copies(second, issue, "the secret log") == 1


def test_a_lost_answer_is_looked_for_newest_first_without_reading_the_history() -> None:
    ctx, first, second, _, issue = linked()
    long_ago(second, issue, DEV, 40)
    handle_first_level(ctx, "1")  # 40 vendor notes reach the agent
    handle_first_level(ctx, "1")
    first.say("1", CUSTOMER, "Retest failed.")
    second.applied_then_timeout = {"comment"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1")  # written, but the answer was lost
    read_before = second.recent_read
    handle_first_level(ctx, "1")  # the retry looks first
    assert copies(second, issue, "Retest failed.") == 1
    assert second.recent_read - read_before == 1  # found as the newest, nothing else read


def test_the_bridge_s_copies_are_marked_so_a_read_from_a_cursor_knows_them() -> None:
    ctx, _, second, store, issue = linked()
    second.say(issue, DEV, "Which version?")
    handle_first_level(ctx, "1")
    marks = store.comment_marks(PairKey("acme", "1"))
    (source,) = [k for k in marks if k.startswith("vendor:")]
    copy = marks[source]
    assert marks[copy] == "=" + source  # the copy's own mark names its source
