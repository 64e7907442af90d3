"""The pairs that stopped retrying because a system did not answer, per system.

A job that runs out of retries against an unreachable system parks (bridge.jobs); its pair is
kept here so the reconciler queues it again after the next good poll of that system
(bridge.polling), instead of waiting for an operator or a new event.
"""

from __future__ import annotations

from redis import Redis

from bridge import keyspace
from bridge.records import PairKey
from bridge.stores.values import text


class GaveUpStore:
    """One Redis set of pair members per system (keyspace.gave_up)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def add_gave_up(self, system: str, pair: PairKey) -> None:
        """A pair stopped retrying because `system` did not answer: sync it when it does."""
        self.redis.sadd(keyspace.gave_up(system), keyspace.pair_member(pair))

    def gave_up_on(self, system: str) -> list[PairKey]:
        """The pairs waiting for `system` to answer again."""
        members = sorted(text(m) for m in self.redis.smembers(keyspace.gave_up(system)))
        return [keyspace.parse_pair_member(m) for m in members]

    def forget_gave_up(self, system: str, pair: PairKey) -> None:
        self.redis.srem(keyspace.gave_up(system), keyspace.pair_member(pair))
