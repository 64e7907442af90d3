"""What the bridge remembers, in Redis: links, dedupe keys, escalation claims, the sync log.

The link is also written into the first-level ticket (external id or a custom field) and the
second-level description, so a lost store can be rebuilt from the systems themselves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.client import Pipeline

from bridge import keyspace
from bridge.models import SystemRef
from bridge.records import Claim, LinkRecord, PairKey, ParkedItem, SyncStore
from bridge.stores.values import text as _text

__all__ = ["Claim", "LinkRecord", "PairKey", "ParkedItem", "RedisStore", "SyncStore"]

LOG_KEEP = 500


class RedisStore:
    """SyncStore on Redis; every key is spelled by bridge.keyspace."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    # links ----------------------------------------------------------------------------------
    def get_link(self, pair: PairKey) -> LinkRecord | None:
        raw = self.redis.hgetall(keyspace.link(pair))
        if not raw:
            return None
        d = {_text(k): _text(v) for k, v in raw.items()}
        return LinkRecord(
            route=pair.route,
            first=SystemRef(d["first_system"], pair.first_id),
            second=SystemRef(d["second_system"], d["second_id"]),
            second_url=d.get("second_url", ""),
            created_at=d.get("created_at", ""),
            first_marked=d.get("first_marked") == "1",
            note_id=d.get("note_id") or None,
            history_marked=d.get("history_marked") == "1",
        )

    def save_link(self, link: LinkRecord) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(
            keyspace.link(link.pair),
            mapping={
                "first_system": link.first.system,
                "second_system": link.second.system,
                "second_id": link.second.id,
                "second_url": link.second_url,
                "created_at": link.created_at,
                "first_marked": "1" if link.first_marked else "0",
                "note_id": link.note_id or "",
                "history_marked": "1" if link.history_marked else "0",
            },
        )
        pipe.set(keyspace.reverse_link(link.route, link.second), link.first.id)
        pipe.execute()

    def update_link(self, pair: PairKey, **changes: Any) -> None:
        values: dict[Any, Any] = {
            k: ("1" if v is True else "0" if v is False else str(v)) for k, v in changes.items()
        }
        self.redis.hset(keyspace.link(pair), mapping=values)

    def first_for_second(self, route: str, second: SystemRef) -> PairKey | None:
        """The pair a second-level ticket belongs to on a route (None: not linked there)."""
        raw = self.redis.get(keyspace.reverse_link(route, second))
        return PairKey(route, _text(raw)) if raw else None

    # escalation claim -----------------------------------------------------------------------
    def claim_escalation(self, pair: PairKey, owner: str) -> Claim | None:
        # No expiry on purpose: a claim left by a worker that died mid-create must stay visible
        # (the job parks with a reason) instead of silently allowing a second issue.
        key = keyspace.claim(pair)
        value = json.dumps({"owner": owner, "at": time.time()})
        if self.redis.set(key, value, nx=True):
            return None
        raw = self.redis.get(key)
        if raw is None:
            return self.claim_escalation(pair, owner)
        data = json.loads(raw)
        return Claim(owner=data["owner"], at=float(data["at"]))

    def release_claim(self, pair: PairKey) -> None:
        self.redis.delete(keyspace.claim(pair))

    def take_over_claim(self, pair: PairKey, owner: str) -> None:
        self.redis.set(keyspace.claim(pair), json.dumps({"owner": owner, "at": time.time()}))

    # missing-data requests ------------------------------------------------------------------
    def set_missing_request(self, pair: PairKey, mark: str | None) -> None:
        if mark is None:
            self.redis.delete(keyspace.asked(pair))
        else:
            self.redis.set(keyspace.asked(pair), mark)

    def missing_request(self, pair: PairKey) -> str | None:
        raw = self.redis.get(keyspace.asked(pair))
        return _text(raw) if raw is not None else None

    # pair sync state ------------------------------------------------------------------------
    def pair_state(self, pair: PairKey) -> dict[str, str]:
        raw = self.redis.hgetall(keyspace.pair_state(pair))
        return {_text(k): _text(v) for k, v in raw.items()}

    def set_pair_state(self, pair: PairKey, state: Mapping[str, str]) -> None:
        if state:
            values: dict[Any, Any] = dict(state)
            self.redis.hset(keyspace.pair_state(pair), mapping=values)

    def comment_marks(self, pair: PairKey) -> dict[str, str]:
        raw = self.redis.hgetall(keyspace.comment_marks(pair))
        return {_text(k): _text(v) for k, v in raw.items()}

    def comment_marks_of(self, pair: PairKey, keys: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        raw = self.redis.hmget(keyspace.comment_marks(pair), wanted)
        return {key: _text(value) for key, value in zip(wanted, raw, strict=True) if value}

    def mark_comment(self, pair: PairKey, key: str, value: str) -> None:
        self.redis.hset(keyspace.comment_marks(pair), key, value)

    # escalations waiting for data (the operator console lists them) -------------------------
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
        members = [_text(entry[0]) for entry in entries]
        scores = [float(entry[1]) for entry in entries]
        details = self.redis.hmget(keyspace.WAITING_DETAIL, members)
        result = []
        for member, score, raw in zip(members, scores, details, strict=True):
            pair = keyspace.parse_pair_member(member)
            detail = json.loads(raw) if raw else {}
            result.append({"route": pair.route, "ticket": pair.first_id, "since": score, **detail})
        return result

    # sync log -------------------------------------------------------------------------------
    def log(self, ref: SystemRef, action: str, detail: Mapping[str, Any] | None = None) -> None:
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

    # items not copied -------------------------------------------------------------------------
    def parked_items(self, pair: PairKey) -> dict[str, ParkedItem]:
        raw = self.redis.hgetall(keyspace.parked_items(pair))
        return {_text(k): ParkedItem(key=_text(k), **json.loads(v)) for k, v in raw.items()}

    def park_item(
        self,
        pair: PairKey,
        key: str,
        reason: str,
        at: datetime,
        while_status: str = "",
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

    # notes to the agent (bridge.agent_notes): one per pair and cause until it recovers ------
    def agent_notes(self, pair: PairKey) -> dict[str, str]:
        raw = self.redis.hgetall(keyspace.agent_notes(pair))
        return {_text(k): _text(v) for k, v in raw.items()}

    def set_agent_note(self, pair: PairKey, cause: str, value: str) -> None:
        self.redis.hset(keyspace.agent_notes(pair), cause, value)

    def clear_agent_notes(self, pair: PairKey, causes: Iterable[str]) -> None:
        fields = list(causes)
        if fields:
            self.redis.hdel(keyspace.agent_notes(pair), *fields)
