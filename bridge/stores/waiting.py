"""Escalations waiting for data: what was asked of the customer, and the console's list.

A ticket that lacks what the second level needs is asked for it once per set of missing
fields (the mark of the request, so the same question is not posted twice), and is listed
for the operator with what is missing and since when, until it escalates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.client import Pipeline

from bridge import keyspace
from bridge.records import PairKey
from bridge.stores.values import text


class WaitingStore:
    """The request mark per pair (keyspace.asked) and the WAITING index with its details."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def set_missing_request(self, pair: PairKey, mark: str | None) -> None:
        if mark is None:
            self.redis.delete(keyspace.asked(pair))
        else:
            self.redis.set(keyspace.asked(pair), mark)

    def missing_request(self, pair: PairKey) -> str | None:
        raw = self.redis.get(keyspace.asked(pair))
        return text(raw) if raw is not None else None

    def mark_waiting(
        self, pair: PairKey, missing: Mapping[str, Any], pipe: Pipeline | None = None
    ) -> None:
        """Index a ticket whose escalation waits for data; `since` keeps the first time asked.

        Given a pipeline, the writes join it (the caller executes it)."""
        member = keyspace.pair_member(pair)
        detail = {"missing": dict(missing), "updated_at": datetime.now(UTC).isoformat()}
        own = pipe is None
        pipe = pipe if pipe is not None else self.redis.pipeline()
        pipe.zadd(keyspace.WAITING, {member: time.time()}, nx=True)
        pipe.hset(keyspace.WAITING_DETAIL, member, json.dumps(detail, default=str))
        if own:
            pipe.execute()

    def clear_waiting(self, pair: PairKey, pipe: Pipeline | None = None) -> None:
        member = keyspace.pair_member(pair)
        own = pipe is None
        pipe = pipe if pipe is not None else self.redis.pipeline()
        pipe.zrem(keyspace.WAITING, member)
        pipe.hdel(keyspace.WAITING_DETAIL, member)
        if own:
            pipe.execute()

    def waiting_for_data(self, limit: int = 500) -> list[dict[str, Any]]:
        """Oldest first: route, ticket, since (epoch seconds), missing, updated_at."""
        entries: list[Any] = list(
            self.redis.zrange(keyspace.WAITING, 0, limit - 1, withscores=True)
        )
        if not entries:
            return []
        members = [text(entry[0]) for entry in entries]
        scores = [float(entry[1]) for entry in entries]
        details = self.redis.hmget(keyspace.WAITING_DETAIL, members)
        result = []
        for member, score, raw in zip(members, scores, details, strict=True):
            pair = keyspace.parse_pair_member(member)
            detail = json.loads(raw) if raw else {}
            result.append({"route": pair.route, "ticket": pair.first_id, "since": score, **detail})
        return result
