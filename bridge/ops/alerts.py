"""When to notify someone: a failure group appears, a system goes silent, a queue fills up.

Run by the cron process (bridge.cron) every `alerts.check_every`: the cron is the one process
that always runs once, so nobody is notified twice, and it does not depend on the workers (a
queue that fills up because every worker died is exactly what must be told).

A notification goes out when a condition *starts* (a new inbox group or a new episode of one,
a system turning silent, a queue passing its threshold), never on each repeat while it lasts;
and at most one per failure group, system or queue within `alerts.cooldown`, so a flapping
condition is told once. Several conditions found in one check are one message. A message that
no channel took is tried again at the next check. The state (which conditions were told, and
when each key last was) lives in Redis, so a restarted cron does not repeat itself.

When a condition that was told ends (the group has no open entry, the system is heard from, the
queue is under its threshold), one "Resolved: ..." message says so (`alerts.resolved`, on by
default); a condition that was never told (inside its cooldown, or its message never went out)
ends without one. A failure group that ends and starts again between two checks, inside its
cooldown, is the same condition to the operator: it stays told and is resolved when it ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis

from bridge import keyspace
from bridge.durations import fmt_age
from bridge.ops import alert_log
from bridge.ops.inbox_ops import views
from bridge.ops.inspect import Inspector
from bridge.ops.notify import Delivery, Message, Status, deliver
from bridge.pause import fmt_when
from bridge.settings.alerts import AlertKind, AlertSettings
from bridge.stores.values import text

log = logging.getLogger("bridge")


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    key: str  # this occurrence of the condition (a group's episode, a silence)
    cooldown_key: str  # what the cooldown counts per: the group, the system, the queue
    title: str
    detail: str
    condition: str = ""  # what a "Resolved: ..." message names (the title without its counts)

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "key": self.cooldown_key, "title": self.title,
                "detail": self.detail, "status": Status.FIRING.value}  # fmt: skip


@dataclass(frozen=True)
class Told:
    """A condition that was told and has not been resolved: what its resolved message names."""

    key: str
    kind: AlertKind
    cooldown_key: str
    condition: str
    at: float

    def to_json(self) -> str:
        return json.dumps({"at": self.at, "kind": self.kind.value, "cooldown_key":
                           self.cooldown_key, "condition": self.condition})  # fmt: skip

    @classmethod
    def of(cls, alert: Alert, at: datetime) -> Told:
        return cls(alert.key, alert.kind, alert.cooldown_key, alert.condition or alert.title,
                   round(at.timestamp(), 3))  # fmt: skip

    @classmethod
    def from_json(cls, key: str, raw: str) -> Told | None:
        """None for a field of the old form (only a time): what it was is not known, so it
        ends without a resolved message."""
        try:
            data = json.loads(raw)
            return cls(key, AlertKind(data["kind"]), str(data["cooldown_key"]),
                       str(data["condition"]), float(data["at"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "key": self.cooldown_key, "title": self.condition,
                "status": Status.RESOLVED.value}  # fmt: skip


def conditions(
    ins: Inspector, settings: AlertSettings, started: datetime, now: datetime
) -> list[Alert]:
    """Every alert condition that holds now. `started`: when the cron started; a system never
    heard from is silent only once it has had its alert time to speak."""
    found: list[Alert] = []
    link = settings.console_url
    if AlertKind.FAILURE_GROUP in settings.events:
        for v in views(ins):
            g = v.group
            where = f"{link}/ops/inbox/g/{g.id}" if link else f"bridge failed group {g.id}"
            what = "poll" if g.kind.value == "poll" else f"{g.tickets} ticket(s)"
            found.append(
                Alert(
                    AlertKind.FAILURE_GROUP,
                    key=f"group:{g.id}:{g.first_seen}",
                    cooldown_key=f"group:{g.id}",
                    title=f"new failure on {g.system}: {g.cause}",
                    condition=f"failure on {g.system}: {g.cause}",
                    detail=(
                        f"{g.outcome.value}, {g.count} failure(s), {what} since "
                        f"{g.first_seen}; latest: {g.reason}; next: {v.next_note}; "
                        f"see {where}"
                    ),
                )
            )
    if AlertKind.SILENT in settings.events:
        waited = (now - started).total_seconds()
        for s in ins.sources():
            if s.last_seen is None and waited <= s.threshold:
                continue  # just started: not silent yet, only not heard from yet
            if s.last_seen is not None and not s.alert:
                continue
            heard = f"last heard from {fmt_age(s.silent_for)} ago" if s.last_seen else "never"
            found.append(
                Alert(
                    AlertKind.SILENT,
                    key=f"silent:{s.system}",
                    cooldown_key=f"silent:{s.system}",
                    title=f"system {s.system} is silent",
                    detail=(
                        f"no good poll or webhook ({heard}; alert after "
                        f"{fmt_age(s.threshold)}; {s.mode})"
                    ),
                )
            )
    if AlertKind.QUEUE in settings.events:
        o = ins.queue_overview()
        if o.queued >= settings.queue_threshold:
            found.append(
                Alert(
                    AlertKind.QUEUE,
                    key=f"queue:{o.name}",
                    cooldown_key=f"queue:{o.name}",
                    title=f"queue {o.name} has {o.queued} jobs waiting",
                    condition=f"queue {o.name} past {settings.queue_threshold} jobs waiting",
                    detail=(
                        f"threshold {settings.queue_threshold}; {len(o.workers)} live "
                        f"worker(s), {o.started} running, {o.failed} failed"
                    ),
                )
            )
    return found


def _floats(raw: Mapping[bytes | str, bytes | str]) -> dict[str, float]:
    return {text(k): float(v) for k, v in raw.items()}


def due(redis: Redis, alerts: list[Alert], cooldown: float, now: datetime) -> list[Alert]:
    """The alerts to send now: conditions not told yet and out of their cooldown. Conditions
    that ended stay told until `ended` has dealt with them."""
    told = {text(k) for k in redis.hkeys(keyspace.ALERTS_TOLD)}
    last = _floats(redis.hgetall(keyspace.ALERTS_LAST))
    ts = now.timestamp()
    stale = [key for key, at in last.items() if ts - at > cooldown]
    if stale:
        redis.hdel(keyspace.ALERTS_LAST, *stale)  # bounded: only keys inside their cooldown stay
    return [
        a
        for a in alerts
        if a.key not in told and ts - last.get(a.cooldown_key, float("-inf")) >= cooldown
    ]


def ended(
    redis: Redis, alerts: list[Alert], ready: list[Alert], settings: AlertSettings
) -> list[Told]:
    """The told conditions that are over and get a resolved message. Others that are over are
    forgotten: of the old form, of a kind no longer alerted on, or with `resolved` off. One
    whose cooldown key is on again under a new key that is not told now (a group's new episode
    inside its cooldown) is moved to that key: to the operator it never ended."""
    raw = {text(k): text(v) for k, v in redis.hgetall(keyspace.ALERTS_TOLD).items()}
    current = {a.key: a for a in alerts}
    again = {a.cooldown_key: a for a in alerts if a.key not in raw and a not in ready}
    over: list[Told] = []
    forget: list[str] = []
    moved: dict[str, str] = {}
    for key, value in raw.items():
        if key in current:
            continue
        told = Told.from_json(key, value)
        if told is None or told.kind not in settings.events or not settings.resolved:
            forget.append(key)
        elif told.cooldown_key in again:
            forget.append(key)
            new = again.pop(told.cooldown_key).key
            moved[new] = Told(new, told.kind, told.cooldown_key, told.condition, told.at).to_json()
        else:
            over.append(told)
    with redis.pipeline(transaction=False) as pipe:
        if moved:
            pipe.hset(keyspace.ALERTS_TOLD, mapping={k: v for k, v in moved.items()})
        if forget:
            pipe.hdel(keyspace.ALERTS_TOLD, *forget)
        pipe.execute()
    return over


def resolved_message(over: list[Told], now: datetime) -> Message:
    names = [t.condition for t in over]
    if len(over) == 1:
        subject = f"[ticket-bridge] Resolved: {names[0]}"
    else:
        subject = f"[ticket-bridge] Resolved: {len(over)} alerts: {names[0]}, ..."
    body = "\n\n".join(
        f"Resolved: {t.condition}\nno longer so (told {fmt_when(_utc(t.at))}, over by "
        f"{fmt_when(now)}, {fmt_age(now.timestamp() - t.at)} later)"
        for t in over
    )
    return Message(subject, body, [t.as_dict() for t in over], Status.RESOLVED)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def message(alerts: list[Alert]) -> Message:
    if len(alerts) == 1:
        subject = f"[ticket-bridge] {alerts[0].title}"
    else:
        subject = f"[ticket-bridge] {len(alerts)} alerts: {alerts[0].title}, ..."
    body = "\n\n".join(f"{a.title}\n{a.detail}" for a in alerts)
    return Message(subject, body, [a.as_dict() for a in alerts])


def titles(alerts: list[Alert]) -> dict[str, str]:
    """Per kind, what a message said of it: the first title, and how many more there were."""
    found: dict[str, list[str]] = {}
    for a in alerts:
        found.setdefault(a.kind.value, []).append(a.title)
    return {k: _first(t) for k, t in found.items()}


def check(
    ins: Inspector,
    settings: AlertSettings,
    started: datetime,
    now: datetime,
    env: Mapping[str, str] | None = None,
) -> list[Alert]:
    """One check: tell what ended as one message and what is due as another; returns the
    alerts that were sent (not the resolved ones)."""
    found = conditions(ins, settings, started, now)
    ready = due(ins.redis, found, settings.cooldown, now)
    over = ended(ins.redis, found, ready, settings)
    if over:
        _resolve(ins.redis, settings, over, now, env)
    if not ready:
        return []
    deliveries = _sent(settings, message(ready), env)
    alert_log.record(ins.redis, titles(ready), now, deliveries)
    if not any(d.ok for d in deliveries):
        return []  # no channel took it: the next check tries again
    ts = f"{now.timestamp():.3f}"
    with ins.redis.pipeline(transaction=False) as pipe:
        pipe.hset(keyspace.ALERTS_TOLD, mapping={a.key: Told.of(a, now).to_json() for a in ready})
        pipe.hset(keyspace.ALERTS_LAST, mapping={a.cooldown_key: ts for a in ready})
        pipe.execute()
    log.info("alert sent: %s", "; ".join(a.title for a in ready))
    return ready


def _sent(settings: AlertSettings, sent: Message, env: Mapping[str, str] | None) -> list[Delivery]:
    deliveries = deliver(settings, sent, env)
    for d in deliveries:
        if not d.ok:
            log.warning("alert not sent by %s: %s", d.channel.value, d.error)
    return deliveries


def _resolve(
    redis: Redis,
    settings: AlertSettings,
    over: list[Told],
    now: datetime,
    env: Mapping[str, str] | None,
) -> None:
    """Send the resolved message; the conditions stay told until a channel takes it, so the
    next check tries again."""
    deliveries = _sent(settings, resolved_message(over, now), env)
    said: dict[str, list[str]] = {}
    for t in over:
        said.setdefault(t.kind.value, []).append(t.condition)
    alert_log.record(redis, {k: f"Resolved: {_first(names)}" for k, names in said.items()},
                     now, deliveries)  # fmt: skip
    if any(d.ok for d in deliveries):
        redis.hdel(keyspace.ALERTS_TOLD, *[t.key for t in over])
        log.info("alert sent: Resolved: %s", "; ".join(t.condition for t in over))


def _first(names: list[str]) -> str:
    return names[0] + (f" (and {len(names) - 1} more)" if len(names) > 1 else "")


def send_test(
    redis: Redis | None,
    settings: AlertSettings,
    now: datetime,
    env: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """`bridge alerts test`: one message through every channel, noted for the console when
    Redis is given (the test must work without it: alerts matter most when things break)."""
    title = "test message from `bridge alerts test`"
    body = (
        f"A test of the bridge's alerts, sent at {now.isoformat(timespec='seconds')}. This "
        "channel works: failure groups, silent systems and a full queue are told here."
    )
    deliveries = deliver(settings, Message(f"[ticket-bridge] {title}", body, [
        {"kind": alert_log.TEST, "key": alert_log.TEST, "title": title, "detail": body}
    ]), env)  # fmt: skip
    if redis is not None:
        alert_log.record(redis, {alert_log.TEST: title}, now, deliveries)
    return deliveries


class AlertLoop:
    """The cron's alert check, at most every `check_every` by the given clock; a failing
    check is logged and never stops the cron's polls."""

    def __init__(
        self, ins: Inspector, settings: AlertSettings, clock: Callable[[], datetime]
    ) -> None:
        self.ins = ins
        self.settings = settings
        self.clock = clock
        self.started = clock()
        self.next_at = self.started

    def seconds_to_next(self) -> float:
        return max(0.0, (self.next_at - self.clock()).total_seconds())

    def tick(self) -> list[Alert]:
        now = self.clock()
        if now < self.next_at:
            return []
        self.next_at = now + timedelta(seconds=self.settings.check_every)
        try:
            return check(self.ins, self.settings, self.started, now)
        except Exception as exc:  # Redis away, a bug: the polls go on
            log.warning("alert check failed: %s: %s", type(exc).__name__, exc)
            return []
