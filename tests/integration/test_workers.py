"""The worker's changes to RQ's defaults, on a real Redis: pipelined heartbeats."""

from __future__ import annotations

from redis import Redis

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
