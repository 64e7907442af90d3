"""One bad comment blocks nothing else: it is parked alone, with its reason and a count."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.errors import PermanentError, RetryableError
from bridge.records import PairKey
from bridge.retry import Unreachable
from bridge.sync import release_parked
from bridge.writes import PARKED
from tests.unit.fakes import FakeConnector, MemoryStore
from tests.unit.test_sync import CUSTOMER, DEV, bodies, linked

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


class Clock:
    """Turned by hand: the sync reads it when it records a refusal."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def refused(store: MemoryStore) -> list[dict[str, object]]:
    return [d for _, action, d in store.entries if action == "not_copied"]


@dataclass
class Pair:
    """A linked pair whose vendor side refuses comments that say SECRET (403), not others."""

    clock: Clock
    first: FakeConnector
    second: FakeConnector
    store: MemoryStore
    issue: str
    ctx: RouteContext


def setup() -> Pair:
    ctx, first, second, store, issue = linked()
    clock = Clock()
    second.refuse_text = {"SECRET"}
    return Pair(clock, first, second, store, issue, replace(ctx, clock=clock))


def test_a_refused_comment_parks_alone_and_everything_else_still_syncs() -> None:
    p = setup()
    bad = p.first.say("1", CUSTOMER, "Here is the SECRET key.")
    p.first.say("1", CUSTOMER, "Retest: still broken.")
    p.second.say(p.issue, DEV, "Which PHP version?")
    p.second.set(p.issue, status="feedback")  # the other direction: a status change

    decision = handle_first_level(p.ctx, "1")

    assert decision.action == "synced"  # the job succeeds
    assert decision.details["not_copied"] == [f"helpdesk:{bad.id}"]
    assert not any("SECRET" in b for b in bodies(p.second, p.issue))
    assert any("Retest: still broken." in b for b in bodies(p.second, p.issue))  # the next one
    assert any("Which PHP version?" in b for b in bodies(p.first, "1"))  # the other way
    assert p.first.tickets["1"].status == "open"  # and the status change (from hold)
    (entry,) = refused(p.store)
    assert entry["from"] == f"helpdesk:{bad.id}" and entry["to"] == "vendor"
    assert entry["reason"] == "not copied: add note failed: 403 refused: access denied"
    (item,) = p.store.parked_items(PairKey("acme", "1")).values()
    assert (item.count, item.first_seen, item.last_seen) == (1, T0.isoformat(), T0.isoformat())
    assert p.store.comment_marks(PairKey("acme", "1"))[item.key].startswith(PARKED)


def test_later_syncs_neither_retry_a_parked_comment_nor_log_it_again() -> None:
    p = setup()
    p.first.say("1", CUSTOMER, "Here is the SECRET key.")
    handle_first_level(p.ctx, "1")
    assert len(p.second.refusals) == 1
    for hour in range(1, 4):
        p.clock.now = T0 + timedelta(hours=hour)
        assert handle_first_level(p.ctx, "1").action == "in_sync"
    assert len(p.second.refusals) == 1  # not tried again on every poll
    assert len(refused(p.store)) == 1
    (item,) = p.store.parked_items(PairKey("acme", "1")).values()
    assert item.count == 1  # the count stays: it was not tried again, so nothing was refused


def test_an_operator_resync_retries_it_and_the_same_refusal_only_counts() -> None:
    p = setup()
    p.first.say("1", CUSTOMER, "Here is the SECRET key.")
    handle_first_level(p.ctx, "1")
    p.clock.now = T0 + timedelta(hours=2)
    assert release_parked(p.store, PairKey("acme", "1")) != []
    handle_first_level(p.ctx, "1")
    assert len(p.second.refusals) == 2  # tried once more, looked for first, refused again
    (item,) = p.store.parked_items(PairKey("acme", "1")).values()
    assert (item.count, item.first_seen) == (2, T0.isoformat())
    assert item.last_seen == (T0 + timedelta(hours=2)).isoformat()
    assert len(refused(p.store)) == 1  # one entry with a count, not a line per try

    p.second.refuse_text = set()  # the vendor fixed the permission: the next resync copies it
    release_parked(p.store, PairKey("acme", "1"))
    handle_first_level(p.ctx, "1")
    assert sum("SECRET" in b for b in bodies(p.second, p.issue)) == 1
    assert p.store.parked_items(PairKey("acme", "1")) == {}


def test_a_changed_source_is_tried_again_by_itself() -> None:
    p = setup()
    bad = p.first.say("1", CUSTOMER, "Here is the SECRET key.")
    handle_first_level(p.ctx, "1")
    p.first.comments["1"][-1] = replace(bad, body="Here is the key (removed).")  # edited
    handle_first_level(p.ctx, "1")
    assert sum("key (removed)" in b for b in bodies(p.second, p.issue)) == 1
    assert p.store.parked_items(PairKey("acme", "1")) == {}


def test_a_refused_login_is_not_one_comment_s_problem() -> None:
    p = setup()
    p.first.say("1", CUSTOMER, "SECRET one.")
    p.second.refuse_status = 401  # the bridge's own credentials: every write would fail
    with pytest.raises(PermanentError, match="401"):  # so the job parks, as before
        handle_first_level(p.ctx, "1")
    assert refused(p.store) == [] and p.store.parked_items(PairKey("acme", "1")) == {}


def test_a_passing_fault_names_the_system_it_came_from() -> None:
    p = setup()
    p.first.say("1", CUSTOMER, "Retest.")
    p.second.timeout_before = {"comment"}
    with pytest.raises(Unreachable) as err:
        handle_first_level(p.ctx, "1")
    assert err.value.system == "vendor"
    assert isinstance(err.value, RetryableError) and err.value.maybe_applied
