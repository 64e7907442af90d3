"""Two-way sync of a linked pair, with fake connectors and an in-memory store."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.errors import PermanentError, RetryableError
from bridge.models import Attachment, Event, EventKind, SystemRef
from bridge.protocol import Capability
from bridge.records import PairKey
from tests.unit.fakes import FakeConnector, MemoryStore, WorkerDied
from tests.unit.helpers import shipped_mapping, ticket

MAPPING = shipped_mapping()
CUSTOMER, AGENT, DEV = "501", "502", "701"


def linked() -> tuple[RouteContext, FakeConnector, FakeConnector, MemoryStore, str]:
    """An escalated pair: Zendesk-like #1 <-> Mantis-like issue; returns the issue id."""
    first = FakeConnector("helpdesk", kind="zendesk", bridge_user="99")
    second = FakeConnector("vendor", kind="mantis", bridge_user="7")
    store = MemoryStore()
    ctx = RouteContext("acme", MAPPING, "en", first, second, store.as_stores())
    first.tickets["1"] = ticket("1", status="open", priority="high", requester_id=CUSTOMER)
    first.say("1", CUSTOMER, "Before escalation: it is broken.")
    assert handle_first_level(ctx, "1").action == "escalated"
    (issue_id,) = second.tickets
    second.set(issue_id, status="new")
    store.set_pair_state(PairKey("acme", "1"), {"second_status": "new"})
    return ctx, first, second, store, issue_id


def bodies(connector: FakeConnector, ticket_id: str) -> list[str]:
    return [c.body for c in connector.comments.get(ticket_id, [])]


def test_comments_cross_once_with_author_and_visibility() -> None:
    ctx, first, second, _, issue = linked()
    first.say("1", CUSTOMER, "Retest: still broken.")
    first.say("1", AGENT, "Internal: customer is VIP.", public=False)
    second.say(issue, DEV, "Which PHP version?")
    second.say(issue, DEV, "Internal: probably #123.", public=False)

    decision = handle_first_level(ctx, "1")
    handle_first_level(ctx, "1")  # a repeated event changes nothing

    assert decision.action == "synced"
    copies = [c for c in second.comments[issue] if c.author_id == "7"]
    assert [(c.body, c.public) for c in copies] == [
        (f"User {CUSTOMER} (Zendesk) wrote:\n\nRetest: still broken.", True),
    ]  # the agent's internal note stays on the helpdesk
    helpdesk_copies = [c for c in first.comments["1"] if "(MantisBT)" in c.body]
    assert [(c.body, c.public) for c in helpdesk_copies] == [
        (f"User {DEV} (MantisBT) wrote:\n\nWhich PHP version?", False)
    ]  # for the agent, not the customer; the vendor-internal note stays with the vendor
    assert not any("Before escalation" in b for b in bodies(second, issue))


def test_copies_are_never_copied_back() -> None:
    ctx, first, second, _, issue = linked()
    second.say(issue, DEV, "Fixed in 2.4.1")
    for _ in range(3):
        handle_first_level(ctx, "1")
    assert sum("Fixed in 2.4.1" in b for b in bodies(first, "1")) == 1
    assert sum("Fixed in 2.4.1" in b for b in bodies(second, issue)) == 1


def test_comments_are_applied_in_source_order() -> None:
    ctx, first, second, _, issue = linked()
    for n in range(5):
        first.say("1", CUSTOMER, f"note {n}")
    handle_first_level(ctx, "1")
    copied = [b.split("\n\n", 1)[1] for b in bodies(second, issue)]
    assert copied == [f"note {n}" for n in range(5)]


def test_the_feedback_loop_runs_both_ways() -> None:
    ctx, first, second, _, issue = linked()
    assert first.tickets["1"].status == "hold"  # escalated: waiting on the vendor
    # Vendor asks: feedback -> the agent gets the question as an internal note, the ticket is
    # open again for them.
    second.say(issue, DEV, "Please retest with 2.4.1")
    second.set(issue, status="feedback")
    handle_first_level(ctx, "1")
    assert first.tickets["1"].status == "open"
    assert "Please retest with 2.4.1" in bodies(first, "1")[-1]
    assert first.comments["1"][-1].public is False
    # The agent asks the customer and waits on them; nothing of that reaches the vendor.
    first.set("1", status="pending")
    handle_first_level(ctx, "1")
    assert second.tickets[issue].status == "feedback"
    # The customer's retest note reopens the vendor issue.
    first.say("1", CUSTOMER, "Retested: works partly.")
    first.set("1", status="open")
    handle_first_level(ctx, "1")
    assert second.tickets[issue].status == "assigned"
    assert "Retested: works partly." in bodies(second, issue)[-1]
    # Vendor resolves with a solution text -> helpdesk solved.
    second.say(issue, DEV, "Solution: clear the cache.")
    second.set(issue, status="resolved")
    handle_first_level(ctx, "1")
    assert first.tickets["1"].status == "solved"
    assert "Solution: clear the cache." in bodies(first, "1")[-1]
    # Helpdesk closes -> vendor closed.
    first.set("1", status="closed")
    handle_first_level(ctx, "1")
    assert second.tickets[issue].status == "closed"


def test_own_status_writes_do_not_bounce() -> None:
    ctx, first, second, _, issue = linked()
    second.set(issue, status="feedback")
    handle_first_level(ctx, "1")
    writes_before = (len(first.writes), len(second.writes))
    for _ in range(3):
        assert handle_first_level(ctx, "1").action == "in_sync"
    assert (len(first.writes), len(second.writes)) == writes_before


def test_priority_changes_both_ways() -> None:
    ctx, first, second, _, issue = linked()
    first.set("1", priority="urgent")
    handle_first_level(ctx, "1")
    assert second.tickets[issue].priority == "urgent"
    second.set(issue, priority="immediate")
    handle_first_level(ctx, "1")
    assert first.tickets["1"].priority == "urgent"  # immediate maps to urgent
    second.set(issue, priority="low")
    handle_first_level(ctx, "1")
    assert first.tickets["1"].priority == "low"


def test_when_both_sides_changed_the_newer_change_wins() -> None:
    ctx, first, second, _, issue = linked()
    second.set(issue, status="resolved")
    first.set("1", status="closed")  # later
    handle_first_level(ctx, "1")
    assert second.tickets[issue].status == "closed"
    assert first.tickets["1"].status == "closed"


def test_a_failed_status_write_is_redone_by_the_retry() -> None:
    ctx, first, second, _, issue = linked()
    second.set(issue, status="feedback")
    first.fail_on = {"update"}
    with pytest.raises(PermanentError):
        handle_first_level(ctx, "1")
    first.fail_on = set()
    handle_first_level(ctx, "1")
    assert first.tickets["1"].status == "open"


def test_a_comment_whose_answer_was_lost_is_not_copied_twice() -> None:
    ctx, first, second, _, issue = linked()
    first.say("1", CUSTOMER, "Retest done.")
    second.applied_then_timeout = {"comment"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1")
    handle_first_level(ctx, "1")
    assert sum("Retest done." in b for b in bodies(second, issue)) == 1


def test_echo_events_from_the_second_level_are_dropped() -> None:
    ctx, first, second, store, issue = linked()
    writes = (len(first.writes), len(second.writes))
    event = Event(SystemRef("vendor", issue), EventKind.TICKET_UPDATED, "p1", actor_id="7")
    assert handle_first_level(ctx, "1", event).action == "ignored_own_write"
    assert store.actions()[-1] == "ignored_own_write"
    assert (len(first.writes), len(second.writes)) == writes


def test_files_travel_with_comments_and_oversized_ones_are_named() -> None:
    ctx, first, second, _, issue = linked()
    for side in (first, second):
        side.capabilities = frozenset({Capability.ATTACHMENTS})
    second.settings = replace(second.settings, options={"max_attachment_bytes": 1000})
    ctx = replace(ctx, first=first, second=second)
    first.files = {"a1": b"log line\n" * 10, "a2": b"x" * 5000}
    first.say("1", CUSTOMER, "Logs attached.", files=(
        Attachment("app.log", size=90, id="a1"), Attachment("dump.bin", size=5000, id="a2"),
    ))  # fmt: skip
    handle_first_level(ctx, "1")
    assert second.uploaded == [("app.log", b"log line\n" * 10)]
    copy = second.comments[issue][-1]
    assert [a.filename for a in copy.attachments] == ["app.log"]
    assert "File dump.bin (5000 bytes) was not copied: larger than the 1000 bytes MantisBT" in (
        copy.body
    )


def test_files_to_a_system_without_file_support_are_named() -> None:
    ctx, first, second, _, issue = linked()
    first.say("1", CUSTOMER, "See screenshot.", files=(Attachment("s.png", size=10, id="x"),))
    handle_first_level(ctx, "1")
    assert (
        "File s.png was not copied: Zendesk -> MantisBT cannot transfer files."
        in (bodies(second, issue)[-1])
    )


def test_a_worker_killed_right_after_copying_does_not_duplicate_the_copy() -> None:
    ctx, first, second, _, issue = linked()
    first.say("1", CUSTOMER, "Retest done.")
    second.die_after = {"comment"}
    with pytest.raises(WorkerDied):
        handle_first_level(ctx, "1")
    handle_first_level(ctx, "1")  # RQ retries the abandoned job
    assert sum("Retest done." in b for b in bodies(second, issue)) == 1
