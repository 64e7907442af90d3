"""The shared request budget on a real Redis: slots are reserved in order, never overbooked."""

from __future__ import annotations

import threading

import pytest
from redis import Redis

from bridge.budget import RequestBudget
from bridge.errors import RateLimited

T0 = 1_800_000_000.0  # every test's clock stands still here: waits depend on slots alone


def frozen() -> float:
    return T0


def test_each_request_reserves_the_next_slot(redis: Redis) -> None:
    waits: list[float] = []
    budget = RequestBudget(redis, "zd", per_minute=60, max_wait=100, sleep=waits.append, margin=0,
                          clock=frozen)  # fmt: skip
    for _ in range(5):
        budget.acquire()
    # No real sleeping: the waits grow by one interval (1 s) per request.
    # The first request goes at once; each later one waits one interval (1 s) more.
    assert waits == pytest.approx([1, 2, 3, 4], abs=1e-6)


def test_a_wait_longer_than_allowed_raises_without_reserving(redis: Redis) -> None:
    budget = RequestBudget(redis, "zd", per_minute=6, max_wait=15, sleep=lambda s: None, margin=0,
                          clock=frozen)  # fmt: skip
    budget.acquire()  # now
    budget.acquire()  # +10 s
    with pytest.raises(RateLimited) as err:
        budget.acquire()  # +20 s > 15 s
    assert err.value.retry_after == pytest.approx(20, abs=1e-6)
    with pytest.raises(RateLimited):
        budget.acquire()  # still +20 s: the refused request reserved nothing


def test_workers_in_parallel_share_one_budget(redis: Redis) -> None:
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    def worker() -> None:
        budget = RequestBudget(Redis(connection_pool=redis.connection_pool), "zd",
                               per_minute=600, max_wait=100, sleep=record, margin=0,
                               clock=frozen)  # fmt: skip
        for _ in range(10):
            budget.acquire()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 requests at 10/s: every reserved slot is distinct, 0.1 s apart, none doubled up.
    slots = sorted(round(w, 6) for w in waits)
    assert len(slots) == 39  # the very first request did not wait
    assert slots == pytest.approx([0.1 * n for n in range(1, 40)], abs=1e-6)


def test_workers_build_connectors_that_spend_the_shared_budget(redis: Redis) -> None:
    from bridge.protocol import SystemSettings
    from bridge.registry import build_connector

    settings = SystemSettings(
        name="zd", type="zendesk", url="https://acme.zendesk.com",
        auth={"email": "b@acme.example", "token": "t"}, bridge_user="1",
        options={"requests_per_minute": 60},
    )  # fmt: skip
    connector = build_connector(settings, redis)
    hook = connector.http.before_request  # type: ignore[attr-defined]
    assert hook is not None
    hook()
    hook_wait = RequestBudget(redis, "zd", per_minute=60, max_wait=100, sleep=lambda s: None)
    assert hook_wait.acquire() == pytest.approx(1, abs=0.1)  # the connector took slot one
    assert build_connector(settings).http.before_request is None  # type: ignore[attr-defined]
