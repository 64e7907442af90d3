"""Engine decisions with fake connectors and an in-memory store (no Redis, no HTTP)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.errors import PermanentError, RetryableError
from bridge.models import Event, EventKind, SystemRef
from bridge.protocol import Capability
from bridge.records import PairKey
from tests.unit.fakes import FakeConnector, MemoryStore, WorkerDied
from tests.unit.helpers import COMPLETE_FIELDS, shipped_mapping, ticket

MAPPING = shipped_mapping()


def make(language: str = "en") -> tuple[RouteContext, FakeConnector, FakeConnector, MemoryStore]:
    first = FakeConnector("helpdesk", kind="zendesk", bridge_user="99")
    second = FakeConnector("vendor", kind="mantis", bridge_user="7")
    store = MemoryStore()
    ctx = RouteContext("acme", MAPPING, language, first, second, store.as_stores())
    return ctx, first, second, store


def incomplete_ticket(ticket_id: str = "1"):  # type: ignore[no-untyped-def]
    fields = {k: v for k, v in COMPLETE_FIELDS.items() if k not in ("360001", "360004")}
    return ticket(ticket_id, fields=fields, status="new")


def test_missing_data_is_requested_once_with_each_gap_named() -> None:
    ctx, first, second, store = make()
    first.tickets["1"] = incomplete_ticket()

    d1 = handle_first_level(ctx, "1")
    d2 = handle_first_level(ctx, "1")

    assert d1.action == "missing_data_requested"
    assert d2.action == "missing_data_already_requested"
    (comment,) = first.comments["1"]
    assert "- Customer number" in comment.body
    assert "- May the end customer be contacted (yes/no)" in comment.body
    assert "Domain" not in comment.body
    assert comment.public is False
    # The internal note asks the agent: the ticket is being worked on, not waiting on the
    # requester (pending).
    assert first.tickets["1"].status == "open"
    assert second.writes == []
    assert store.actions() == [
        "missing_data_requested",
        "status_set",
        "missing_data_already_requested",
    ]


def test_german_route_writes_german_request() -> None:
    ctx, first, _, _ = make("de")
    first.tickets["1"] = incomplete_ticket()
    handle_first_level(ctx, "1")
    assert "- Kundennummer" in first.comments["1"][0].body
    assert "fehlen" in first.comments["1"][0].body


def test_a_different_gap_is_asked_again() -> None:
    ctx, first, _, _ = make()
    first.tickets["1"] = incomplete_ticket()
    handle_first_level(ctx, "1")
    first.tickets["1"] = replace(
        first.tickets["1"], fields={**first.tickets["1"].fields, "360001": "40711"}
    )
    decision = handle_first_level(ctx, "1")
    assert decision.action == "missing_data_requested"
    assert len(first.comments["1"]) == 2
    assert "Customer number" not in first.comments["1"][1].body


def test_completed_ticket_escalates_with_everything_the_vendor_needs() -> None:
    ctx, first, second, store = make()
    first.tickets["1"] = incomplete_ticket()
    handle_first_level(ctx, "1")
    first.tickets["1"] = ticket("1", status="open")

    decision = handle_first_level(ctx, "1")

    assert decision.action == "escalated"
    ((kind, draft),) = second.writes
    assert kind == "create"
    assert draft.subject == "[40711] Checkout fails"
    assert draft.priority == "high"
    assert draft.project == "Support" and draft.category == "General"
    assert draft.fields == {
        "Kundennummer": "40711",
        "Domain": "shop.example.com",
        "Helpdesk-Ticket": "https://helpdesk.example/t/1",
    }
    for needle in ("Customer number: 40711", "Domain: shop.example.com", "it@example.com",
                   "May the end customer be contacted (yes/no): yes", "error 500",
                   "https://helpdesk.example/t/1"):  # fmt: skip
        assert needle in draft.description
    assert first.tickets["1"].external_id == "vendor:100"
    assert first.tickets["1"].status == "hold"  # waiting on a third party: the vendor
    note = first.comments["1"][-1]
    assert note.public is False
    assert "MantisBT #100" in note.body and "https://vendor.example/t/100" in note.body
    link = store.get_link(PairKey("acme", "1"))
    assert link is not None and link.second == SystemRef("vendor", "100")
    assert link.first_marked and link.note_id == note.id


def test_escalated_ticket_is_never_created_twice() -> None:
    ctx, first, second, _ = make()
    first.tickets["1"] = ticket("1")
    handle_first_level(ctx, "1")
    again = handle_first_level(ctx, "1")
    assert again.action == "in_sync"
    assert [w for w in second.writes if w[0] == "create"] and len(second.writes) == 1
    assert len(first.comments["1"]) == 1


def test_failed_follow_up_write_is_finished_by_the_retry() -> None:
    ctx, first, second, store = make()
    first.tickets["1"] = ticket("1")
    first.fail_on = {"comment"}
    with pytest.raises(PermanentError):
        handle_first_level(ctx, "1")
    first.fail_on = set()
    decision = handle_first_level(ctx, "1")
    assert decision.action == "escalation_completed"
    assert len(second.writes) == 1
    assert len(first.comments["1"]) == 1
    assert store.get_link(PairKey("acme", "1")).note_id is not None  # type: ignore[union-attr]


def test_refused_create_frees_the_claim_for_a_retry() -> None:
    ctx, first, second, store = make()
    first.tickets["1"] = ticket("1")
    second.fail_on = {"create"}
    with pytest.raises(PermanentError):
        handle_first_level(ctx, "1", run_id="job-1")
    assert store.claims == {}
    second.fail_on = set()
    assert handle_first_level(ctx, "1", run_id="job-1").action == "escalated"


def test_interrupted_create_parks_instead_of_duplicating() -> None:
    ctx, first, second, store = make()
    first.tickets["1"] = ticket("1")
    store.claim_escalation(PairKey("acme", "1"), "job-1")  # a worker died between create and link
    with pytest.raises(PermanentError, match="interrupted"):
        handle_first_level(ctx, "1", run_id="job-1")
    with pytest.raises(RetryableError, match="in progress"):
        handle_first_level(ctx, "1", run_id="job-2")
    assert second.writes == []


def test_non_technical_ticket_is_recorded_not_escalated() -> None:
    ctx, first, second, store = make()
    fields = {k: v for k, v in COMPLETE_FIELDS.items() if k != "360005"}
    first.tickets["1"] = ticket("1", type="question", fields=fields)
    decision = handle_first_level(ctx, "1")
    assert decision.action == "not_technical"
    assert "type='question'" in decision.reason
    assert second.writes == [] and first.writes == []
    assert store.actions() == ["not_technical"]


def test_events_by_the_bridge_user_are_dropped() -> None:
    ctx, first, second, store = make()
    first.tickets["1"] = ticket("1")
    event = Event(SystemRef("helpdesk", "1"), EventKind.TICKET_UPDATED, "d1", actor_id="99")
    decision = handle_first_level(ctx, "1", event)
    assert decision.action == "ignored_own_write"
    assert second.writes == [] and first.writes == []
    assert store.actions() == ["ignored_own_write"]


def finder(ctx: RouteContext, second: FakeConnector) -> RouteContext:
    second.capabilities = frozenset({Capability.FIND_CREATED})
    return replace(ctx, second=second)


def test_create_whose_answer_was_lost_is_found_not_repeated() -> None:
    ctx, first, second, store = make()
    ctx = finder(ctx, second)
    first.tickets["1"] = ticket("1")
    second.applied_then_timeout = {"create"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1", run_id="job-1")
    assert PairKey("acme", "1") in store.claims  # kept: the issue may exist
    decision = handle_first_level(ctx, "1", run_id="job-1")  # RQ's retry keeps the job id
    assert decision.action == "recovered"
    assert len([w for w in second.writes if w[0] == "create"]) == 1
    assert first.tickets["1"].external_id == "vendor:100"


def test_create_that_never_happened_is_sent_again() -> None:
    ctx, first, second, _ = make()
    ctx = finder(ctx, second)
    first.tickets["1"] = ticket("1")
    second.timeout_before = {"create"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1", run_id="job-1")
    assert handle_first_level(ctx, "1", run_id="job-1").action == "escalated"
    assert len([w for w in second.writes if w[0] == "create"]) == 1


def test_data_request_whose_answer_was_lost_is_not_posted_twice() -> None:
    ctx, first, _, _ = make()
    first.tickets["1"] = incomplete_ticket()
    first.applied_then_timeout = {"comment"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1")
    assert handle_first_level(ctx, "1").action == "missing_data_requested"
    assert len(first.comments["1"]) == 1
    assert first.tickets["1"].status == "open"


def test_data_request_that_never_happened_is_posted_by_the_retry() -> None:
    ctx, first, _, _ = make()
    first.tickets["1"] = incomplete_ticket()
    first.timeout_before = {"comment"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1")
    assert first.comments.get("1") is None
    assert handle_first_level(ctx, "1").action == "missing_data_requested"
    assert len(first.comments["1"]) == 1


def test_link_note_whose_answer_was_lost_is_not_posted_twice() -> None:
    ctx, first, _, store = make()
    first.tickets["1"] = ticket("1")
    first.applied_then_timeout = {"comment"}
    with pytest.raises(RetryableError):
        handle_first_level(ctx, "1")
    assert handle_first_level(ctx, "1").action == "escalation_completed"
    assert len(first.comments["1"]) == 1
    assert store.get_link(PairKey("acme", "1")).note_id == first.comments["1"][0].id  # type: ignore[union-attr]


def test_a_worker_killed_right_after_asking_does_not_ask_twice() -> None:
    ctx, first, _, _ = make()
    first.tickets["1"] = incomplete_ticket()
    first.die_after = {"comment"}
    with pytest.raises(WorkerDied):
        handle_first_level(ctx, "1")
    handle_first_level(ctx, "1")
    assert len(first.comments["1"]) == 1


def test_a_worker_killed_before_asking_still_asks() -> None:
    ctx, first, _, _ = make()
    first.tickets["1"] = incomplete_ticket()
    first.fail_on = {"comment"}
    with pytest.raises(PermanentError):
        handle_first_level(ctx, "1")
    first.fail_on = set()
    assert handle_first_level(ctx, "1").action == "missing_data_requested"
    assert len(first.comments["1"]) == 1


def test_a_worker_killed_right_after_the_link_note_does_not_post_it_twice() -> None:
    ctx, first, second, _ = make()
    first.tickets["1"] = ticket("1")
    first.die_after = {"comment"}
    with pytest.raises(WorkerDied):
        handle_first_level(ctx, "1")
    handle_first_level(ctx, "1")
    assert len(first.comments["1"]) == 1
    assert len(second.writes) == 1


def test_target_project_can_be_picked_by_customer_number() -> None:
    mapping = replace(
        MAPPING, project_by_field="customer_number", project_map={"40711": "Shop {domain}"}
    )
    ctx, first, second, _ = make()
    ctx = replace(ctx, mapping=mapping)
    first.tickets["1"] = ticket("1")
    first.tickets["2"] = ticket("2", fields={**COMPLETE_FIELDS, "360001": "99999"})
    handle_first_level(ctx, "1")
    handle_first_level(ctx, "2")
    projects = [w[1].project for w in second.writes if w[0] == "create"]
    assert projects == ["Shop shop.example.com", "Support"]  # unknown customer: the default
