"""The `tb:waiting` index of escalations waiting for data, on a real Redis."""

from __future__ import annotations

import time

from redis import Redis

from bridge.records import PairKey
from bridge.stores import WaitingStore


def test_mark_keeps_the_first_time_and_the_latest_gaps_clear_removes(redis: Redis) -> None:
    store = WaitingStore(redis)
    store.mark_waiting(PairKey("acme", "7"), {"domain": "missing", "customer_number": "missing"})
    first = store.waiting_for_data()[0]["since"]
    time.sleep(0.01)
    store.mark_waiting(
        PairKey("acme", "7"), {"domain": "'x': is not a domain name like example.com"}
    )
    store.mark_waiting(PairKey("acme", "8"), {"contact": "missing"})
    (seven, eight) = store.waiting_for_data()
    assert (seven["route"], seven["ticket"], seven["since"]) == ("acme", "7", first)
    assert seven["missing"] == {"domain": "'x': is not a domain name like example.com"}
    assert eight["ticket"] == "8" and eight["since"] > first
    store.clear_waiting(PairKey("acme", "7"))
    store.clear_waiting(PairKey("acme", "404"))  # clearing what is not there is fine
    assert [w["ticket"] for w in store.waiting_for_data()] == ["8"]
