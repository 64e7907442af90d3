"""The sync log: per ticket, what the bridge did and why, newest first, the last LOG_KEEP.

It is the operator's story of a ticket (the console's timeline, `bridge failed show`): every
decision, write, retry, park and resume of a pair is added under the ticket it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from bridge import keyspace
from bridge.models import SystemRef

LOG_KEEP = 500


class SyncLog:
    """A list per ticket (keyspace.sync_log) of JSON entries."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def add(self, ref: SystemRef, action: str, detail: Mapping[str, Any] | None = None) -> None:
        entry = {"at": datetime.now(UTC).isoformat(), "action": action, **(detail or {})}
        key = keyspace.sync_log(ref)
        pipe = self.redis.pipeline()
        pipe.lpush(key, json.dumps(entry, default=str))
        pipe.ltrim(key, 0, LOG_KEEP - 1)
        pipe.execute()

    def timeline(self, ref: SystemRef, limit: int = 100) -> list[dict[str, Any]]:
        """Newest last, as an operator reads a story."""
        raw = self.redis.lrange(keyspace.sync_log(ref), 0, limit - 1)
        return [json.loads(r) for r in reversed(raw)]

    def has_log(self, ref: SystemRef) -> bool:
        return bool(self.redis.exists(keyspace.sync_log(ref)))
