"""What the customer sends while the bridge gathers data reaches the vendor, exactly once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.errors import RetryableError
from bridge.models import Attachment
from bridge.protocol import Capability
from tests.unit.fakes import FakeConnector, MemoryStore, WorkerDied
from tests.unit.helpers import ticket
from tests.unit.test_engine import incomplete_ticket, make

CUSTOMER, AGENT = "501", "502"


def gathering() -> tuple[RouteContext, FakeConnector, FakeConnector, MemoryStore]:
    """A ticket the bridge asked data for; the customer answers with a comment and a file, an
    agent notes something internally, then the data is complete."""
    ctx, first, second, store = make()
    for side in (first, second):
        side.capabilities = frozenset({Capability.ATTACHMENTS})
    ctx = replace(ctx, first=first, second=second)
    first.tickets["1"] = incomplete_ticket()
    first.say("1", CUSTOMER, "Checkout fails with error 500.")  # the ticket's first comment
    assert handle_first_level(ctx, "1").action == "missing_data_requested"
    first.files = {"f1": b"stack trace\n"}
    first.say("1", CUSTOMER, "My customer number is 40711, log attached.",
              files=(Attachment("trace.log", size=12, id="f1"),))  # fmt: skip
    first.say("1", AGENT, "Internal: I filled in the fields.", public=False)
    first.say("1", CUSTOMER, "It also fails on the cart page.")
    first.tickets["1"] = replace(ticket("1"), updated_at=first.tickets["1"].updated_at)
    return ctx, first, second, store


def vendor_bodies(second: FakeConnector) -> list[str]:
    (issue,) = second.tickets
    return [c.body for c in second.comments.get(issue, [])]


def test_the_customer_s_answers_and_files_go_along_once_at_escalation() -> None:
    ctx, _, second, _ = gathering()

    decision = handle_first_level(ctx, "1")

    assert decision.action == "escalated"
    notes = vendor_bodies(second)
    assert len(notes) == 2
    assert "My customer number is 40711, log attached." in notes[0]
    assert "It also fails on the cart page." in notes[1]
    assert second.uploaded == [("trace.log", b"stack trace\n")]
    # Not the ticket's first comment (it is the issue's description), not the bridge's request,
    # not the agents' internal talk.
    assert not any("Checkout fails with error 500." in b for b in notes)
    assert not any("cannot be passed" in b or "Internal:" in b for b in notes)
    for _ in range(2):
        handle_first_level(ctx, "1")
    assert len(vendor_bodies(second)) == 2


@pytest.mark.parametrize("fault", ["die_after", "applied_then_timeout"])
def test_an_escalation_interrupted_while_copying_the_conversation_never_duplicates(
    fault: str,
) -> None:
    ctx, _, second, _ = gathering()
    setattr(second, fault, {"comment"})  # the first note is in, the answer is lost
    with pytest.raises((WorkerDied, RetryableError)):
        handle_first_level(ctx, "1")

    handle_first_level(ctx, "1")  # the retry

    notes = vendor_bodies(second)
    assert sum("customer number is 40711" in b for b in notes) == 1
    assert sum("cart page" in b for b in notes) == 1
    assert len([w for w in second.writes if w[0] == "create"]) == 1


def test_a_ticket_escalated_at_once_sends_no_history() -> None:
    ctx, first, second, _ = make()
    first.tickets["1"] = ticket("1")
    first.say("1", CUSTOMER, "Checkout fails.")
    first.say("1", CUSTOMER, "Still failing.")
    handle_first_level(ctx, "1")
    assert vendor_bodies(second) == []


def test_a_ticket_the_bridge_user_opened_does_not_count_as_a_request() -> None:
    ctx, first, second, _ = make()
    first.tickets["1"] = ticket("1")
    first.say("1", first.bridge_user, "Opened by the integration (its description).")
    first.say("1", CUSTOMER, "Context from before.")
    handle_first_level(ctx, "1")
    assert vendor_bodies(second) == []
