"""Where a copied comment lands: safe by default, public only by choice and with consent."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.mapping import (
    TO_FIRST_DEFAULT,
    TO_SECOND_DEFAULT,
    RouteMapping,
    SyncRules,
    Visibility,
    load_mapping,
)
from bridge.models import Comment
from bridge.sync import Direction, route_visibility
from tests.unit.fakes import FakeConnector, MemoryStore
from tests.unit.helpers import COMPLETE_FIELDS, ROOT, SHIPPED, shipped_mapping, ticket

PUBLIC, INTERNAL, SKIP = Visibility.PUBLIC, Visibility.INTERNAL, Visibility.SKIP
OPT_IN = {PUBLIC: PUBLIC, INTERNAL: INTERNAL}  # a route that opts into everything
CUSTOMER, AGENT, DEV = "501", "502", "701"


def direction(name: str, flow: dict[Visibility, Visibility], may: bool | None) -> Direction:
    src, dst = FakeConnector("a", kind="mantis"), FakeConnector("b", kind="zendesk")
    return Direction(name, src, "1", dst, "2", flow, may_contact_customer=may)


@pytest.mark.parametrize(
    ("name", "flow", "public", "may", "expected"),
    [
        # towards the helpdesk (first level), where the end customer reads public comments
        ("to_first", TO_FIRST_DEFAULT, True, True, INTERNAL),  # default: for the agent
        ("to_first", TO_FIRST_DEFAULT, False, True, SKIP),  # vendor-internal stays there
        ("to_first", OPT_IN, True, True, PUBLIC),  # opted in, customer may be contacted
        ("to_first", OPT_IN, True, False, INTERNAL),  # opted in, but "may contact: no"
        ("to_first", OPT_IN, True, None, INTERNAL),  # opted in, consent unknown: no
        ("to_first", {INTERNAL: PUBLIC}, False, False, INTERNAL),  # no flow makes it public
        ("to_first", {INTERNAL: PUBLIC}, False, True, PUBLIC),
        ("to_first", {}, True, True, SKIP),  # a visibility the flow does not name
        # towards the vendor: the end customer is not there, consent does not apply
        ("to_second", TO_SECOND_DEFAULT, True, None, PUBLIC),
        ("to_second", TO_SECOND_DEFAULT, False, None, SKIP),  # agent notes stay on helpdesk
        ("to_second", OPT_IN, False, None, INTERNAL),  # opted in
        ("to_second", OPT_IN, True, False, PUBLIC),
    ],
)  # fmt: skip
def test_visibility_table(
    name: str,
    flow: dict[Visibility, Visibility],
    public: bool,
    may: bool | None,
    expected: Visibility,
) -> None:
    comment = Comment("9", "text", public, author_id=DEV)
    assert route_visibility(direction(name, flow, may), comment) is expected


def test_a_direction_without_a_known_answer_is_never_public_to_the_customer() -> None:
    d = Direction("to_first", FakeConnector("a"), "1", FakeConnector("b"), "2", dict(OPT_IN))
    assert d.may_contact_customer is None
    assert route_visibility(d, Comment("9", "x", True)) is INTERNAL


def test_defaults_are_internal_and_skip() -> None:
    rules = SyncRules()
    assert dict(rules.comments_to_first) == {PUBLIC: INTERNAL, INTERNAL: SKIP}
    assert dict(rules.comments_to_second) == {PUBLIC: PUBLIC, INTERNAL: SKIP}


def test_a_mapping_without_a_sync_section_gets_the_safe_defaults(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    start, end = text.index("  comments_to_second:"), text.index("  status:\n    to_second")
    path = tmp_path / "m.yaml"
    path.write_text(text[:start] + text[end:])
    mapping = load_mapping(path)
    assert dict(mapping.sync.comments_to_first) == {PUBLIC: INTERNAL, INTERNAL: SKIP}
    assert dict(mapping.sync.comments_to_second) == {PUBLIC: PUBLIC, INTERNAL: SKIP}


def test_one_key_given_keeps_the_default_of_the_other(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    start, end = text.index("  comments_to_second:"), text.index("  status:\n    to_second")
    path = tmp_path / "m.yaml"
    path.write_text(text[:start] + "  comments_to_first: {public: public}\n" + text[end:])
    mapping = load_mapping(path)
    assert dict(mapping.sync.comments_to_first) == {PUBLIC: PUBLIC, INTERNAL: SKIP}


@pytest.mark.parametrize("path", sorted((ROOT / "mappings").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_mapping_is_safe_by_default(path: Path) -> None:
    mapping = load_mapping(path)
    assert dict(mapping.sync.comments_to_first) == {PUBLIC: INTERNAL, INTERNAL: SKIP}
    assert dict(mapping.sync.comments_to_second) == {PUBLIC: PUBLIC, INTERNAL: SKIP}


def test_an_unknown_visibility_is_refused_with_its_line(tmp_path: Path) -> None:
    text = SHIPPED.read_text().replace("    public: internal ", "    public: customer ")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "public: customer" in ln)
    with pytest.raises(Exception, match=rf"line {line}: sync.comments_to_first.public: Must be"):
        load_mapping(path)


# -- end to end through the engine, with fake connectors --------------------------------------


def pair(
    mapping: RouteMapping, may: str = "kontakt_ja"
) -> tuple[RouteContext, FakeConnector, FakeConnector, str]:
    first = FakeConnector("helpdesk", kind="zendesk", bridge_user="99")
    second = FakeConnector("vendor", kind="mantis", bridge_user="7")
    ctx = RouteContext("acme", mapping, "en", first, second, MemoryStore().as_stores())
    first.tickets["1"] = ticket("1", fields={**COMPLETE_FIELDS, "360004": may})
    assert handle_first_level(ctx, "1").action == "escalated"
    (issue,) = second.tickets
    return ctx, first, second, issue


def opted_in() -> RouteMapping:
    mapping = shipped_mapping()
    return replace(mapping, sync=replace(mapping.sync, comments_to_first=dict(OPT_IN)))


def copies_on(connector: FakeConnector, ticket_id: str, text: str) -> list[bool]:
    """The visibility of each copy of `text` (True: public)."""
    return [c.public for c in connector.comments.get(ticket_id, []) if text in c.body]


def test_shipped_mapping_gives_the_vendor_note_to_the_agent_only() -> None:
    ctx, first, second, issue = pair(shipped_mapping())
    second.say(issue, DEV, "Which PHP version?")
    first.say("1", AGENT, "Internal: VIP customer.", public=False)
    handle_first_level(ctx, "1")
    assert copies_on(first, "1", "Which PHP version?") == [False]
    assert copies_on(second, issue, "VIP customer") == []


def test_opted_in_route_reaches_the_customer_who_may_be_contacted() -> None:
    ctx, first, second, issue = pair(opted_in(), may="kontakt_ja")
    second.say(issue, DEV, "Please retest with 2.4.1")
    handle_first_level(ctx, "1")
    assert copies_on(first, "1", "Please retest with 2.4.1") == [True]


def test_never_public_when_the_customer_may_not_be_contacted() -> None:
    ctx, first, second, issue = pair(opted_in(), may="kontakt_nein")
    second.say(issue, DEV, "Please retest with 2.4.1")
    handle_first_level(ctx, "1")
    assert copies_on(first, "1", "Please retest with 2.4.1") == [False]


def test_consent_is_read_from_the_ticket_at_each_sync() -> None:
    ctx, first, second, issue = pair(opted_in(), may="kontakt_ja")
    first.set("1", fields={**COMPLETE_FIELDS, "360004": "kontakt_nein"})  # withdrawn
    second.say(issue, DEV, "First answer")
    handle_first_level(ctx, "1")
    first.set("1", fields={k: v for k, v in COMPLETE_FIELDS.items() if k != "360004"})  # cleared
    second.say(issue, DEV, "Second answer")
    handle_first_level(ctx, "1")
    assert copies_on(first, "1", "First answer") == [False]
    assert copies_on(first, "1", "Second answer") == [False]
