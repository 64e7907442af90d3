"""Maintenance windows: a route or a system paused, and the pairs held back meanwhile.

While a scope is paused the bridge keeps accepting and queueing webhooks, but sends nothing to
it: a sync job whose route (or either of whose systems) is paused records its pair in the
scope's held set and ends without a remote call (not a retry, not a failure), and polls of a
paused system are skipped. Resuming (bridge.resume) queues one sync per held pair and a poll.

The state lives in Redis so every web, worker and cron process sees the same pause:
- `keyspace.PAUSED`: a hash, field `<kind>:<name>` -> JSON {reason, since, until, until_ts, by};
- `keyspace.held(scope)`: a set of `<route>|<first-level id>` held while that scope was paused.

Deciding "paused?" and recording the pair happen in one script (`hold`), and resuming removes
the pause before it reads the held set, so a job can never add its pair to a set that a resume
has already drained: it either sees the pause (and is drained by that resume) or does not
(and syncs now). Times come from a clock argument; an `until` that has passed ends the pause
for every check at once, and the cron's resume tick drains its held pairs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from redis import Redis

from bridge import keyspace
from bridge.config import Config
from bridge.durations import parse_duration
from bridge.records import PairKey
from bridge.stores.values import text as _text

Clock = Callable[[], datetime]
REASON_LIMIT = 500  # a pause reason is a sentence, not a document


def utc_now() -> datetime:
    return datetime.now(UTC)


class PauseError(ValueError):
    """A pause or resume that cannot be done as asked; the message says why."""


class ScopeKind(StrEnum):
    ROUTE = "route"
    SYSTEM = "system"


@dataclass(frozen=True, order=True)
class Scope:
    """What a pause applies to: every sync of a route, or everything that talks to a system."""

    kind: ScopeKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @property
    def label(self) -> str:
        """As an operator reads it: `system vendor`, `route acme`."""
        return f"{self.kind.value} {self.name}"

    @property
    def held_key(self) -> str:
        return keyspace.held(str(self))

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, sep, name = text.partition(":")
        if not sep or not name or kind not in ScopeKind.__members__.values():
            raise PauseError(f"not a pause scope: {text!r} (route:<name> or system:<name>)")
        return cls(ScopeKind(kind), name)


def check_scope(config: Config, scope: Scope) -> Scope:
    """The scope if the config has such a route or system; PauseError naming the known ones."""
    if scope.kind is ScopeKind.ROUTE:
        known = [r.name for r in config.routes]
    else:
        known = list(config.systems)
    if scope.name not in known:
        raise PauseError(
            f"no {scope.kind.value} {scope.name!r} in the config (known: {', '.join(known)})"
        )
    return scope


def scopes_of(config: Config) -> list[Scope]:
    """Every scope the config has, routes first, in config order."""
    return [Scope(ScopeKind.ROUTE, r.name) for r in config.routes] + [
        Scope(ScopeKind.SYSTEM, name) for name in config.systems
    ]


def route_scopes(route_name: str, first: str, second: str) -> list[Scope]:
    """What a sync of this route touches: the route itself and both of its systems."""
    return [
        Scope(ScopeKind.ROUTE, route_name),
        Scope(ScopeKind.SYSTEM, first),
        Scope(ScopeKind.SYSTEM, second),
    ]


@dataclass(frozen=True)
class Pause:
    scope: Scope
    reason: str
    since: datetime
    until: datetime | None = None
    by: str = ""

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scope": str(self.scope),
            "kind": self.scope.kind.value,
            "name": self.scope.name,
            "reason": self.reason,
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "by": self.by,
        }
        if now is not None:
            out["active"] = self.active(now)
        return out

    def to_json(self) -> str:
        data = self.as_dict()
        data["until_ts"] = self.until.timestamp() if self.until else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, scope: Scope, raw: str | bytes) -> Pause:
        try:
            data = json.loads(raw)
            since = datetime.fromisoformat(data["since"])
            until = datetime.fromisoformat(data["until"]) if data.get("until") else None
        except (ValueError, KeyError, TypeError):
            # Unreadable: still a pause (failing open would send to a system under maintenance).
            return cls(scope, "unreadable pause record", datetime.fromtimestamp(0, UTC))
        return cls(scope, str(data.get("reason") or ""), since, until, str(data.get("by") or ""))


def fmt_when(moment: datetime) -> str:
    """`2030-01-31 06:00 UTC`: a pause's start or end as an operator reads it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def not_contacted(pause: Pause) -> str:
    """`vendor: paused until 2030-01-31 05:00 UTC (MantisBT upgrade) — not contacted`: what a
    read-only command (dry-run, the online check) says of a system it leaves alone."""
    until = f"until {fmt_when(pause.until)}" if pause.until else "until resumed"
    reason = f" ({pause.reason})" if pause.reason else ""
    return f"{pause.scope.name}: paused {until}{reason} — not contacted"


def parse_until(text: str, now: datetime) -> datetime:
    """`--until`: an ISO 8601 time (UTC when it names no offset) or a duration from now
    (`90m`, `2h`, `1d`); it must lie in the future."""
    text = text.strip()
    try:
        until = (now + timedelta(seconds=parse_duration(text))).replace(microsecond=0)
    except ValueError:
        try:
            until = datetime.fromisoformat(text)
        except ValueError:
            raise PauseError(
                f"until {text!r} is neither an ISO time (2030-01-31T06:00:00+01:00) "
                "nor a duration (90m, 2h, 1d)"
            ) from None
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
    if until <= now:
        raise PauseError(f"until {fmt_when(until)} is not in the future")
    return until


@dataclass(frozen=True)
class Held:
    """A sync that found its pair paused: the pause it waits for, and whether the pair was new
    in that scope's held set (the timeline records only the first)."""

    pause: Pause
    new: bool


# KEYS[1] the pauses hash, KEYS[2] the index of scopes with held sets, KEYS[3..] the held sets
# of the scopes in ARGV[3..] (same positions); ARGV[1] now (epoch seconds), ARGV[2] the pair.
# The first active pause wins: the pair joins its held set. Returns {scope, added, raw pause},
# or false when nothing is paused.
_HOLD = """
local now = tonumber(ARGV[1])
for i = 3, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local ok, pause = pcall(cjson.decode, raw)
    local untils = nil
    if ok and type(pause) == 'table' then untils = pause['until_ts'] end
    if type(untils) ~= 'number' or untils > now then
      local added = redis.call('SADD', KEYS[i], ARGV[2])
      redis.call('SADD', KEYS[2], ARGV[i])
      return {ARGV[i], added, raw}
    end
  end
end
return false
"""


def held_member(pair: PairKey) -> str:
    """A pair as a member of a held set: `<route>|<first-level id>` (what running Redis holds)."""
    return f"{pair.route}|{pair.first_id}"


def parse_held_member(member: str) -> PairKey:
    route, _, first_id = member.partition("|")
    return PairKey(route, first_id)


class PauseStore:
    """The pauses and held sets in one Redis."""

    def __init__(self, redis: Redis, clock: Clock = utc_now) -> None:
        self.redis = redis
        self.clock = clock
        self._hold = redis.register_script(_HOLD)

    def pause(
        self, scope: Scope, reason: str, until: datetime | None = None, by: str = ""
    ) -> Pause:
        """Pause (or change an existing pause's reason and end; it keeps its start)."""
        now = self.clock()
        if until is not None and until <= now:
            raise PauseError(f"until {fmt_when(until)} is not in the future")
        reason = " ".join(reason.split())[:REASON_LIMIT]
        existing = self.get(scope)
        since = existing.since if existing is not None and existing.active(now) else now
        pause = Pause(scope, reason, since, until, by)
        self.redis.hset(keyspace.PAUSED, str(scope), pause.to_json())
        return pause

    def unpause(self, scope: Scope) -> Pause | None:
        """Remove a pause (active or run out); the one removed, if any. The held set stays for
        bridge.resume to drain."""
        with self.redis.pipeline() as pipe:
            pipe.hget(keyspace.PAUSED, str(scope))
            pipe.hdel(keyspace.PAUSED, str(scope))
            raw, _ = pipe.execute()
        return Pause.from_json(scope, raw) if raw is not None else None

    def get(self, scope: Scope) -> Pause | None:
        raw = self.redis.hget(keyspace.PAUSED, str(scope))
        return Pause.from_json(scope, raw) if raw is not None else None

    def all(self) -> list[Pause]:
        """Every stored pause, active or run out (not yet resumed by the cron's tick)."""
        out = []
        for field, raw in self.redis.hgetall(keyspace.PAUSED).items():
            try:
                scope = Scope.parse(_text(field))
            except PauseError:
                continue
            out.append(Pause.from_json(scope, raw))
        return sorted(out, key=lambda p: p.scope)

    def active(self) -> list[Pause]:
        now = self.clock()
        return [p for p in self.all() if p.active(now)]

    def active_for(self, scopes: Iterable[Scope]) -> Pause | None:
        """The first of `scopes` that is paused now, if any."""
        now = self.clock()
        for scope in scopes:
            pause = self.get(scope)
            if pause is not None and pause.active(now):
                return pause
        return None

    def system_paused(self, system: str) -> Pause | None:
        return self.active_for([Scope(ScopeKind.SYSTEM, system)])

    def systems_paused(self, systems: Iterable[str]) -> dict[str, Pause]:
        """Each of `systems` that is paused now, with its pause."""
        found = {name: self.system_paused(name) for name in systems}
        return {name: pause for name, pause in found.items() if pause is not None}

    def hold(self, scopes: list[Scope], pair: PairKey) -> Held | None:
        """If one of `scopes` is paused now, hold the pair in its set (atomically with the
        check); None when nothing is paused and the sync may go ahead."""
        result = self._hold(
            keys=[keyspace.PAUSED, keyspace.HELD_SCOPES, *(s.held_key for s in scopes)],
            args=[self.clock().timestamp(), held_member(pair), *map(str, scopes)],
        )
        if not result:
            return None
        scope = Scope.parse(_text(result[0]))
        return Held(Pause.from_json(scope, result[2]), new=int(result[1]) == 1)

    def held(self, scope: Scope) -> list[PairKey]:
        """The pairs waiting for this scope to resume."""
        members = sorted(_text(m) for m in self.redis.smembers(scope.held_key))
        return [parse_held_member(m) for m in members]

    def held_count(self, scope: Scope) -> int:
        return int(self.redis.scard(scope.held_key))

    def release(self, scope: Scope, pair: PairKey) -> None:
        self.redis.srem(scope.held_key, held_member(pair))

    def scopes_with_held(self) -> list[Scope]:
        """Scopes that have held pairs now (a resume interrupted half-way leaves some)."""
        out = []
        for raw in self.redis.smembers(keyspace.HELD_SCOPES):
            try:
                scope = Scope.parse(_text(raw))
            except PauseError:
                continue
            if self.held_count(scope):
                out.append(scope)
        return sorted(out)


@dataclass(frozen=True)
class ScopeState:
    """One route or system as the console and `bridge status` show it."""

    scope: Scope
    pause: Pause | None  # the stored pause, active or run out (until the cron's tick ends it)
    paused: bool  # paused now
    held: int  # pairs waiting for its resume

    def as_dict(self) -> dict[str, Any]:
        pause = self.pause.as_dict() if self.pause is not None else {}
        return {
            "scope": str(self.scope),
            "kind": self.scope.kind.value,
            "name": self.scope.name,
            "paused": self.paused,
            "reason": pause.get("reason"),
            "since": pause.get("since"),
            "until": pause.get("until"),
            "by": pause.get("by"),
            "held": self.held,
        }


def scope_states(store: PauseStore, config: Config) -> list[ScopeState]:
    """Every route and system of the config with its pause (if any) and held pairs."""
    now = store.clock()
    stored = {p.scope: p for p in store.all()}
    with store.redis.pipeline(transaction=False) as pipe:
        scopes = scopes_of(config)
        for scope in scopes:
            pipe.scard(scope.held_key)
        counts = pipe.execute()
    return [
        ScopeState(
            scope,
            stored.get(scope),
            scope in stored and stored[scope].active(now),
            int(count),
        )
        for scope, count in zip(scopes, counts, strict=True)
    ]
