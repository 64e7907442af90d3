"""What became of each item of a pair: its comment mark, and why a parked one is not copied.

The mark (copied as, history, parked, unsure: bridge.marks parses it) is how a sync knows a
comment is done, so one is never copied twice; the parked entry says why one was refused,
counted per cause, for the operator and for the resync that tries it again. Both are kept
in one store because a park and a release change both (bridge.sync.release_parked).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from redis import Redis

from bridge import keyspace
from bridge.records import PairKey, ParkedItem
from bridge.stores.values import text, text_map


class MarkStore:
    """Two hashes per pair: the comment marks and the parked items (keyspace)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def comment_marks(self, pair: PairKey) -> dict[str, str]:
        return text_map(self.redis.hgetall(keyspace.comment_marks(pair)))

    def comment_marks_of(self, pair: PairKey, keys: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        raw = self.redis.hmget(keyspace.comment_marks(pair), wanted)
        return {key: text(value) for key, value in zip(wanted, raw, strict=True) if value}

    def mark_comment(self, pair: PairKey, key: str, value: str) -> None:
        self.redis.hset(keyspace.comment_marks(pair), key, value)

    def parked_items(self, pair: PairKey) -> dict[str, ParkedItem]:
        raw = self.redis.hgetall(keyspace.parked_items(pair))
        return {text(k): ParkedItem(key=text(k), **json.loads(v)) for k, v in raw.items()}

    def park_item(
        self, pair: PairKey, key: str, reason: str, at: datetime, while_status: str = ""
    ) -> ParkedItem:
        # Read, then write: jobs of one pair never run side by side (per-pair concurrency key).
        raw = self.redis.hget(keyspace.parked_items(pair), key)
        seen = at.isoformat()
        old = json.loads(raw) if raw else None
        if old is not None and old["reason"] == reason:
            item = ParkedItem(
                key, reason, int(old["count"]) + 1, old["first_seen"], seen, while_status
            )
        else:
            item = ParkedItem(key, reason, 1, seen, seen, while_status)
        value = {"reason": reason, "count": item.count, "first_seen": item.first_seen,
                 "last_seen": item.last_seen, "while_status": while_status}  # fmt: skip
        self.redis.hset(keyspace.parked_items(pair), key, json.dumps(value))
        return item

    def unpark_item(self, pair: PairKey, key: str) -> None:
        self.redis.hdel(keyspace.parked_items(pair), key)
