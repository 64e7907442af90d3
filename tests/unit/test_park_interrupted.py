"""A job that dies between a comment's parked mark and its parked item (a hung Redis runs it
into its timeout there) must not leave the comment parked where no resync releases it and the
agent never hears of it: the next sync tries it again and records the refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from bridge.engine import handle_first_level
from bridge.records import PairKey, ParkedItem
from bridge.sync import release_parked
from bridge.writes import PARKED
from tests.unit.fakes import MemoryStore
from tests.unit.test_item_parking import refused, setup
from tests.unit.test_sync import CUSTOMER, bodies


class DiesOnce(MemoryStore):
    """A store whose first park_item never returns (the job is killed in it)."""

    died = False

    def park_item(
        self,
        pair: PairKey,
        key: str,
        reason: str,
        at: datetime,
        while_status: str = "",
    ) -> ParkedItem:
        if not self.died:
            self.died = True
            raise TimeoutError("job timeout inside park_item")
        return super().park_item(pair, key, reason, at, while_status)


def test_a_park_cut_short_is_recorded_at_the_next_sync() -> None:
    p = setup()
    store = DiesOnce()
    vars(store).update(vars(p.store))  # the linked pair: its link, marks and state
    ctx = replace(p.ctx, stores=store.as_stores())
    bad = p.first.say("1", CUSTOMER, "Here is the SECRET key.")
    key = f"helpdesk:{bad.id}"
    with pytest.raises(TimeoutError):
        handle_first_level(ctx, "1")
    assert store.comment_marks(PairKey("acme", "1"))[key].startswith(PARKED)  # the mark got written
    assert store.parked_items(PairKey("acme", "1")) == {}  # its item did not

    decision = handle_first_level(ctx, "1")

    assert decision.details["not_copied"] == [key]
    (item,) = store.parked_items(PairKey("acme", "1")).values()
    assert item.key == key and item.count == 1 and "403" in item.reason
    assert [e["from"] for e in refused(store)] == [key]
    assert release_parked(store, PairKey("acme", "1")) == [
        key
    ]  # an operator's resync can release it
    assert not any("SECRET" in b for b in bodies(p.second, p.issue))


def test_a_recorded_park_is_still_left_alone() -> None:
    p = setup()
    p.first.say("1", CUSTOMER, "Here is the SECRET key.")
    handle_first_level(p.ctx, "1")
    handle_first_level(p.ctx, "1")
    assert len(p.second.refusals) == 1  # the item is there: not tried again
