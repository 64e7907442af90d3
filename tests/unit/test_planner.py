"""The engine's plans as tables: a snapshot (and the answers the systems give) -> the steps.

No connector, no store: the planner sees systems only as descriptions, and `preview` answers
each step (every write done, unless a row says otherwise).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from bridge.errors import PermanentError, ReadOnlyTicket, RetryableError
from bridge.mapping import Visibility
from bridge.marks import (
    EXPECT,
    CommentMark,
    Copied,
    History,
    Parked,
    Skipped,
    Unsure,
    Written,
    format_comment_mark,
    format_write_mark,
    parse_comment_mark,
    parse_write_mark,
)
from bridge.models import Comment, Event, EventKind, SystemRef, Ticket, TicketChanges
from bridge.pair_status import seen
from bridge.plan_comments import _fingerprint
from bridge.plan_escalation import _fingerprint as gaps_fingerprint
from bridge.plan_escalation import finish_escalation, own_event, plan_first_level
from bridge.plan_notes import NoteCause, job_stuck, tell_about_items
from bridge.plan_sync import plan_pair
from bridge.protocol import Capability, SystemSettings
from bridge.records import Claim, LinkRecord, ParkedItem
from bridge.rules import check_required
from bridge.snapshot import FirstSnapshot, NotesSnapshot, PairSnapshot, RouteFacts
from bridge.steps import (
    Action,
    Blocked,
    Created,
    CreateTicket,
    DataRequestSlot,
    Guard,
    HistoryRead,
    Log,
    MarkComment,
    NoteToAgent,
    PostComment,
    SetFields,
    Side,
    StatusRead,
    StatusSlot,
    Step,
    assume_done,
    preview,
)
from tests.unit.helpers import COMPLETE_FIELDS, shipped_mapping, ticket

A = Action
CUSTOMER, AGENT, DEV = "501", "502", "701"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
NOW = 2_000_000_000.0


@dataclass(frozen=True)
class System:
    """A system as the planner sees it: described, never called."""

    settings: SystemSettings
    capabilities: frozenset[Capability] = frozenset()

    def ticket_url(self, ticket_id: str) -> str:
        return f"https://{self.settings.name}.example/t/{ticket_id}"


def system(name: str, kind: str, bridge_user: str, *caps: Capability) -> System:
    settings = SystemSettings(name=name, type=kind, url=f"https://{name}.example",
                              bridge_user=bridge_user)  # fmt: skip
    return System(settings, frozenset(caps))


HELPDESK = system("helpdesk", "zendesk", "99")
VENDOR = system("vendor", "mantis", "7")
FACTS = RouteFacts("acme", shipped_mapping(), "en", HELPDESK, VENDOR)
REF = SystemRef("helpdesk", "1")
LINK = LinkRecord("acme", REF, SystemRef("vendor", "100"), "https://vendor.example/t/100", "",
                  first_marked=True, note_id="300", history_marked=True)  # fmt: skip
ISSUE = Ticket(ref=LINK.second, subject="x", status="new", priority="high")


def answering(*answers: tuple[Action, object]) -> Callable[[Step], object]:
    """Answers for the first steps of each action named, in order; the rest are done."""
    queue: dict[Action, list[object]] = {}
    for action, outcome in answers:
        queue.setdefault(action, []).append(outcome)

    def answer(step: Step) -> object:
        waiting = queue.get(step.action)
        return waiting.pop(0) if waiting else assume_done(step)

    return answer


def actions(steps: list[Step]) -> list[str]:
    """A plan in short: the action, with the log line's name for a log step."""
    return [f"log:{s.entry}" if isinstance(s, Log) else s.action.value for s in steps]


INCOMPLETE = ticket("1", status="new", fields={k: v for k, v in COMPLETE_FIELDS.items()
                                              if k not in ("360001", "360004")})  # fmt: skip
GAPS = gaps_fingerprint(dict(check_required(INCOMPLETE, FACTS.mapping).problems))
HISTORY = HistoryRead(ticket("1", status="hold"), ISSUE, (), ())
ESCALATED = ["create_ticket", "save_link", "log:escalated", "log:created_from", "read_history",
             "mark_history", "set_pair_state", "record_link", "set_fields", "set_pair_state",
             "record_link", "post_comment", "log:link_written"]  # fmt: skip


@pytest.mark.parametrize(
    ("snapshot", "answers", "plan", "decided"),
    [
        # A question, not a defect: recorded, nothing written.
        (FirstSnapshot(ticket("1", type="question", fields={}), None, NOW), (),
         ["log:not_technical"], "not_technical"),
        # Gaps: asked once (write-ahead on the request's slot), the ticket set to the agent.
        (FirstSnapshot(INCOMPLETE, None, NOW), (),
         ["post_comment", "log:missing_data_requested", "set_fields", "log:status_set"],
         "missing_data_requested"),
        # The same gaps asked for before: nothing to write.
        (FirstSnapshot(INCOMPLETE, Written(GAPS), NOW), (),
         ["log:missing_data_already_requested"], "missing_data_already_requested"),
        # Other gaps asked for before: asked again.
        (FirstSnapshot(INCOMPLETE, Written("other"), NOW), (),
         ["post_comment", "log:missing_data_requested", "set_fields", "log:status_set"],
         "missing_data_requested"),
        # Complete: created, linked, marked, noted.
        (FirstSnapshot(ticket("1"), None, NOW), ((A.READ_HISTORY, HISTORY),), ESCALATED,
         "escalated"),
    ],
)  # fmt: skip
def test_first_level_plans(
    snapshot: FirstSnapshot,
    answers: tuple[tuple[Action, object], ...],
    plan: list[str],
    decided: str,
) -> None:
    steps, first = preview(plan_first_level(FACTS, REF, snapshot), answering(*answers))
    assert actions(steps) == plan
    assert first is not None and first.decision.action == decided


@pytest.mark.parametrize(
    ("asked", "unsure"), [(None, False), (Unsure(GAPS), True), (Unsure("other"), False)]
)
def test_a_request_for_data_looks_first_only_after_its_own_unfinished_write(
    asked: Unsure | None, unsure: bool
) -> None:
    steps, _ = preview(plan_first_level(FACTS, REF, FirstSnapshot(INCOMPLETE, asked, NOW)))
    request = steps[0]
    assert isinstance(request, PostComment) and request.side is Side.FIRST
    assert request.guard == Guard(DataRequestSlot(GAPS), unsure=unsure)


FINDER = replace(FACTS, second=system("vendor", "mantis", "7", Capability.FIND_CREATED))
FOUND = Created(replace(ISSUE, url="https://vendor.example/t/100"), T0, recovered=True)


@pytest.mark.parametrize(
    ("facts", "claim", "found", "outcome"),
    [
        # Another job holds a fresh claim: wait for it.
        (FACTS, Claim("job-2", NOW - 10), None, RetryableError),
        # Our own earlier attempt, on a tracker that cannot be searched: park, never duplicate.
        (FACTS, Claim("job-1", NOW - 10), None, PermanentError),
        # ... one that can: look, and find it.
        (FINDER, Claim("job-1", NOW - 10), FOUND, "recovered"),
        # A claim abandoned long ago by another job is taken over the same way.
        (FINDER, Claim("job-2", NOW - 10_000), FOUND, "recovered"),
    ],
)
def test_an_interrupted_escalation_is_looked_for_or_waits(
    facts: RouteFacts, claim: Claim, found: Created | None, outcome: object
) -> None:
    answers = answering((A.CREATE_TICKET, Blocked(claim)), (A.READ_HISTORY, HISTORY),
                        *([(A.CREATE_TICKET, found)] if found else []))  # fmt: skip
    plan = plan_first_level(facts, REF, FirstSnapshot(ticket("1"), None, NOW), "job-1")
    if isinstance(outcome, type):
        with pytest.raises(outcome):
            preview(plan, answers)
        return
    steps, first = preview(plan, answers)
    assert first is not None and first.decision.action == outcome
    first_try, second_try = steps[0], steps[1]
    assert isinstance(first_try, CreateTicket) and not first_try.guard.unsure
    assert isinstance(second_try, CreateTicket) and second_try.guard.unsure
    assert second_try.look_since == datetime.fromtimestamp(claim.at - 300, UTC)


@pytest.mark.parametrize(
    ("link", "plan", "wrote"),
    [
        (LINK, [], False),  # complete: nothing to do
        (replace(LINK, note_id="?"), ["post_comment", "log:link_written"], True),
        (replace(LINK, note_id=None), ["post_comment", "log:link_written"], True),
        # Only the history marks were missing: written, yet nothing the agent sees changed.
        (replace(LINK, history_marked=False),
         ["read_history", "mark_history", "set_pair_state", "record_link"], False),
        (replace(LINK, first_marked=False),
         ["set_fields", "set_pair_state", "record_link", "log:link_written"], True),
    ],
)  # fmt: skip
def test_finishing_an_escalation(link: LinkRecord, plan: list[str], wrote: bool) -> None:
    note = parse_write_mark(link.note_id) if link.note_id is not None else None
    steps, finished = preview(finish_escalation(FACTS, link, note), answering(
        (A.READ_HISTORY, HISTORY)))  # fmt: skip
    assert actions(steps) == plan
    assert finished is not None and finished.wrote is wrote
    if note is not None and isinstance(note, Unsure):
        post = steps[0]
        assert isinstance(post, PostComment) and post.guard.unsure


def test_own_events_are_dropped_and_others_pass() -> None:
    own = Event(REF, EventKind.TICKET_UPDATED, actor_id="99")
    vendor_own = Event(LINK.second, EventKind.TICKET_UPDATED, actor_id="7")
    other = Event(REF, EventKind.TICKET_UPDATED, actor_id="7")  # 7 is the bridge on the vendor
    for event, dropped in ((own, True), (vendor_own, True), (other, False)):
        steps, decision = preview(own_event(FACTS, REF, event))
        assert (decision is not None) is dropped
        assert actions(steps) == (["log:ignored_own_write"] if dropped else [])


# The pair ----------------------------------------------------------------------------------
FIRST = ticket("1", status="hold", priority="high", requester_id=CUSTOMER)
SECOND = replace(ISSUE, status="assigned")


def said(who: str, body: str, n: int, public: bool = True) -> Comment:
    return Comment(str(n), body, public, author_id=who, author_name=f"User {who}",
                   created_at=datetime.fromtimestamp(NOW + n, UTC))  # fmt: skip


def pair(
    first_comments: tuple[Comment, ...] = (),
    second_comments: tuple[Comment, ...] = (),
    marks: Mapping[str, CommentMark] | None = None,
    parked: Mapping[str, ParkedItem] | None = None,
    first: Ticket = FIRST,
    second: Ticket = SECOND,
    state: Mapping[str, str] | None = None,
) -> PairSnapshot:
    return PairSnapshot(LINK, first, second, first_comments, second_comments, marks or {},
                        seen(FIRST, SECOND) if state is None else state, parked or {})  # fmt: skip


REPLY = said(CUSTOMER, "Still broken.", 1)
SETTLE = ["set_pair_state", "unpark_item"]  # statuses in step: recorded, a refusal is moot
COPY = ["expect_status", "post_comment", "log:comment_copied", "verify_status", "expect_status"]
ITEM = ParkedItem("helpdesk:1", "403 refused", 1, "", "")


@dataclass(frozen=True)
class Row:
    snapshot: PairSnapshot
    plan: list[str]
    answers: tuple[tuple[Action, object], ...] = ()
    copied: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    changed: dict[str, str] = field(default_factory=dict)


PAIR_ROWS = {
    "in step": Row(pair(), SETTLE),
    "a reply crosses, the status is checked after it": Row(
        pair((REPLY,)), [*COPY, *SETTLE], copied=("helpdesk:1",)),
    "a copy is not copied again": Row(pair((REPLY,), marks={"helpdesk:1": Copied("vendor:5")}),
                                      SETTLE),
    "history is not copied": Row(pair((REPLY,), marks={"helpdesk:1": History()}), SETTLE),
    "the bridge's own comment is echo": Row(pair((said("99", "Escalated.", 1),)), SETTLE),
    "a copy made by the bridge on this side is echo": Row(
        pair(second_comments=(said(DEV, "Fixed?", 5),), marks={"helpdesk:1": Copied("vendor:5")}),
        SETTLE),
    "an internal note stays (the route's flow skips it)": Row(
        pair((said(AGENT, "VIP.", 1, public=False),)), ["mark_comment", *SETTLE]),
    "a vendor note reaches the agent": Row(
        pair(second_comments=(said(DEV, "Which PHP?", 5),)),
        ["post_comment", "log:comment_copied", *SETTLE], copied=("vendor:5",)),
    "a refused comment, unchanged, waits for the operator": Row(
        pair((REPLY,), marks={"helpdesk:1": Parked(_fingerprint(REPLY))},
             parked={"helpdesk:1": ITEM}), SETTLE),
    "a parked mark without its item is tried again, looked for first": Row(
        pair((REPLY,), marks={"helpdesk:1": Parked(_fingerprint(REPLY))}),
        ["expect_status", "post_comment", "unpark_item", "log:comment_copied", "verify_status",
         "expect_status", *SETTLE],
        copied=("helpdesk:1",)),
    "a refusal parks the comment alone": Row(
        pair((REPLY,)),
        ["expect_status", "post_comment", "mark_comment", "park_item", "log:not_copied",
         "verify_status", "expect_status", *SETTLE],
        answers=((A.POST_COMMENT, PermanentError("403 refused", 403)),),
        refused=("helpdesk:1",)),
    "the vendor's status is mirrored": Row(
        pair(second=replace(SECOND, status="resolved")),
        ["set_pair_state", "set_fields", "set_pair_state", "unpark_item"],
        changed={"first_status": "solved"}),
}  # fmt: skip


@pytest.mark.parametrize("row", PAIR_ROWS.values(), ids=PAIR_ROWS.keys())
def test_pair_plans(row: Row) -> None:
    steps, result = preview(plan_pair(FACTS, row.snapshot), answering(*row.answers))
    assert actions(steps) == row.plan
    assert result is not None
    assert (result.copied, result.refused, result.changed) == (row.copied, row.refused,
                                                               row.changed)  # fmt: skip


def test_a_parked_copy_is_looked_for_before_it_is_posted_again() -> None:
    snap = pair((REPLY,), marks={"helpdesk:1": Parked(_fingerprint(REPLY))})
    steps, _ = preview(plan_pair(FACTS, snap))
    (post,) = [s for s in steps if isinstance(s, PostComment)]
    assert post.guard.unsure and post.side is Side.SECOND


# The retest loop: the vendor asked (feedback); the customer's reply reopens the issue first.
FEEDBACK = replace(SECOND, status="feedback")
ASKED = seen(replace(FIRST, status="open"), FEEDBACK)
REOPEN = SetFields(Side.SECOND, "100", TicketChanges(status="assigned"),
                   Guard(StatusSlot("assigned", fallback="feedback")))  # fmt: skip


def test_a_reply_to_the_vendor_s_question_reopens_the_issue_before_it_is_posted() -> None:
    snap = pair((REPLY,), first=replace(FIRST, status="open"), second=FEEDBACK, state=ASKED)
    steps, result = preview(plan_pair(FACTS, snap))
    assert steps[0] == REOPEN
    assert actions(steps)[:4] == ["set_fields", "log:status_set", "post_comment",
                                  "log:comment_copied"]  # fmt: skip
    assert result is not None and result.copied == ("helpdesk:1",)


def test_a_refused_reopen_parks_the_reply_and_every_later_one_without_another_try() -> None:
    later = said(CUSTOMER, "Hello?", 2)
    snap = pair((REPLY, later), first=replace(FIRST, status="open"), second=FEEDBACK,
                state=ASKED)  # fmt: skip
    refusal = ReadOnlyTicket("403 Issue '100' is read-only.", "100")
    steps, result = preview(plan_pair(FACTS, snap), answering((A.SET_FIELDS, refusal)))
    assert [s for s in steps if isinstance(s, SetFields)][:1] == [REOPEN]
    assert not [s for s in steps if isinstance(s, PostComment)]
    parked = [s for s in steps if isinstance(s, MarkComment)]
    assert [(m.key, type(m.mark)) for m in parked] == [
        ("helpdesk:1", Parked),
        ("helpdesk:2", Parked),
    ]
    assert result is not None and result.refused == ("helpdesk:1", "helpdesk:2")


@pytest.mark.parametrize(
    ("read", "set_back"),
    [
        (StatusRead("assigned", "7"), True),  # the tracker flipped it on the bridge's note
        (StatusRead("assigned", None), True),  # who is unknown: set back, as before
        (StatusRead("resolved", DEV), False),  # the vendor's own change stays, to be mirrored
        (StatusRead("feedback", "7"), False),  # as expected
    ],
)
def test_the_status_re_read_after_the_notes_decides_a_set_back(
    read: StatusRead, set_back: bool
) -> None:
    note = said(AGENT, "Internal remark.", 1, public=False)
    rules = replace(
        FACTS.mapping.sync, comments_to_second={Visibility.INTERNAL: Visibility.INTERNAL}
    )
    facts = replace(FACTS, mapping=replace(FACTS.mapping, sync=rules))
    snap = pair((note,), first=replace(FIRST, status="open"), second=FEEDBACK, state=ASKED)
    steps, _ = preview(plan_pair(facts, snap), answering((A.VERIFY_STATUS, read)))
    restored = "log:status_restored" in actions(steps)
    assert restored is set_back
    writes = [s for s in steps if isinstance(s, SetFields) and s.side is Side.SECOND]
    assert [w.changes.status for w in writes] == (["feedback"] if set_back else [])


def test_an_expected_status_left_by_a_killed_worker_is_cleared_unchecked() -> None:
    snap = pair(second=FEEDBACK, state={**ASKED, EXPECT: "feedback"},
                first=replace(FIRST, status="open"))  # fmt: skip
    steps, _ = preview(plan_pair(FACTS, snap))
    assert actions(steps)[0] == "expect_status" and "verify_status" not in actions(steps)


def test_a_read_only_refusal_is_tried_again_once_the_issue_moved_on() -> None:
    item = replace(ITEM, while_status="resolved")
    snap = pair((REPLY,), marks={"helpdesk:1": Parked(_fingerprint(REPLY))},
                parked={"helpdesk:1": item})  # fmt: skip
    steps, _ = preview(plan_pair(FACTS, snap))
    assert steps[0] == MarkComment("helpdesk:1", Unsure())
    assert "post_comment" in actions(steps)


# Notes to the agent ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("snap", "plan"),
    [
        (NotesSnapshot(LINK, {}, {"helpdesk:1": ITEM}), ["note_to_agent", "log:agent_told"]),
        (NotesSnapshot(LINK, {"not_copied": Written("9")}, {"helpdesk:1": ITEM}), []),
        (NotesSnapshot(LINK, {"not_copied": Unsure()}, {"helpdesk:1": ITEM}),
         ["note_to_agent", "log:agent_told"]),
        (NotesSnapshot(LINK, {"not_copied": Written("9")}, {}),
         ["note_to_agent", "log:agent_told", "clear_agent_notes"]),
        (NotesSnapshot(LINK, {}, {}), []),
    ],
)  # fmt: skip
def test_notes_about_held_back_items(snap: NotesSnapshot, plan: list[str]) -> None:
    steps, _ = preview(tell_about_items(FACTS, snap, "1"))
    assert actions(steps) == plan
    for step in steps:
        if isinstance(step, NoteToAgent):
            assert step.guard.unsure is isinstance(snap.notes.get(step.guard.slot.cause), Unsure)  # type: ignore[union-attr]


def test_a_note_the_helpdesk_refuses_is_logged_and_changes_nothing_else() -> None:
    snap = NotesSnapshot(None, {})
    plan = job_stuck(FACTS, snap, "1", "down", parked=True)
    steps, told = preview(plan, answering((A.NOTE_TO_AGENT, PermanentError("no", 422))))
    assert told is False and actions(steps) == ["note_to_agent", "log:agent_not_told"]
    note = steps[0]
    assert isinstance(note, NoteToAgent) and note.guard.slot.cause == NoteCause.ESCALATION_PARKED  # type: ignore[union-attr]


# Marks, at the store's edge ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "mark"),
    [("before", History()), ("skip", Skipped()), ("?", Unsure()), ("!ab12", Parked("ab12")),
     ("vendor:77", Copied("vendor:77"))],
)  # fmt: skip
def test_comment_marks_read_and_write_as_stored(stored: str, mark: CommentMark) -> None:
    assert parse_comment_mark(stored) == mark
    assert format_comment_mark(mark) == stored


@pytest.mark.parametrize(
    ("stored", "mark"), [("?", Unsure()), ("?f00", Unsure("f00")), ("123", Written("123"))]
)
def test_write_marks_read_and_write_as_stored(stored: str, mark: Unsure | Written) -> None:
    assert parse_write_mark(stored) == mark
    assert format_write_mark(mark) == stored


def test_the_plans_load_no_client_and_no_store() -> None:
    """A remote call or a Redis write cannot hide in a decision: its modules cannot reach one."""
    code = (
        "import sys, bridge.plan_sync, bridge.plan_escalation, bridge.plan_notes\n"
        "io = {'redis', 'rq', 'requests', 'flask'}\n"
        "edge = {'bridge.stores', 'bridge.executor', 'bridge.reader', 'bridge.retry'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in io or m in edge))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
