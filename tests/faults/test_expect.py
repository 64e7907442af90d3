"""The fault run's expectations follow the mapping: a table of what crosses, how, and how the
bridge's own writes are told apart (tests/faults/expect.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bridge.agent_notes import DEFAULTS, NoteCause
from bridge.mapping import RouteMapping, Visibility, load_mapping
from bridge.texts import Language
from tests.faults.expect import (
    MANTIS,
    ZENDESK,
    Expectation,
    StatusChange,
    Writes,
    consent,
    expected_statuses,
    expected_visibility,
    repeated_notes,
)

SHIPPED = Path(__file__).resolve().parents[2] / "mappings" / "zendesk-mantis.yaml"
PUBLIC, INTERNAL, SKIP = Visibility.PUBLIC, Visibility.INTERNAL, Visibility.SKIP


@pytest.fixture(scope="module")
def mapping() -> RouteMapping:
    return load_mapping(SHIPPED, first_type="zendesk", second_type="mantis")


@pytest.mark.parametrize(
    ("origin", "public", "consents", "opted_in", "wanted"),
    [
        (ZENDESK, True, None, False, PUBLIC),  # the customer's retest note
        (ZENDESK, False, True, False, SKIP),  # the agent's internal note stays
        (MANTIS, True, True, False, INTERNAL),  # the vendor's note is for the agent first
        (MANTIS, False, True, True, SKIP),  # vendor-internal never crosses
        (MANTIS, True, True, True, PUBLIC),  # opted in, and the customer may be contacted
        (MANTIS, True, False, True, INTERNAL),  # opted in, but no consent
        (MANTIS, True, None, True, INTERNAL),  # opted in, consent not known
    ],
)
def test_visibility_follows_the_flow_and_consent(
    mapping: RouteMapping,
    origin: str,
    public: bool,
    consents: bool | None,
    opted_in: bool,
    wanted: Visibility,
) -> None:
    rules = mapping.sync
    if opted_in:
        flow = {**rules.comments_to_first, PUBLIC: PUBLIC}
        rules = replace(rules, comments_to_first=flow)
    e = Expectation("ev00001", origin, 1, 2, public)
    assert expected_visibility(rules, e, consents) is wanted


def test_consent_is_read_where_the_mapping_says(mapping: RouteMapping) -> None:
    def ticket(value: str) -> dict[str, object]:
        return {"custom_fields": [{"id": 360004, "value": value}]}

    assert consent(mapping, ticket("kontakt_ja")) is True
    assert consent(mapping, ticket("kontakt_nein")) is False
    assert consent(mapping, ticket("vielleicht")) is None
    assert consent(mapping, {"custom_fields": []}) is None


def test_bridge_writes_are_told_apart_by_their_texts(mapping: RouteMapping) -> None:
    writes = Writes(mapping, "en", "MantisBT")
    copy = writes.classify("Dana Developer (MantisBT) wrote:\n\nev00012 vendor question")
    assert (copy.kind, copy.token) == ("copy", "ev00012")
    # A header naming another system, or the config key, is no copy of this side's comments.
    assert writes.classify("Dana (Zendesk) wrote:\n\nev00012 x").kind == "unknown"
    assert writes.classify("Dana (vendor) wrote:\n\nev00012 x").kind == "unknown"
    link = "Escalated to the vendor: MantisBT #3 (http://mantis.example/view.php?id=3)"
    assert writes.classify(link).kind == "link_note"
    for cause in NoteCause:
        body = DEFAULTS[Language.EN][cause].format(target="MantisBT #3", reason="403 refused")
        assert writes.classify(body).cause is cause
    assert writes.classify("ev00012 something else").kind == "unknown"


def test_one_note_per_cause_until_it_recovers() -> None:
    told = [NoteCause.NOT_COPIED, NoteCause.ITEMS_RECOVERED, NoteCause.NOT_COPIED]
    assert repeated_notes(told) == []
    assert repeated_notes([NoteCause.SYNC_PARKED, NoteCause.ITEMS_RECOVERED,
                           NoteCause.SYNC_PARKED]) == [NoteCause.SYNC_PARKED]  # fmt: skip
    assert repeated_notes([NoteCause.DELAYED, NoteCause.RECOVERED, NoteCause.DELAYED]) == []


def test_statuses_follow_the_changes_in_order(mapping: RouteMapping) -> None:
    rules, hold = mapping.sync, mapping.escalated_status

    def at(second: int, side: str, status: str, moved: bool = True) -> StatusChange:
        return StatusChange(side, status, f"2030-05-01T09:00:{second:02d}+00:00", moved)

    def play(*changes: StatusChange) -> set[tuple[str | None, str | None]]:
        return expected_statuses(rules, hold, "new", list(changes))

    assert play() == {("hold", "new")}  # nobody changed it
    asked = at(1, MANTIS, "feedback")
    assert play(asked) == {("open", "feedback")}
    # The customer's reply after the vendor asked reopens the issue; the helpdesk stays open.
    assert play(asked, at(2, ZENDESK, "open", moved=False)) == {("open", "assigned")}
    # After a resolve, the reply that reopens the helpdesk ticket goes across as a status.
    resolved = at(1, MANTIS, "resolved")
    assert play(resolved, at(2, ZENDESK, "open")) == {("open", "assigned")}
    # A reply to an issue being worked on changes nothing there; a later vendor change wins.
    working = at(1, MANTIS, "assigned")
    assert play(working, at(2, ZENDESK, "open", moved=False)) == {("hold", "assigned")}
    assert play(at(1, ZENDESK, "open"), at(2, MANTIS, "assigned")) == {("hold", "assigned")}
    assert play(at(1, ZENDESK, "open"), working) == {("hold", "assigned"), ("open", "assigned")}
    # In the same second the reply may or may not come after the vendor's change (MantisBT
    # stamps in its server's offset, Zendesk in UTC).
    resolved_there = StatusChange(MANTIS, "resolved", "2030-05-01T10:00:01+01:00")
    assert play(resolved_there, StatusChange(ZENDESK, "open", "2030-05-01T09:00:01Z")) == {
        ("open", "assigned"), ("solved", "resolved")
    }  # fmt: skip
    assert play(resolved, at(1, ZENDESK, "open")) == {("open", "assigned"), ("solved", "resolved")}
    # Either way the later reply reopens the issue, and the helpdesk left solved is set open.
    assert play(resolved, at(1, ZENDESK, "open"), at(2, ZENDESK, "open", moved=False)) == {
        ("open", "assigned")
    }  # fmt: skip
