"""What the alerts last did, so an operator can see they work before they are needed.

Per condition (a failure group, a silent system, a full queue) the last message that went out,
the last `bridge alerts test`, and the last message no channel took (cleared by the next one
that got through). One small Redis hash, written by whoever sends (the cron, the CLI), read by
the console's overview. Only titles, times and each channel's outcome are kept: never the
webhook URL's path or a password (bridge.ops.notify's `target`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis

from bridge import keyspace
from bridge.ops.notify import Channel, Delivery, channels
from bridge.settings.alerts import AlertKind, AlertSettings
from bridge.telemetry.metrics import since

TEST = "test"
UNDELIVERED = "undelivered"


@dataclass(frozen=True)
class Sent:
    """One message: when, its subject's title, and what each channel did with it."""

    at: str
    title: str
    deliveries: list[Delivery] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {"at": self.at, "title": self.title,
             "deliveries": [{"channel": d.channel.value, "target": d.target, "error": d.error,
                             "unreachable": d.unreachable} for d in self.deliveries]}
        )  # fmt: skip

    def age(self, now: datetime) -> float | None:
        return since(self.at, now)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Sent:
        data = json.loads(raw)
        return cls(
            at=str(data["at"]),
            title=str(data["title"]),
            deliveries=[
                Delivery(Channel(d["channel"]), d["target"], d["error"], bool(d["unreachable"]))
                for d in data.get("deliveries", [])
            ],
        )


def record(
    redis: Redis, titles: Mapping[str, str], at: datetime, deliveries: Sequence[Delivery]
) -> None:
    """Note one message under each field of `titles` (a kind or TEST, with what it said of
    it): as sent when a channel took it (the last undelivered one is then forgotten), else
    as UNDELIVERED."""
    if any(d.ok for d in deliveries):
        with redis.pipeline(transaction=False) as pipe:
            pipe.hset(keyspace.ALERTS_HISTORY, mapping={
                f: Sent(at.isoformat(), title, list(deliveries)).to_json()
                for f, title in titles.items()
            })  # fmt: skip
            pipe.hdel(keyspace.ALERTS_HISTORY, UNDELIVERED)
            pipe.execute()
    else:
        title = "; ".join(titles.values())
        redis.hset(
            keyspace.ALERTS_HISTORY,
            UNDELIVERED,
            Sent(at.isoformat(), title, list(deliveries)).to_json(),
        )


WHEN = {
    AlertKind.FAILURE_GROUP: "a failure group appears",
    AlertKind.SILENT: "a system goes silent",
    AlertKind.QUEUE: "the queue passes its threshold",
}


@dataclass(frozen=True)
class Row:
    """One line of the console's table: a condition (or the test) and its last message."""

    what: str
    enabled: bool
    sent: Sent | None


@dataclass(frozen=True)
class AlertsView:
    """The console's picture of the alerts: where they go, when, and what went out last."""

    channels: list[tuple[Channel, str]]
    settings: AlertSettings
    rows: list[Row]
    undelivered: Sent | None


def view(redis: Redis, settings: AlertSettings) -> AlertsView:
    raw = redis.hgetall(keyspace.ALERTS_HISTORY)
    found = {(k.decode() if isinstance(k, bytes) else str(k)): Sent.from_json(v)
             for k, v in raw.items()}  # fmt: skip
    rows = [Row(WHEN[kind], kind in settings.events, found.get(kind.value)) for kind in AlertKind]
    rows.append(Row("test (`bridge alerts test`)", True, found.get(TEST)))
    return AlertsView(channels(settings), settings, rows, found.get(UNDELIVERED))
