"""Pair state: per linked pair, the status and priority last seen in step on both sides.

A value is copied only when one side moved since then (the newer change wins when both did),
so a status the bridge wrote is not echoed back, and the comment-read cursors and the
expected status of a write in flight are kept beside them (bridge.plan_reads, pair_status).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis import Redis

from bridge import keyspace
from bridge.records import PairKey
from bridge.stores.values import text_map


class PairStateStore:
    """A hash per pair (keyspace.pair_state); fields are written, never removed."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def pair_state(self, pair: PairKey) -> dict[str, str]:
        return text_map(self.redis.hgetall(keyspace.pair_state(pair)))

    def set_pair_state(self, pair: PairKey, state: Mapping[str, str]) -> None:
        if state:
            values: dict[Any, Any] = dict(state)
            self.redis.hset(keyspace.pair_state(pair), mapping=values)
