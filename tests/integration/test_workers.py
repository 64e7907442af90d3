"""The worker's changes to RQ's defaults, on a real Redis: pipelined heartbeats, and the two
paces of registry cleaning (abandoned jobs often, rate-limit keys at RQ's pace)."""

from __future__ import annotations

import time

from redis import Redis
from rq.rate_limit import RateLimit

from bridge.queue import JsonQueue
from bridge.workers import BridgeWorker


def test_a_heartbeat_is_one_round_trip_and_still_extends_the_worker(redis: Redis) -> None:
    worker = BridgeWorker([JsonQueue("t-heartbeat", connection=redis)], connection=redis)
    worker.register_birth()
    try:
        redis.expire(worker.key, 5)
        sent: list[int] = []
        original = redis.connection_pool.get_connection

        def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            sent.append(1)
            return original(*args, **kwargs)

        redis.connection_pool.get_connection = counting  # type: ignore[method-assign]
        try:
            worker.heartbeat(300)
        finally:
            redis.connection_pool.get_connection = original  # type: ignore[method-assign]
        assert len(sent) == 1
        assert redis.ttl(worker.key) > 200
        assert redis.hget(worker.key, "last_heartbeat")
    finally:
        worker.register_death()


def test_rate_limit_keys_are_cleaned_at_rqs_pace_not_every_tick(redis: Redis) -> None:
    queue = JsonQueue("t-maint", connection=redis)
    job = queue.enqueue("bench.common.noop", rate_limit=RateLimit("tb:pair:t:1", 1))
    job.delete()  # the key's registry is now empty: only the full cleaning removes it
    worker = BridgeWorker([queue], connection=redis)

    worker._last_full_clean = time.monotonic()  # a full cleaning just ran
    worker.clean_registries()
    assert b"tb:pair:t:1" in redis.smembers("rq:rl-keys")
    assert worker.last_cleaned_at is not None

    worker._last_full_clean = float("-inf")  # due
    worker.clean_registries()
    assert b"tb:pair:t:1" not in redis.smembers("rq:rl-keys")
