"""The escalation gate, table-driven over the shipped Zendesk -> MantisBT mapping."""

from __future__ import annotations

import pytest

from bridge.rules import check_required, is_technical, map_priority, render
from tests.unit.helpers import COMPLETE_FIELDS, shipped_mapping, ticket

MAPPING = shipped_mapping()


def without(*keys: str) -> dict[str, str]:
    return {k: v for k, v in COMPLETE_FIELDS.items() if k not in keys}


def test_complete_ticket_passes_with_cleaned_values() -> None:
    gate = check_required(ticket(), MAPPING)
    assert gate.complete
    assert gate.values["customer_number"] == "40711"
    assert gate.values["domain"] == "shop.example.com"
    assert gate.values["may_contact_customer"] is True


@pytest.mark.parametrize(
    ("fields", "tags", "expected"),
    [
        (without("360001"), (), {"customer_number": "missing"}),
        (without("360002"), (), {"domain": "missing"}),
        (without("360004"), (), {"may_contact_customer": "missing"}),
        (without("360001", "360002"), (), {"customer_number": "missing", "domain": "missing"}),
        ({**COMPLETE_FIELDS, "360001": "  "}, (), {"customer_number": "missing"}),
    ],
)
def test_missing_fields_are_named(
    fields: dict[str, str], tags: tuple[str, ...], expected: dict[str, str]
) -> None:
    gate = check_required(ticket(fields=fields, tags=tags), MAPPING)
    assert dict(gate.problems) == expected


def test_customer_number_falls_back_to_tag_prefix() -> None:
    gate = check_required(ticket(fields=without("360001"), tags=("kdnr_55555", "vip")), MAPPING)
    assert gate.complete
    assert gate.values["customer_number"] == "55555"


def test_contact_falls_back_to_requester_email() -> None:
    gate = check_required(ticket(fields=without("360003")), MAPPING)
    assert gate.values["contact"] == "anna@example.com"


@pytest.mark.parametrize(
    ("field_id", "value", "needle"),
    [
        ("360001", "12ab", "must consist of 4 to 10 digits"),
        ("360002", "not a domain", "not a domain name"),
        ("360004", "vielleicht", "neither yes nor no"),
    ],
)
def test_invalid_values_say_why(field_id: str, value: str, needle: str) -> None:
    gate = check_required(ticket(fields={**COMPLETE_FIELDS, field_id: value}), MAPPING)
    assert not gate.complete
    (problem,) = gate.problems.values()
    assert needle in problem
    assert value in problem


def test_domain_given_as_url_is_reduced_to_host() -> None:
    gate = check_required(
        ticket(fields={**COMPLETE_FIELDS, "360002": "https://shop.example.com/checkout"}), MAPPING
    )
    assert gate.values["domain"] == "shop.example.com"


def test_may_contact_no_is_an_answer() -> None:
    gate = check_required(ticket(fields={**COMPLETE_FIELDS, "360004": "kontakt_nein"}), MAPPING)
    assert gate.complete
    assert gate.values["may_contact_customer"] is False


def test_unchecked_checkbox_counts_as_unanswered() -> None:
    gate = check_required(ticket(fields={**COMPLETE_FIELDS, "360004": False}), MAPPING)
    assert gate.problems == {"may_contact_customer": "missing"}


@pytest.mark.parametrize(
    ("overrides", "technical", "reason_part"),
    [
        ({"type": "question", "fields": without("360005")}, False, "no technical rule matched"),
        ({"type": "question", "fields": without("360005"), "tags": ("technical",)}, True, "tags"),
        ({"type": "problem", "fields": without("360005")}, True, "type in"),
        ({"type": "question"}, True, "field:360005"),
        ({"tags": ("no_escalation",)}, False, "excluded"),
    ],
)
def test_technical_rules(overrides: dict[str, object], technical: bool, reason_part: str) -> None:
    verdict = is_technical(ticket(**overrides), MAPPING)
    assert verdict.technical is technical
    assert reason_part in verdict.reason


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, "normal"), ("", "normal"), ("low", "low"), ("HIGH", "high"), ("urgent", "urgent"),
     ("weird", "normal")],
)  # fmt: skip
def test_priority_map_defaults_to_normal(given: str | None, expected: str) -> None:
    assert map_priority(given, MAPPING) == expected


def test_render_leaves_unknown_placeholders_empty() -> None:
    assert render("[{customer_number}] {nope}", {"customer_number": "1"}) == "[1] "
