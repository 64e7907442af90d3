"""The retest loop is the bridge's decision, not the tracker's side effect.

The vendor side behaves like a real MantisBT: a note by the bridge (the reporter of every issue
it escalates) on an issue in `feedback` flips it to `assigned` (reassign_on_feedback), and
resolved issues may be read-only for the bridge's user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.mapping import Visibility
from bridge.models import Comment, TicketChanges
from bridge.pair_status import EXPECT
from bridge.records import PairKey
from tests.unit.fakes import FakeConnector, MemoryStore, WorkerDied
from tests.unit.helpers import shipped_mapping
from tests.unit.test_sync import AGENT, CUSTOMER, DEV, bodies, linked


@dataclass
class Loop:
    ctx: RouteContext
    first: FakeConnector
    second: FakeConnector
    store: MemoryStore
    issue: str


# The retest loop as a route with public copies both ways runs it: the vendor's question reaches
# the customer and the ticket waits on them. Spelled out here, so the tests do not follow changes
# to the shipped defaults.
PUBLIC = Visibility.PUBLIC
RULES = replace(
    shipped_mapping().sync,
    comments_to_second={PUBLIC: PUBLIC, Visibility.INTERNAL: Visibility.INTERNAL},
    comments_to_first={PUBLIC: PUBLIC, Visibility.INTERNAL: Visibility.SKIP},
    status_to_second={"open": "assigned", "solved": "resolved", "closed": "closed"},
    status_to_first={"feedback": "pending", "assigned": "open", "resolved": "solved",
                     "closed": "solved"},
)  # fmt: skip


def pair() -> tuple[RouteContext, FakeConnector, FakeConnector, MemoryStore, str]:
    ctx, first, second, store, issue = linked()
    return replace(ctx, mapping=replace(ctx.mapping, sync=RULES)), first, second, store, issue


def waiting_for_feedback(flips_to: str | None = "assigned") -> Loop:
    """An escalated pair whose vendor asked a question: the issue in feedback, helpdesk pending."""
    ctx, first, second, store, issue = pair()
    second.reporter_note_flips_to = flips_to
    second.say(issue, DEV, "Please retest with build 2.4.1.")
    second.set(issue, status="feedback")
    handle_first_level(ctx, "1")
    assert first.tickets["1"].status == "pending"
    second.writes.clear()
    first.writes.clear()
    return Loop(ctx, first, second, store, issue)


def status_writes(connector: FakeConnector) -> list[str | None]:
    return [w.status for kind, w in connector.writes if kind == "update" and w.status]


def kinds(connector: FakeConnector) -> list[str]:
    """The order of the writes: a status write, a comment."""
    return [
        "status" if kind == "update" and w.status else kind
        for kind, w in connector.writes
        if kind != "update" or w.status
    ]


@pytest.mark.parametrize(
    ("who", "first_reopens", "flips_to", "second_after", "second_writes"),
    [
        # A customer reply reopens the issue explicitly, before the note (no flip then).
        ("customer", True, "assigned", "assigned", ["status", "comment"]),
        ("customer", False, "assigned", "assigned", ["status", "comment"]),
        # The same when the tracker would flip to `new` (an issue without a handler).
        ("customer", False, "new", "assigned", ["status", "comment"]),
        # And on a tracker without the side effect: the reopen never depended on it.
        ("customer", False, None, "assigned", ["status", "comment"]),
        # An agent's public comment (relaying the question to the customer) answers nothing.
        ("agent_public", False, "assigned", "feedback", ["comment", "status"]),
        # An agent's internal note reopens nothing either: the flip is set back.
        ("agent_internal", False, "assigned", "feedback", ["comment", "status"]),
        ("agent_internal", False, "new", "feedback", ["comment", "status"]),
        ("agent_internal", False, None, "feedback", ["comment"]),
        # An internal note while the helpdesk reopened its ticket: the mapping's status, first.
        ("agent_internal", True, "assigned", "assigned", ["status", "comment"]),
    ],
)
def test_the_vendor_status_after_a_comment_is_the_mapping_s_not_the_tracker_s(
    who: str,
    first_reopens: bool,
    flips_to: str | None,
    second_after: str,
    second_writes: list[str],
) -> None:
    loop = waiting_for_feedback(flips_to)
    author = CUSTOMER if who == "customer" else AGENT
    loop.first.say("1", author, "Retested: still fails.", public=who != "agent_internal")
    if first_reopens:
        loop.first.set("1", status="open")

    handle_first_level(loop.ctx, "1")

    assert loop.second.tickets[loop.issue].status == second_after
    assert kinds(loop.second) == second_writes
    assert sum("Retested: still fails." in b for b in bodies(loop.second, loop.issue)) == 1
    # Nothing the tracker did is mirrored to the helpdesk, now or on later syncs. A reply the
    # helpdesk left waiting is set to the reply's status, once, so the pair agrees.
    answered = who == "customer" and not first_reopens
    expected_first = "open" if first_reopens or answered else "pending"
    for _ in range(2):
        handle_first_level(loop.ctx, "1")
        assert loop.first.tickets["1"].status == expected_first
        assert loop.second.tickets[loop.issue].status == second_after
    assert status_writes(loop.first) == (["open"] if answered else [])


def test_a_restored_status_is_recorded_so_the_next_poll_mirrors_nothing() -> None:
    loop = waiting_for_feedback()
    loop.first.say("1", AGENT, "Internal: the customer is on holiday.", public=False)
    handle_first_level(loop.ctx, "1")
    actions = loop.store.actions()
    assert "status_restored" in actions
    restored = [d for _, a, d in loop.store.entries if a == "status_restored"][-1]
    assert (restored["tracker_set"], restored["restored"]) == ("assigned", "feedback")
    state = loop.store.pair_state(PairKey("acme", "1"))
    assert (state["second_status"], state[EXPECT]) == ("feedback", "")
    assert handle_first_level(loop.ctx, "1").action == "in_sync"


def test_a_worker_killed_between_the_note_and_the_restore_still_mirrors_nothing() -> None:
    loop = waiting_for_feedback()
    loop.first.say("1", AGENT, "Internal: VIP customer.", public=False)
    loop.second.die_after = {"comment"}  # the note is in and the tracker flipped; then SIGKILL
    with pytest.raises(WorkerDied):
        handle_first_level(loop.ctx, "1")
    assert loop.second.tickets[loop.issue].status == "assigned"  # the tracker's flip

    handle_first_level(loop.ctx, "1")  # RQ runs the abandoned job again

    assert loop.second.tickets[loop.issue].status == "feedback"  # set back
    assert loop.first.tickets["1"].status == "pending"  # and never mirrored
    assert sum("VIP customer" in b for b in bodies(loop.second, loop.issue)) == 1


def test_a_vendor_s_own_status_change_is_still_mirrored() -> None:
    loop = waiting_for_feedback()
    loop.second.set(loop.issue, status="assigned")  # the developer takes it up again
    handle_first_level(loop.ctx, "1")
    assert loop.first.tickets["1"].status == "open"


def agent_notes(first: FakeConnector) -> list[Comment]:
    """The bridge's notes to the agent (not its copies of vendor notes, not the link note)."""
    return [
        c
        for c in first.comments["1"]
        if c.author_id == first.bridge_user and "wrote:" not in c.body and "Escalated" not in c.body
    ]


def resolved(read_only: bool) -> Loop:
    """The vendor resolved the issue and the helpdesk ticket is solved."""
    ctx, first, second, store, issue = pair()
    second.reporter_note_flips_to = "assigned"
    second.say(issue, DEV, "Fixed in 2.4.2.")
    second.set(issue, status="resolved")
    handle_first_level(ctx, "1")
    assert first.tickets["1"].status == "solved"
    if read_only:
        second.read_only = {"resolved", "closed"}  # a DEVELOPER bridge user on a real MantisBT
    second.writes.clear()
    return Loop(ctx, first, second, store, issue)


def test_retest_failed_on_a_resolved_issue_reopens_it_first_then_posts() -> None:
    loop = resolved(read_only=False)
    loop.first.say("1", CUSTOMER, "Retest failed: still error 500.")
    loop.first.set("1", status="open")  # Zendesk reopens a solved ticket on the reply

    handle_first_level(loop.ctx, "1")

    assert kinds(loop.second) == ["status", "comment"]
    assert loop.second.tickets[loop.issue].status == "assigned"
    assert "Retest failed: still error 500." in bodies(loop.second, loop.issue)[-1]


def test_a_stale_solved_written_after_the_reply_is_set_to_open_when_the_reply_reopens() -> None:
    # The sync mirroring the vendor's resolve read the helpdesk before the customer answered;
    # its `solved` landed after the reply, so the helpdesk shows solved with a reply under it.
    loop = resolved(read_only=False)
    loop.first.writes.clear()
    loop.first.say("1", CUSTOMER, "Retest failed: still error 500.")
    assert loop.first.tickets["1"].status == "solved"

    handle_first_level(loop.ctx, "1")

    assert loop.second.tickets[loop.issue].status == "assigned"
    assert loop.first.tickets["1"].status == "open"
    assert status_writes(loop.first) == ["open"]
    state = loop.store.pair_state(PairKey("acme", "1"))
    assert (state["first_status"], state["second_status"]) == ("open", "assigned")
    assert handle_first_level(loop.ctx, "1").action == "in_sync"


def test_retest_failed_on_a_read_only_issue_parks_with_the_reason_and_tells_the_agent() -> None:
    loop = resolved(read_only=True)
    bad = loop.first.say("1", CUSTOMER, "Retest failed: still error 500.")
    loop.first.set("1", status="open")

    decision = handle_first_level(loop.ctx, "1")

    # The job does not park (no exception): the comment does.
    assert decision.details["not_copied"] == [f"helpdesk:{bad.id}"]
    items = loop.store.parked_items(PairKey("acme", "1"))
    assert sorted(items) == ["#status:vendor", f"helpdesk:{bad.id}"]  # the reply and the reopen
    assert all("read-only" in item.reason for item in items.values())
    (note,) = agent_notes(loop.first)
    assert note.public is False and note.body.startswith("Not passed on to MantisBT #100: ")
    assert "read-only" in note.body and "ask the vendor to reopen it" in note.body
    # Later syncs neither try again nor tell the agent again.
    for _ in range(2):
        assert handle_first_level(loop.ctx, "1").action == "in_sync"
    assert len(agent_notes(loop.first)) == 1
    assert loop.second.tickets[loop.issue].status == "resolved"

    # The vendor reopens (or the bridge user gets MANAGER); the operator resyncs: it arrives.
    from bridge.sync import release_parked

    loop.second.read_only = set()
    release_parked(loop.store, PairKey("acme", "1"))
    handle_first_level(loop.ctx, "1")
    assert sum("Retest failed" in b for b in bodies(loop.second, loop.issue)) == 1
    assert loop.second.tickets[loop.issue].status == "assigned"
    assert agent_notes(loop.first)[-1].body == "Everything held back has now reached MantisBT #100."


def test_a_reply_refused_on_a_read_only_issue_arrives_by_itself_once_the_vendor_reopens() -> None:
    loop = resolved(read_only=True)
    loop.first.say("1", CUSTOMER, "Retest failed: still error 500.")
    loop.first.set("1", status="open")
    handle_first_level(loop.ctx, "1")
    assert "Retest failed" not in "".join(bodies(loop.second, loop.issue))

    loop.second.set(loop.issue, status="assigned")  # the vendor reopens: no resync needed
    handle_first_level(loop.ctx, "1")

    assert sum("Retest failed" in b for b in bodies(loop.second, loop.issue)) == 1
    assert loop.store.parked_items(PairKey("acme", "1")) == {}
    assert agent_notes(loop.first)[-1].body == "Everything held back has now reached MantisBT #100."
    handle_first_level(loop.ctx, "1")
    assert sum("Retest failed" in b for b in bodies(loop.second, loop.issue)) == 1


def test_a_comment_refused_for_another_reason_still_waits_for_a_resync() -> None:
    loop = resolved(read_only=False)
    loop.second.refuse_text = {"logs are on the share"}
    loop.first.say("1", AGENT, "Internal: logs are on the share.", public=False)
    handle_first_level(loop.ctx, "1")
    assert len(loop.store.parked_items(PairKey("acme", "1"))) == 1
    loop.second.refuse_text = set()
    loop.second.set(loop.issue, status="assigned")
    handle_first_level(loop.ctx, "1")
    assert len(loop.store.parked_items(PairKey("acme", "1"))) == 1
    assert not any("logs are on the share" in b for b in bodies(loop.second, loop.issue))


def test_an_explicit_reopen_is_one_write_even_when_the_connector_is_asked_twice() -> None:
    loop = waiting_for_feedback()
    loop.first.say("1", CUSTOMER, "Answer one.")
    loop.first.say("1", CUSTOMER, "Answer two.")
    handle_first_level(loop.ctx, "1")
    assert status_writes(loop.second) == ["assigned"]
    assert kinds(loop.second) == ["status", "comment", "comment"]


def test_the_reopen_status_is_the_mapping_s_open() -> None:
    loop = waiting_for_feedback()
    loop.ctx = replace(
        loop.ctx,
        mapping=replace(
            loop.ctx.mapping, sync=replace(RULES, status_to_second={"open": "acknowledged"})
        ),
    )
    loop.first.say("1", CUSTOMER, "Answer.")
    handle_first_level(loop.ctx, "1")
    assert loop.second.writes[0] == ("update", TicketChanges(status="acknowledged"))


def test_with_the_shipped_mapping_a_reply_the_agent_relays_reopens_too() -> None:
    """Shipped: the vendor's question reaches the agent, the helpdesk ticket stays open, so no
    first-level status tells the bridge the customer answered; the public reply does."""
    ctx, first, second, _, issue = linked()
    second.reporter_note_flips_to = "new"
    second.set(issue, status="feedback")
    handle_first_level(ctx, "1")
    first.say("1", CUSTOMER, "Here is the log you asked for.")
    handle_first_level(ctx, "1")
    assert second.tickets[issue].status == ctx.mapping.sync.status_to_second["open"]
    assert any("Here is the log" in b for b in bodies(second, issue))


def test_a_status_the_read_only_issue_refuses_is_held_back_not_the_whole_sync() -> None:
    loop = resolved(read_only=True)
    loop.first.set("1", status="closed")  # the helpdesk closes; a DEVELOPER may not close it
    loop.second.say(loop.issue, DEV, "Thanks, closing on our side soon.")

    handle_first_level(loop.ctx, "1")  # no exception: the job does not park

    assert loop.second.tickets[loop.issue].status == "resolved"
    assert any("closing on our side" in b for b in bodies(loop.first, "1"))  # the rest syncs
    (item,) = loop.store.parked_items(PairKey("acme", "1")).values()
    assert item.key == "#status:vendor" and "read-only" in item.reason
    (note,) = agent_notes(loop.first)
    assert note.body.startswith("Not passed on to MantisBT #100: update refused: 403")
    handle_first_level(loop.ctx, "1")  # tried again, only counted
    assert loop.store.parked_items(PairKey("acme", "1"))["#status:vendor"].count == 2
    assert len(agent_notes(loop.first)) == 1

    loop.second.set(loop.issue, status="closed")  # the vendor closes it themselves
    handle_first_level(loop.ctx, "1")
    assert loop.store.parked_items(PairKey("acme", "1")) == {}
    assert agent_notes(loop.first)[-1].body == "Everything held back has now reached MantisBT #100."
    assert loop.first.tickets["1"].status == "solved"  # the newer change wins, mapped


def test_where_the_helpdesk_does_not_name_the_requester_only_its_status_reopens() -> None:
    loop = waiting_for_feedback()
    loop.first.tickets["1"] = replace(loop.first.tickets["1"], requester_id=None)
    loop.first.say("1", CUSTOMER, "Answer without a status change.")
    handle_first_level(loop.ctx, "1")
    assert loop.second.tickets[loop.issue].status == "feedback"  # no guess: set back
    loop.first.say("1", CUSTOMER, "Answer, and the helpdesk reopens.")
    loop.first.set("1", status="open")
    handle_first_level(loop.ctx, "1")
    assert loop.second.tickets[loop.issue].status == "assigned"


def test_an_expected_status_the_issue_has_is_cleared_so_a_later_vendor_change_counts() -> None:
    loop = waiting_for_feedback()
    loop.store.set_pair_state(PairKey("acme", "1"), {EXPECT: "feedback"})  # left by a killed worker
    handle_first_level(loop.ctx, "1")  # the issue has feedback: nothing to set back
    assert loop.store.pair_state(PairKey("acme", "1"))[EXPECT] == ""
    loop.second.set(loop.issue, status="assigned")  # the developer works on it again
    handle_first_level(loop.ctx, "1")
    assert loop.second.tickets[loop.issue].status == "assigned"  # not reverted
    assert loop.first.tickets["1"].status == "open"  # and mirrored


def test_a_vendor_change_after_an_interrupted_sync_is_mirrored_by_the_retry() -> None:
    # The killed sync left the status it expected; before its retry the vendor resolves. The
    # retry is the last sync this change triggers (the poll that saw it is done): it must
    # mirror the resolve, not record it as seen.
    loop = waiting_for_feedback()
    loop.first.say("1", AGENT, "Internal: VIP customer.", public=False)
    loop.second.die_after = {"comment"}
    with pytest.raises(WorkerDied):
        handle_first_level(loop.ctx, "1")
    loop.second.set(loop.issue, status="resolved", status_changed_by=DEV)

    handle_first_level(loop.ctx, "1")

    assert loop.second.tickets[loop.issue].status == "resolved"
    assert loop.first.tickets["1"].status == "solved"
