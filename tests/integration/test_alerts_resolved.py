"""Resolved messages on a real Redis: a webhook faked with `responses`, e-mail through a real
local SMTP server (test_alerts' fixture). Time is the tests' clock."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import responses
from redis import Redis

from bridge import keyspace
from bridge.config import Config, load_config
from bridge.failures.inbox import Inbox
from bridge.ops import alert_log, alerts
from bridge.ops.inspect import Inspector
from bridge.queue import get_queue
from bridge.settings.alerts import AlertKind, AlertSettings
from tests.integration.test_alerts import (
    CONFIG,
    HOOK,
    T0,
    Clock,
    Mailbox,
    heard,
    mail_settings,
    smtp_server,  # noqa: F401  (a fixture)
)
from tests.integration.test_alerts import park as park_ticket
from tests.integration.test_alerts import posted as bodies

GROUP = "failure on vendor: PermanentError: HTTP 403 Forbidden"


@dataclass
class World:
    """test_alerts' config with resolved messages on, its clock, and both systems heard."""

    redis: Redis
    config: Config
    settings: AlertSettings
    clock: Clock

    def check(self, env: dict[str, str] | None = None) -> list[alerts.Alert]:
        ins = Inspector(self.redis, self.config, clock=self.clock)
        return alerts.check(ins, self.settings, T0, self.clock(), env=env)

    def later(self, minutes: float, *heard_from: str) -> None:
        """Time passes; the systems named were heard from at its end."""
        self.clock.advance(minutes=minutes)
        heard(self.redis, self.clock(), *heard_from)

    def park(self, ticket: str) -> str:
        return park_ticket(self.redis, ticket, self.clock())

    def close(self, *tickets: str) -> None:
        for ticket in tickets:
            Inbox(self.redis).ticket_synced("acme", ticket)

    def history(self) -> dict[str, alert_log.Sent]:
        raw = self.redis.hgetall(keyspace.ALERTS_HISTORY)
        return {k.decode(): alert_log.Sent.from_json(v) for k, v in raw.items()}


BOTH = ("helpdesk", "vendor")


@pytest.fixture()
def world(tmp_path: Path, redis: Redis) -> Iterator[World]:
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG % HOOK)
    config = load_config(path)
    assert config.alerts is not None and config.alerts.resolved is False  # test_alerts' own
    heard(redis, T0, *BOTH)
    responses.start()  # the module's own mock: test_alerts' posted() reads its calls
    responses.post(HOOK, status=200)
    try:
        yield World(redis, config, replace(config.alerts, resolved=True), Clock())
    finally:
        responses.stop()
        responses.reset()


def resolved_bodies() -> list[dict[str, Any]]:
    return [b for b in bodies() if b["status"] == "resolved"]


def statuses() -> list[str]:
    return [b["status"] for b in bodies()]


def answer(status: int) -> None:
    responses.replace(responses.POST, HOOK, status=status)


def test_a_group_that_was_told_is_resolved_once_and_noted(world: World) -> None:
    gid = world.park("1")
    assert len(world.check()) == 1
    assert bodies()[0]["status"] == "firing" and bodies()[0]["alerts"][0]["status"] == "firing"

    world.close("1")
    world.later(5, *BOTH)
    assert world.check() == []  # nothing new started
    (body,) = resolved_bodies()
    assert body["subject"] == f"[ticket-bridge] Resolved: {GROUP}"
    assert body["alerts"] == [{"kind": "failure_group", "key": f"group:{gid}", "title": GROUP,
                               "status": "resolved"}]  # fmt: skip
    assert body["text"].startswith(f"Resolved: {GROUP}\nno longer so (told 2030-06-01 03:00 UTC")
    assert "5 min later" in body["text"]
    noted = world.history()[AlertKind.FAILURE_GROUP.value]
    assert noted.title == f"Resolved: {GROUP}" and noted.at == world.clock().isoformat()
    assert world.redis.hlen(keyspace.ALERTS_TOLD) == 0

    for _ in range(3):  # once: later checks say nothing more
        world.later(1, *BOTH)
        assert world.check() == []
    assert statuses() == ["firing", "resolved"]

    # Back inside the cooldown: not told, so its end is not told either.
    world.park("2")
    assert world.check() == []
    world.close("2")
    world.later(1, *BOTH)
    assert world.check() == []
    assert statuses() == ["firing", "resolved"]


def test_a_silence_and_a_full_queue_are_resolved_when_they_end(world: World) -> None:
    world.later(4, "helpdesk")  # vendor (polled every 60 s) is silent after 3 min
    queue = get_queue(world.redis, world.config)
    for n in range(3):
        queue.enqueue("bridge.jobs.poll_system", args=(f"x{n}",))
    assert {a.kind for a in world.check()} == {AlertKind.SILENT, AlertKind.QUEUE}

    world.later(1, *BOTH)  # vendor speaks; the queue is still full
    assert world.check() == []
    (silence,) = resolved_bodies()
    assert silence["subject"] == "[ticket-bridge] Resolved: system vendor is silent"

    queue.empty()
    world.later(1, *BOTH)
    assert world.check() == []
    assert [b["subject"] for b in resolved_bodies()] == [
        "[ticket-bridge] Resolved: system vendor is silent",
        "[ticket-bridge] Resolved: queue bridge past 3 jobs waiting",
    ]
    noted = world.history()
    assert noted["silent"].title == "Resolved: system vendor is silent"
    assert noted["queue"].title == "Resolved: queue bridge past 3 jobs waiting"


def test_a_condition_whose_message_never_went_out_ends_without_a_resolved_one(
    world: World,
) -> None:
    answer(502)
    world.park("1")
    assert world.check() == []  # refused: not told
    world.close("1")
    answer(200)
    world.later(1, *BOTH)
    assert world.check() == []
    assert statuses() == ["firing"]  # the refused one; nothing after it


def test_a_resolved_message_no_channel_took_is_sent_at_the_next_check(world: World) -> None:
    world.park("1")
    assert len(world.check()) == 1
    world.close("1")
    answer(502)
    world.later(1, *BOTH)
    world.check()
    assert world.history()[alert_log.UNDELIVERED].title == f"Resolved: {GROUP}"
    answer(200)
    world.later(1, *BOTH)
    world.check()
    world.check()
    assert statuses() == ["firing", "resolved", "resolved"]  # the refused one, then the one sent
    assert alert_log.UNDELIVERED not in world.history()


def test_a_group_back_between_two_checks_inside_its_cooldown_never_ended(world: World) -> None:
    world.park("1")
    assert len(world.check()) == 1
    world.close("1")
    world.later(1, *BOTH)
    world.park("2")  # a new episode of the same group before the next check
    assert world.check() == []
    assert statuses() == ["firing"]  # neither resolved nor new
    world.close("2")
    world.later(1, *BOTH)
    world.check()
    assert statuses() == ["firing", "resolved"]


def test_without_resolved_and_for_old_records_an_end_is_silent(world: World) -> None:
    world.settings = replace(world.settings, resolved=False)
    world.park("1")
    assert len(world.check()) == 1
    world.redis.hset(keyspace.ALERTS_TOLD, "silent:helpdesk", "1906077600.000")  # the old form
    world.close("1")
    world.check()
    world.settings = replace(world.settings, resolved=True)
    world.check()
    assert statuses() == ["firing"] and world.redis.hlen(keyspace.ALERTS_TOLD) == 0


def test_a_resolved_e_mail(
    world: World,
    smtp_server: tuple[Mailbox, int, Path],  # noqa: F811
) -> None:
    box, port, ca_file = smtp_server
    world.settings = mail_settings(port, ca_file)
    assert world.settings.resolved  # on by default
    env = {"BRIDGE_SMTP_PASSWORD": "mail-pass-0123"}
    world.later(4, "helpdesk")
    (silent,) = world.check(env)
    assert silent.title == "system vendor is silent"
    world.later(1, *BOTH)
    assert world.check(env) == []
    first, second = box.messages
    raw = second.original_content
    assert isinstance(raw, bytes)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]).strip() == "[ticket-bridge] Resolved: system vendor is silent"
    assert second.rcpt_tos == first.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    assert isinstance(parsed, EmailMessage)
    said = parsed.get_content().splitlines()
    assert said[0] == "Resolved: system vendor is silent" and said[1].startswith("no longer so")
