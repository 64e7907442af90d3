"""Parked comments and gave-up pairs in the real Redis store, and the operator's resync that
gives a parked comment one more try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis

from bridge.ops.actions import resync
from bridge.ops.inspect import Inspector
from bridge.records import PairKey
from bridge.sandbox.stack import Stack
from bridge.stores import GaveUpStore, MarkStore
from bridge.writes import PARKED, UNSURE

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def test_the_same_refusal_is_one_entry_with_a_count_and_a_new_one_starts_over(
    redis: Redis,
) -> None:
    store = MarkStore(redis)
    first = store.park_item(PairKey("acme", "1"), "helpdesk:5", "403 Forbidden", T0)
    again = store.park_item(
        PairKey("acme", "1"), "helpdesk:5", "403 Forbidden", T0 + timedelta(hours=1)
    )
    assert (first.count, again.count) == (1, 2)
    assert (again.first_seen, again.last_seen) == (
        T0.isoformat(),
        (T0 + timedelta(hours=1)).isoformat(),
    )
    other = store.park_item(
        PairKey("acme", "1"), "helpdesk:5", "422 too big", T0 + timedelta(hours=2)
    )
    assert (other.count, other.reason) == (1, "422 too big")
    store.park_item(PairKey("acme", "1"), "vendor:9", "403 Forbidden", T0)
    assert sorted(store.parked_items(PairKey("acme", "1"))) == ["helpdesk:5", "vendor:9"]
    store.unpark_item(PairKey("acme", "1"), "helpdesk:5")
    assert list(store.parked_items(PairKey("acme", "1"))) == ["vendor:9"]
    assert store.parked_items(PairKey("acme", "2")) == {}


def test_gave_up_pairs_are_kept_per_system(redis: Redis) -> None:
    store = GaveUpStore(redis)
    store.add_gave_up("vendor", PairKey("acme", "1"))
    store.add_gave_up("vendor", PairKey("acme", "1"))  # a set: once
    store.add_gave_up("vendor", PairKey("globex", "a:b"))
    store.add_gave_up("helpdesk", PairKey("acme", "3"))
    assert store.gave_up_on("vendor") == [PairKey("acme", "1"), PairKey("globex", "a:b")]
    store.forget_gave_up("vendor", PairKey("acme", "1"))
    assert store.gave_up_on("vendor") == [PairKey("globex", "a:b")]
    assert store.gave_up_on("helpdesk") == [PairKey("acme", "3")]


def test_a_resync_releases_the_pair_s_parked_comments_for_one_more_try(stack: Stack) -> None:
    store = MarkStore(stack.redis)
    store.mark_comment(PairKey("acme", "1"), "helpdesk:5", PARKED + "abc")
    store.mark_comment(PairKey("acme", "1"), "helpdesk:6", "vendor:77")
    store.park_item(PairKey("acme", "1"), "helpdesk:5", "403 Forbidden", T0)
    ins = Inspector(stack.redis, stack.config)

    (job_id,) = resync(ins, "helpdesk", "1")

    marks = store.comment_marks(PairKey("acme", "1"))
    # Looked for on the target before it is posted again: a refused write may be half done.
    assert marks == {"helpdesk:5": UNSURE, "helpdesk:6": "vendor:77"}
    assert (
        store.parked_items(PairKey("acme", "1"))["helpdesk:5"].count == 1
    )  # kept, to count repeats
    assert job_id.startswith("tb-acme-resync-")
    (match,) = [m for m in ins.search("1", "helpdesk") if m.route == "acme"]
    assert [item.key for item in match.not_copied] == ["helpdesk:5"]
