"""The failure inbox's store: its groups (bridge.failures.inbox_model) in Redis, bounded.

Every change to a group is one Lua script, because the RQ callbacks of parallel workers and an
operator's discard touch the same group and the same ticket index at once: a count, a ticket
moving to another cause and the group closing when its last ticket synced must not interleave.

Bounded: a group keeps its newest TICKETS_KEPT ticket ids (and a count of all of them), at
most MAX_OPEN groups are open (the one seen longest ago is closed as "evicted" past that), the
newest CLOSED_KEPT closed groups are kept. Each failing ticket has one small index key naming
its current group, which expires with the failed registry's own retention.

No Flask, no config, no RQ: bridge.ops.inbox_ops adds the queue (next retry, retry or discard a
group), the web console and the CLI only render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from bridge import keyspace
from bridge.failures.inbox_model import Failure, Filter, Group, Kind, Outcome, group_id
from bridge.stores.values import text

TICKETS_KEPT = 50  # ticket ids a group keeps (newest); `tickets` counts all of them
MAX_OPEN = 500
CLOSED_KEPT = 200
TICKET_TTL = 30 * 24 * 3600  # as long as the failed registry keeps a sync job
REASON_KEPT = 4000  # characters of the latest reason kept (the console shows it whole)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# Shared by the scripts: close a group (if open), index it as closed, trim the closed ones.
_CLOSE = f"""
local GROUP, TICKETS = '{keyspace.INBOX_GROUP}', '{keyspace.INBOX_TICKETS}'
local OPEN, CLOSED = '{keyspace.INBOX_OPEN}', '{keyspace.INBOX_CLOSED}'
local POLLS, EPISODES = '{keyspace.INBOX_POLLS}', '{keyspace.INBOX_EPISODES}'
local function close(gid, ts, iso, why, kept)
  local g = GROUP .. gid
  if redis.call('HGET', g, 'state') ~= 'open' then return 0 end
  redis.call('HSET', g, 'state', 'closed', 'closed_at', iso, 'closed_why', why)
  redis.call('ZREM', OPEN, gid)
  redis.call('ZADD', CLOSED, ts, gid)
  redis.call('SREM', POLLS .. (redis.call('HGET', g, 'system') or ''), gid)
  local over = redis.call('ZCARD', CLOSED) - kept
  if over > 0 then
    for _, old in ipairs(redis.call('ZRANGE', CLOSED, 0, over - 1)) do
      redis.call('DEL', GROUP .. old, GROUP .. old .. TICKETS)
    end
    redis.call('ZREMRANGEBYRANK', CLOSED, 0, over - 1)
  end
  return 1
end
-- a ticket leaves its group (synced, moved to another cause, discarded)
local function leave(value, member, ts, iso, why, kept)
  local gid, episode = string.match(value, '^([^|]*)|([^|]*)|')
  local g = GROUP .. gid
  if redis.call('HGET', g, 'state') ~= 'open' or redis.call('HGET', g, 'episode') ~= episode then
    return nil
  end
  redis.call('ZREM', g .. TICKETS, member)
  if redis.call('HINCRBY', g, 'open_tickets', -1) <= 0 and close(gid, ts, iso, why, kept) == 1 then
    return gid
  end
  return nil
end
"""

# KEYS: group, ticket index (or ''); ARGV: see Inbox.record.
_RECORD = (
    _CLOSE
    + """
local g, tix = KEYS[1], KEYS[2]
local gid, ts, iso = ARGV[1], ARGV[2], ARGV[3]
local new = 0
if redis.call('HGET', g, 'state') ~= 'open' then
  redis.call('DEL', g, g .. TICKETS)
  redis.call('HSET', g, 'state', 'open', 'kind', ARGV[4], 'system', ARGV[5], 'error', ARGV[6],
    'detail', ARGV[7], 'first_seen', iso, 'count', 0, 'tickets', 0, 'open_tickets', 0,
    'episode', redis.call('INCR', EPISODES))
  redis.call('ZREM', CLOSED, gid)
  new = 1
end
local episode = redis.call('HGET', g, 'episode')
redis.call('HINCRBY', g, 'count', 1)
redis.call('HSET', g, 'last_seen', iso, 'reason', ARGV[9], 'status', ARGV[8],
  'outcome', ARGV[10], 'attempts', ARGV[11], 'last_job', ARGV[14], 'waits_for', ARGV[17])
if ARGV[12] ~= '' then redis.call('HSET', g, 'route:' .. ARGV[12], '1') end
redis.call('ZADD', OPEN, ts, gid)
if ARGV[4] == 'poll' then redis.call('SADD', POLLS .. ARGV[5], gid) end
local kept = tonumber(ARGV[19])
if tix ~= '' then
  local member = ARGV[12] .. ':' .. ARGV[13]
  local old = redis.call('GET', tix)
  local mine = gid .. '|' .. episode .. '|'
  if (not old) or string.sub(old, 1, #mine) ~= mine then
    if old then leave(old, member, ts, iso, 'its tickets fail for another cause now', kept) end
    redis.call('HINCRBY', g, 'tickets', 1)
    redis.call('HINCRBY', g, 'open_tickets', 1)
  end
  redis.call('SET', tix, mine .. ARGV[14], 'EX', tonumber(ARGV[16]))
  redis.call('ZADD', g .. TICKETS, ts, member)
  redis.call('ZREMRANGEBYRANK', g .. TICKETS, 0, -(tonumber(ARGV[15]) + 1))
end
local over = redis.call('ZCARD', OPEN) - tonumber(ARGV[18])
if over > 0 then
  for _, victim in ipairs(redis.call('ZRANGE', OPEN, 0, over)) do
    if victim ~= gid and over > 0 then
      close(victim, ts, iso, 'evicted: too many open groups', kept)
      over = over - 1
    end
  end
end
return new
"""
)

# KEYS: ticket index; ARGV: ts, iso, member, why, kept, only job.
# Returns {job id or '', closed gid or ''}.
_RESOLVE = (
    _CLOSE
    + """
local value = redis.call('GET', KEYS[1])
if not value then return {'', ''} end
local job = string.match(value, '^[^|]*|[^|]*|(.*)$') or ''
if ARGV[6] ~= '' and ARGV[6] ~= job then return {'', ''} end
redis.call('DEL', KEYS[1])
local closed = leave(value, ARGV[3], ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[5]))
return {job, closed or ''}
"""
)

# ARGV: ts, iso, why, kept, gid...; returns the ids it closed.
_CLOSE_MANY = (
    _CLOSE
    + """
local done = {}
for i = 5, #ARGV do
  if close(ARGV[i], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])) == 1 then
    table.insert(done, ARGV[i])
  end
end
return done
"""
)


class Inbox:
    """Record failures into groups, close groups, and read them back."""

    def __init__(self, redis: Redis, clock: Clock = utc_now) -> None:
        self.redis = redis
        self.clock = clock
        self._record = redis.register_script(_RECORD)
        self._resolve = redis.register_script(_RESOLVE)
        self._close = redis.register_script(_CLOSE_MANY)

    # -- writing -----------------------------------------------------------------------------
    def record(self, failure: Failure) -> tuple[str, bool]:
        """Count one failure into its group; (group id, whether the group is new or reopened)."""
        f = failure
        gid = group_id(f.kind, f.system, f.cause)
        tix = keyspace.inbox_ticket(f.route, f.ticket) if f.ticket else ""
        args = [
            gid, f"{f.at.timestamp():.3f}", f.at.isoformat(), f.kind.value, f.system,
            f.cause.error, f.cause.detail, "" if f.cause.status is None else f.cause.status,
            f.reason[:REASON_KEPT], f.outcome.value, f.attempts, f.route, f.ticket, f.job_id,
            TICKETS_KEPT, TICKET_TTL, f.waits_for, MAX_OPEN, CLOSED_KEPT,
        ]  # fmt: skip
        new = self._record(keys=[keyspace.inbox_group(gid), tix], args=args)
        return gid, bool(int(new))

    def ticket_synced(
        self, route: str, ticket: str, why: str = "", only_job: str = ""
    ) -> tuple[str, str]:
        """The pair synced (or its failure was dealt with): it leaves its group, which closes
        when it was the last. With `only_job`, only if that job is the pair's latest failure.
        Returns (the pair's last failed job id, the closed group id), "" for none."""
        now = self.clock()
        member = f"{route}:{ticket}"
        job, closed = self._resolve(
            keys=[keyspace.inbox_ticket(route, ticket)],
            args=[f"{now.timestamp():.3f}", now.isoformat(), member,
                  why or "every ticket in it synced since", CLOSED_KEPT, only_job],
        )  # fmt: skip
        return text(job), text(closed)

    def close(self, gids: Iterable[str], why: str) -> list[str]:
        """Close open groups; returns the ids that were open."""
        ids = list(gids)
        if not ids:
            return []
        now = self.clock()
        done = self._close(args=[f"{now.timestamp():.3f}", now.isoformat(), why, CLOSED_KEPT, *ids])
        return [text(d) for d in done]

    def poll_ok(self, system: str) -> list[str]:
        """The system polled fine: its open poll groups close. One SMEMBERS when none is open,
        as it is after every good poll."""
        gids = [text(g) for g in self.redis.smembers(keyspace.inbox_polls(system))]
        return self.close(gids, "the system polls fine again") if gids else []

    # -- reading -----------------------------------------------------------------------------
    def get(self, gid: str) -> Group | None:
        raw = self.redis.hgetall(keyspace.inbox_group(gid))
        if not raw:
            return None
        sample = self.redis.zrevrange(keyspace.inbox_group_tickets(gid), 0, -1)
        return _group(gid, {text(k): text(v) for k, v in raw.items()}, sample)

    def groups(
        self, where: Filter | None = None, closed: bool = False, limit: int = 200
    ) -> list[Group]:
        """Open groups (or the recently closed ones), the most recently seen first."""
        where = where or Filter()
        index = keyspace.INBOX_CLOSED if closed else keyspace.INBOX_OPEN
        ids = [text(g) for g in self.redis.zrevrange(index, 0, -1)]
        with self.redis.pipeline(transaction=False) as pipe:
            for gid in ids:
                pipe.hgetall(keyspace.inbox_group(gid))
                pipe.zrevrange(keyspace.inbox_group_tickets(gid), 0, -1)
            raw = pipe.execute()
        found = []
        for i, gid in enumerate(ids):
            data = {text(k): text(v) for k, v in raw[2 * i].items()}
            if data:
                found.append(_group(gid, data, raw[2 * i + 1]))
        held = self._held(where.tickets) if where.tickets else None
        now = self.clock()
        chosen = [g for g in found if where.admits(g, held, now)]
        return chosen[:limit]

    def group_of_ticket(self, route: str, ticket: str) -> str:
        """The open group the pair's current failure is in ("" when none)."""
        value = self.redis.get(keyspace.inbox_ticket(route, ticket))
        return text(value).split("|", 1)[0] if value else ""

    def _held(self, tickets: Iterable[tuple[str, str]]) -> set[str]:
        """Group ids of the tickets' current failures."""
        pairs = list(tickets)
        values = self.redis.mget([keyspace.inbox_ticket(r, t) for r, t in pairs]) if pairs else []
        return {text(v).split("|", 1)[0] for v in values if v}


def _group(gid: str, d: Mapping[str, str], sample: Iterable[Any]) -> Group:
    members = [text(m).partition(":") for m in sample]
    status = d.get("status", "")
    return Group(
        id=gid,
        kind=Kind(d.get("kind", Kind.SYNC.value)),
        system=d.get("system", ""),
        error=d.get("error", ""),
        detail=d.get("detail", ""),
        status=int(status) if status.isdigit() else None,
        reason=d.get("reason", ""),
        outcome=Outcome(d.get("outcome", Outcome.FAILED.value)),
        count=int(d.get("count", 0)),
        tickets=int(d.get("tickets", 0)),
        open_tickets=max(0, int(d.get("open_tickets", 0))),
        first_seen=d.get("first_seen", ""),
        last_seen=d.get("last_seen", ""),
        routes=tuple(sorted(k.partition(":")[2] for k in d if k.startswith("route:"))),
        state=d.get("state", "closed"),
        closed_at=d.get("closed_at", ""),
        closed_why=d.get("closed_why", ""),
        attempts=int(d.get("attempts") or 0),
        waits_for=d.get("waits_for", ""),
        last_job=d.get("last_job", ""),
        sample=tuple((route, ticket) for route, _, ticket in members),
    )
