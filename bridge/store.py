"""What the bridge remembers, in Redis: links, dedupe keys, escalation claims, the sync log.

The link is also written into the first-level ticket (external id or a custom field) and the
second-level description, so a lost store can be rebuilt from the systems themselves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.client import Pipeline

from bridge.models import SystemRef
from bridge.records import Claim, LinkRecord, ParkedItem, SyncStore

__all__ = ["Claim", "LinkRecord", "ParkedItem", "RedisStore", "SyncStore"]

PREFIX = "tb"
LOG_KEEP = 500


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# One round trip per webhook: dedupe the delivery, note when the source was last heard from,
# and, per target pair, either find a job that is still waiting to run (an event only says
# "this pair changed", so a waiting job will see this change too) or reserve a new job id.
# The dedupe key is only *reserved* here ("pending", with a short expiry): it becomes final in
# the same transaction that writes the job (`commit_delivery`), so a crash or a hung Redis
# between the two never leaves a delivery marked as received without its job. A reservation
# that is never committed expires and the sender's retry is taken.
# KEYS[1] dedupe key, KEYS[2] last-seen hash; ARGV: pending ttl, system, now, then pairs of
# (pending-marker key, new job id). Returns 0 for a duplicate, -1 while another request is
# queueing the same delivery, else {job id, is_new, ...}.
_INTAKE = """
if redis.call('SET', KEYS[1], 'pending', 'NX', 'EX', tonumber(ARGV[1])) == false then
  if redis.call('GET', KEYS[1]) == 'pending' then return -1 end
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local out = {}
for i = 4, #ARGV, 2 do
  local marker, new_id = ARGV[i], ARGV[i + 1]
  local waiting = redis.call('GET', marker)
  local reuse = false
  if waiting then
    local status = redis.call('HGET', 'rq:job:' .. waiting, 'status')
    reuse = status == 'queued' or status == 'scheduled' or status == 'deferred'
      or status == 'rate_limited'
  end
  if reuse then
    table.insert(out, waiting); table.insert(out, 0)
  else
    redis.call('SET', marker, new_id, 'EX', 86400)
    table.insert(out, new_id); table.insert(out, 1)
  end
end
return out
"""

# How long a reserved dedupe key waits for its commit. Longer than any intake transaction
# takes; short enough that a sender's retry after a failed intake is accepted (senders retry
# after seconds to minutes), and shorter than the poll overlap window, so a poll that failed
# half-way dispatches the same changes again on its next run.
PENDING_DELIVERY_TTL = 30


@dataclass(frozen=True)
class Intake:
    duplicate: bool
    jobs: tuple[tuple[str, bool], ...] = ()  # (job id, needs enqueueing)
    in_progress: bool = False  # another request is queueing this delivery right now


class RedisStore:
    """SyncStore on Redis. All keys start with `tb:`."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._intake = redis.register_script(_INTAKE)

    def intake(
        self, system: str, delivery_id: str, ttl: int, pairs: list[tuple[str, str, str]]
    ) -> Intake:
        """Reserve a delivery and coalesce onto waiting jobs; pairs: (route, first id, new job id).

        The reservation counts as received only once `commit_delivery` joins the transaction
        that writes the jobs.
        """
        args: list[Any] = [PENDING_DELIVERY_TTL, system, datetime.now(UTC).isoformat()]
        for route, first_id, job_id in pairs:
            args += [f"{PREFIX}:waiting_job:{route}:{first_id}", job_id]
        keys = [f"{PREFIX}:dedupe:{system}:{delivery_id}", f"{PREFIX}:last_seen"]
        result = self._intake(keys=keys, args=args)
        if result == 0:
            return Intake(duplicate=True)
        if result == -1:
            return Intake(duplicate=False, in_progress=True)
        flat = [_text(x) for x in result]
        return Intake(False, tuple((flat[i], flat[i + 1] == "1") for i in range(0, len(flat), 2)))

    def commit_delivery(self, pipe: Pipeline, system: str, delivery_id: str, ttl: int) -> None:
        """Make a reserved delivery final, inside the transaction that writes its jobs."""
        key = f"{PREFIX}:dedupe:{system}:{delivery_id}"
        pipe.set(key, datetime.now(UTC).isoformat(), ex=ttl)

    def release_reservations(self, taken: list[tuple[str, str, list[tuple[str, str]]]]) -> None:
        """Give back reserved deliveries and their waiting-job markers, in one round trip:
        (system, delivery id, [(route, first id), ...])."""
        with self.redis.pipeline(transaction=False) as pipe:
            for system, delivery_id, pairs in taken:
                pipe.delete(f"{PREFIX}:dedupe:{system}:{delivery_id}")
                for route, first_id in pairs:
                    pipe.delete(f"{PREFIX}:waiting_job:{route}:{first_id}")
            pipe.execute()

    def touch_source(self, system: str) -> None:
        self.redis.hset(f"{PREFIX}:last_seen", system, datetime.now(UTC).isoformat())

    # links ----------------------------------------------------------------------------------
    def _link_key(self, route: str, first_id: str) -> str:
        return f"{PREFIX}:link:{route}:{first_id}"

    def get_link(self, route: str, first_id: str) -> LinkRecord | None:
        raw = self.redis.hgetall(self._link_key(route, first_id))
        if not raw:
            return None
        d = {_text(k): _text(v) for k, v in raw.items()}
        return LinkRecord(
            route=route,
            first=SystemRef(d["first_system"], first_id),
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
            self._link_key(link.route, link.first.id),
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
        pipe.set(
            f"{PREFIX}:rlink:{link.route}:{link.second.system}:{link.second.id}", link.first.id
        )
        pipe.execute()

    def update_link(self, route: str, first_id: str, **changes: Any) -> None:
        values: dict[Any, Any] = {
            k: ("1" if v is True else "0" if v is False else str(v)) for k, v in changes.items()
        }
        self.redis.hset(self._link_key(route, first_id), mapping=values)

    def first_for_second(self, route: str, system: str, second_id: str) -> str | None:
        raw = self.redis.get(f"{PREFIX}:rlink:{route}:{system}:{second_id}")
        return _text(raw) if raw else None

    # escalation claim -----------------------------------------------------------------------
    def claim_escalation(self, route: str, first_id: str, owner: str) -> Claim | None:
        # No expiry on purpose: a claim left by a worker that died mid-create must stay visible
        # (the job parks with a reason) instead of silently allowing a second issue.
        key = f"{PREFIX}:claim:{route}:{first_id}"
        value = json.dumps({"owner": owner, "at": time.time()})
        if self.redis.set(key, value, nx=True):
            return None
        raw = self.redis.get(key)
        if raw is None:
            return self.claim_escalation(route, first_id, owner)
        data = json.loads(raw)
        return Claim(owner=data["owner"], at=float(data["at"]))

    def release_claim(self, route: str, first_id: str) -> None:
        self.redis.delete(f"{PREFIX}:claim:{route}:{first_id}")

    def take_over_claim(self, route: str, first_id: str, owner: str) -> None:
        key = f"{PREFIX}:claim:{route}:{first_id}"
        self.redis.set(key, json.dumps({"owner": owner, "at": time.time()}))

    # missing-data requests ------------------------------------------------------------------
    def set_missing_request(self, route: str, first_id: str, mark: str | None) -> None:
        key = f"{PREFIX}:asked:{route}:{first_id}"
        if mark is None:
            self.redis.delete(key)
        else:
            self.redis.set(key, mark)

    def missing_request(self, route: str, first_id: str) -> str | None:
        raw = self.redis.get(f"{PREFIX}:asked:{route}:{first_id}")
        return _text(raw) if raw is not None else None

    # pair sync state ------------------------------------------------------------------------
    def pair_state(self, route: str, first_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(f"{PREFIX}:state:{route}:{first_id}")
        return {_text(k): _text(v) for k, v in raw.items()}

    def set_pair_state(self, route: str, first_id: str, state: Mapping[str, str]) -> None:
        if state:
            values: dict[Any, Any] = dict(state)
            self.redis.hset(f"{PREFIX}:state:{route}:{first_id}", mapping=values)

    def comment_marks(self, route: str, first_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(f"{PREFIX}:comments:{route}:{first_id}")
        return {_text(k): _text(v) for k, v in raw.items()}

    def comment_marks_of(self, route: str, first_id: str, keys: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        raw = self.redis.hmget(f"{PREFIX}:comments:{route}:{first_id}", wanted)
        return {key: _text(value) for key, value in zip(wanted, raw, strict=True) if value}

    def mark_comment(self, route: str, first_id: str, key: str, value: str) -> None:
        self.redis.hset(f"{PREFIX}:comments:{route}:{first_id}", key, value)

    # escalations waiting for data (the operator console lists them) ----------------
    def mark_waiting(
        self, route: str, first_id: str, missing: Mapping[str, Any], pipe: Pipeline | None = None
    ) -> None:
        """Index a ticket whose escalation waits for data; `since` keeps the first time asked.

        Given a pipeline, the writes join it (the caller executes it)."""
        member = f"{route}:{first_id}"
        detail = {"missing": dict(missing), "updated_at": datetime.now(UTC).isoformat()}
        own = pipe is None
        pipe = pipe if pipe is not None else self.redis.pipeline()
        pipe.zadd(f"{PREFIX}:waiting", {member: time.time()}, nx=True)
        pipe.hset(f"{PREFIX}:waiting:detail", member, json.dumps(detail, default=str))
        if own:
            pipe.execute()

    def clear_waiting(self, route: str, first_id: str, pipe: Pipeline | None = None) -> None:
        member = f"{route}:{first_id}"
        own = pipe is None
        pipe = pipe if pipe is not None else self.redis.pipeline()
        pipe.zrem(f"{PREFIX}:waiting", member)
        pipe.hdel(f"{PREFIX}:waiting:detail", member)
        if own:
            pipe.execute()

    def waiting_for_data(self, limit: int = 500) -> list[dict[str, Any]]:
        """Oldest first: route, ticket, since (epoch seconds), missing, updated_at."""
        entries: list[Any] = list(
            self.redis.zrange(f"{PREFIX}:waiting", 0, limit - 1, withscores=True)
        )
        if not entries:
            return []
        members = [_text(entry[0]) for entry in entries]
        scores = [float(entry[1]) for entry in entries]
        details = self.redis.hmget(f"{PREFIX}:waiting:detail", members)
        result = []
        for member, score, raw in zip(members, scores, details, strict=True):
            route, _, ticket = member.partition(":")
            detail = json.loads(raw) if raw else {}
            result.append({"route": route, "ticket": ticket, "since": score, **detail})
        return result

    # sync log -------------------------------------------------------------------------------
    def log(self, ref: SystemRef, action: str, detail: Mapping[str, Any] | None = None) -> None:
        entry = {"at": datetime.now(UTC).isoformat(), "action": action, **(detail or {})}
        key = f"{PREFIX}:log:{ref.system}:{ref.id}"
        pipe = self.redis.pipeline()
        pipe.lpush(key, json.dumps(entry, default=str))
        pipe.ltrim(key, 0, LOG_KEEP - 1)
        pipe.execute()

    def timeline(self, ref: SystemRef, limit: int = 100) -> list[dict[str, Any]]:
        """Newest last, as an operator reads a story."""
        raw = self.redis.lrange(f"{PREFIX}:log:{ref.system}:{ref.id}", 0, limit - 1)
        return [json.loads(r) for r in reversed(raw)]

    # items not copied, and pairs that gave up on an unreachable system -----------------------
    def _items_key(self, route: str, first_id: str) -> str:
        return f"{PREFIX}:parked_items:{route}:{first_id}"

    def parked_items(self, route: str, first_id: str) -> dict[str, ParkedItem]:
        raw = self.redis.hgetall(self._items_key(route, first_id))
        return {_text(k): ParkedItem(key=_text(k), **json.loads(v)) for k, v in raw.items()}

    def park_item(
        self,
        route: str,
        first_id: str,
        key: str,
        reason: str,
        at: datetime,
        while_status: str = "",
    ) -> ParkedItem:
        # Read, then write: jobs of one pair never run side by side (per-pair concurrency key).
        raw = self.redis.hget(self._items_key(route, first_id), key)
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
        self.redis.hset(self._items_key(route, first_id), key, json.dumps(value))
        return item

    def unpark_item(self, route: str, first_id: str, key: str) -> None:
        self.redis.hdel(self._items_key(route, first_id), key)

    # notes to the agent (bridge.agent_notes): one per pair and cause until it recovers ------
    def _notes_key(self, route: str, first_id: str) -> str:
        return f"{PREFIX}:agent_notes:{route}:{first_id}"

    def agent_notes(self, route: str, first_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(self._notes_key(route, first_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    def set_agent_note(self, route: str, first_id: str, cause: str, value: str) -> None:
        self.redis.hset(self._notes_key(route, first_id), cause, value)

    def clear_agent_notes(self, route: str, first_id: str, causes: Iterable[str]) -> None:
        fields = list(causes)
        if fields:
            self.redis.hdel(self._notes_key(route, first_id), *fields)

    def _gave_up_key(self, system: str) -> str:
        return f"{PREFIX}:gave_up:{system}"

    def add_gave_up(self, system: str, route: str, first_id: str) -> None:
        """A pair stopped retrying because `system` did not answer: sync it when it does."""
        self.redis.sadd(self._gave_up_key(system), f"{route}:{first_id}")

    def gave_up_on(self, system: str) -> list[tuple[str, str]]:
        """(route, first-level id) of the pairs waiting for `system` to answer again."""
        members = sorted(_text(m) for m in self.redis.smembers(self._gave_up_key(system)))
        return [(m.partition(":")[0], m.partition(":")[2]) for m in members]

    def forget_gave_up(self, system: str, route: str, first_id: str) -> None:
        self.redis.srem(self._gave_up_key(system), f"{route}:{first_id}")
