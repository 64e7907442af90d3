"""Notes to the agent: per pair and cause, the note that told the agent a ticket is stuck.

One note per cause until the pair recovers (bridge.agent_notes, plan_notes): the entry says
the agent was told (or that the note is being written), so a failing job that retries does
not post the same note at every attempt; recovery removes the cause.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from bridge import keyspace
from bridge.records import PairKey
from bridge.stores.values import text_map


class NoteStore:
    """A hash per pair (keyspace.agent_notes): cause -> note id or write mark."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def agent_notes(self, pair: PairKey) -> dict[str, str]:
        return text_map(self.redis.hgetall(keyspace.agent_notes(pair)))

    def set_agent_note(self, pair: PairKey, cause: str, value: str) -> None:
        self.redis.hset(keyspace.agent_notes(pair), cause, value)

    def clear_agent_notes(self, pair: PairKey, causes: Iterable[str]) -> None:
        fields = list(causes)
        if fields:
            self.redis.hdel(keyspace.agent_notes(pair), *fields)
