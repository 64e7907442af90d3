"""Zendesk statuses as teams use them: open while the agent is asked, on-hold while the vendor
works, pending only when the requester is asked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.mapping import RouteMapping, load_mapping
from bridge.records import PairKey
from tests.unit.fakes import FakeConnector, MemoryStore
from tests.unit.helpers import COMPLETE_FIELDS, SHIPPED, shipped_mapping, ticket


def make(mapping: RouteMapping) -> tuple[RouteContext, FakeConnector, FakeConnector, MemoryStore]:
    first = FakeConnector("helpdesk", kind="zendesk", bridge_user="99")
    second = FakeConnector("vendor", kind="mantis", bridge_user="7")
    store = MemoryStore()
    return (
        RouteContext("acme", mapping, "en", first, second, store.as_stores()),
        first,
        second,
        store,
    )


def incomplete(status: str = "new"):  # type: ignore[no-untyped-def]
    fields = {k: v for k, v in COMPLETE_FIELDS.items() if k != "360001"}
    return ticket("1", fields=fields, status=status)


def test_an_internal_request_leaves_the_ticket_open_for_the_agent() -> None:
    ctx, first, _, _ = make(shipped_mapping())
    first.tickets["1"] = incomplete()
    handle_first_level(ctx, "1")
    assert first.comments["1"][0].public is False
    assert first.tickets["1"].status == "open"


def test_a_public_request_waits_on_the_requester() -> None:
    mapping = replace(shipped_mapping(), missing_public=True, missing_status="pending")
    ctx, first, _, _ = make(mapping)
    first.tickets["1"] = incomplete()
    handle_first_level(ctx, "1")
    assert first.comments["1"][0].public is True
    assert first.tickets["1"].status == "pending"


def test_escalated_waits_on_the_vendor_on_hold() -> None:
    ctx, first, _, store = make(shipped_mapping())
    first.tickets["1"] = incomplete()
    handle_first_level(ctx, "1")
    first.set("1", fields=dict(COMPLETE_FIELDS))
    decision = handle_first_level(ctx, "1")
    assert decision.action == "escalated"
    assert first.tickets["1"].status == "hold"
    # the bridge's own move is the pair's baseline: nothing is copied to the vendor for it
    assert store.pair_state(PairKey("acme", "1"))["first_status"] == "hold"
    writes = len(ctx.second.writes)  # type: ignore[attr-defined]
    assert handle_first_level(ctx, "1").action == "in_sync"
    assert len(ctx.second.writes) == writes  # type: ignore[attr-defined]


def test_escalated_status_is_configurable_and_null_leaves_it_alone() -> None:
    for wanted, expected in (("open", "open"), (None, "pending")):
        ctx, first, _, _ = make(replace(shipped_mapping(), escalated_status=wanted))
        first.tickets["1"] = ticket("1", status="pending")
        handle_first_level(ctx, "1")
        assert first.tickets["1"].status == expected


def write_mapping(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "m.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_unset_statuses_take_the_first_levels_defaults(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, "  status: open\n\n", "\n")
    path.write_text(path.read_text().replace("escalated_status: hold\n", ""))
    zendesk = load_mapping(path, None, "zendesk", "mantis")
    assert (zendesk.missing_status, zendesk.escalated_status) == ("open", "hold")
    zammad = load_mapping(path, None, "zammad", "mantis")
    assert (zammad.missing_status, zammad.escalated_status) == ("open", "open")
    path.write_text(path.read_text().replace("  public: false\n", "  public: true\n", 1))
    assert load_mapping(path, None, "zendesk", "mantis").missing_status == "pending"


def test_explicit_null_leaves_statuses_alone(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, "escalated_status: hold", "escalated_status: null")
    mapping = load_mapping(path, None, "zendesk", "mantis")
    assert mapping.escalated_status is None


@pytest.mark.parametrize(
    ("public", "status", "needle"),
    [
        ("false", "pending", "'pending' waits on the requester, but the request is an internal"),
        ("true", "open", "a public request waits on the requester: use 'pending'"),
    ],
)
def test_request_and_status_must_tell_the_same_story(
    tmp_path: Path, public: str, status: str, needle: str
) -> None:
    path = write_mapping(
        tmp_path, "  public: false\n  status: open\n", f"  public: {public}\n  status: {status}\n"
    )
    line = next(
        i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln == f"  status: {status}"
    )
    with pytest.raises(Exception) as err:
        load_mapping(path, None, "zendesk", "mantis")
    assert str(err.value).startswith(f"{path}, line {line}: missing_data.status: {needle}")
    # consistent pairs load
    for good in ("  public: true\n  status: pending\n", "  public: false\n  status: open\n"):
        path.write_text(SHIPPED.read_text().replace("  public: false\n  status: open\n", good))
        load_mapping(path, None, "zendesk", "mantis")
