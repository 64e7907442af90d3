"""Alerts on a real Redis: a webhook (faked with `responses`) and e-mail through a real SMTP
server on a local socket (aiosmtpd, STARTTLS with a test CA from trustme, AUTH LOGIN).

Time is the tests' clock: nothing waits for a cooldown to pass."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from click.testing import CliRunner, Result
from redis import Redis

from bridge import keyspace
from bridge.cli import main
from bridge.config import Config, load_config
from bridge.cron import BridgeCronScheduler, alert_loop
from bridge.failures.causes import classify
from bridge.failures.inbox import Inbox
from bridge.failures.inbox_model import Failure, Kind, Outcome
from bridge.ops import alerts
from bridge.ops.inspect import Inspector
from bridge.queue import get_queue
from bridge.settings.alerts import AlertKind, AlertSettings, SmtpSettings
from bridge.settings.ops import OpsSchema, ops_settings
from bridge.web import create_app
from tests.integration.ops_helpers import OPS, bearer

HOOK = "https://chat.example.com/hooks/T0/secret"
T0 = datetime(2030, 6, 1, 3, 0, tzinfo=UTC)
CONFIG = """\
systems:
  helpdesk:
    type: zendesk
    url: http://127.0.0.1:9/zd
    auth: {email: bridge@example.com, token: t}
    webhook_secret: s
    bridge_user: "1"
  vendor:
    type: mantis
    url: http://127.0.0.1:9/mantis
    auth: {token: t}
    bridge_user: "2"
routes:
  - {name: acme, from: helpdesk, to: vendor, mapping: zendesk-mantis}
alerts:
  webhook_url: %s
  cooldown: 1h
  queue_threshold: 3
  console_url: https://bridge.example.com/
  resolved: false  # these tests count the messages of conditions starting (test_alerts_resolved)
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture()
def config(tmp_path: Path) -> Config:
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG % HOOK)
    return load_config(path)


def park(redis: Redis, ticket: str, at: datetime, status: int = 403) -> str:
    reason = f"create MantisBT issue failed: {status} Forbidden: project {ticket}"
    gid, _ = Inbox(redis).record(
        Failure(
            Kind.SYNC,
            "vendor",
            classify(reason, "PermanentError"),
            reason,
            Outcome.PARKED,
            at,
            "acme",
            ticket,
            f"job-{ticket}",
        )
    )
    return gid


def heard(redis: Redis, at: datetime, *systems: str) -> None:
    redis.hset("tb:last_seen", mapping={s: at.isoformat() for s in systems})


def posted() -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in responses.calls]


@responses.activate
def test_one_message_when_a_group_appears_not_on_each_repeat(redis: Redis, config: Config) -> None:
    responses.post(HOOK, status=200)
    clock = Clock()
    heard(redis, T0, "helpdesk", "vendor")
    ins = Inspector(redis, config, clock=clock)
    settings = config.alerts
    assert settings is not None
    assert alerts.check(ins, settings, T0, clock()) == []  # nothing wrong: nothing sent
    gid = park(redis, "1", T0)

    (sent,) = alerts.check(ins, settings, T0, clock())
    assert sent.kind is AlertKind.FAILURE_GROUP
    (body,) = posted()
    assert body["subject"] == (
        "[ticket-bridge] new failure on vendor: PermanentError: HTTP 403 Forbidden"
    )
    assert f"https://bridge.example.com/ops/inbox/g/{gid}" in body["text"]
    assert body["alerts"][0]["key"] == f"group:{gid}"

    for n in range(2, 6):  # the same cause on more tickets: the same group, no new message
        park(redis, str(n), T0 + timedelta(minutes=n))
        clock.advance(minutes=1)
        heard(redis, clock(), "helpdesk", "vendor")
        assert alerts.check(ins, settings, T0, clock()) == []
    assert len(responses.calls) == 1

    # It closes and comes back within the cooldown: still quiet; after it, told again.
    for n in range(1, 6):
        Inbox(redis).ticket_synced("acme", str(n))
    clock.advance(minutes=1)
    heard(redis, clock(), "helpdesk", "vendor")
    assert alerts.check(ins, settings, T0, clock()) == []
    park(redis, "9", clock())
    assert alerts.check(ins, settings, T0, clock()) == []
    clock.advance(hours=1)
    heard(redis, clock(), "helpdesk", "vendor")
    (again,) = alerts.check(ins, settings, T0, clock())
    assert again.cooldown_key == f"group:{gid}" and len(responses.calls) == 2


@responses.activate
def test_silent_systems_and_a_full_queue(redis: Redis, config: Config) -> None:
    responses.post(HOOK, status=200)
    clock = Clock()
    ins = Inspector(redis, config, clock=clock)
    settings = config.alerts
    assert settings is not None
    # Just started, never heard from: not silent yet.
    assert alerts.check(ins, settings, T0, clock()) == []
    clock.advance(minutes=4)  # vendor is polled every 60 s: silent after 3 min
    (vendor,) = alerts.check(ins, settings, T0, clock())
    assert vendor.title == "system vendor is silent" and "never" in vendor.detail
    heard(redis, clock(), "vendor")
    clock.advance(minutes=57)  # helpdesk (webhooks) is silent after 1 h
    heard(redis, clock(), "vendor")
    (helpdesk,) = alerts.check(ins, settings, T0, clock())
    assert helpdesk.title == "system helpdesk is silent"
    assert alerts.check(ins, settings, T0, clock()) == []  # still silent: not told again

    queue = get_queue(redis, config)
    for n in range(3):
        queue.enqueue("bridge.jobs.poll_system", args=(f"x{n}",))
    (full,) = alerts.check(ins, settings, T0, clock())
    assert full.title == "queue bridge has 3 jobs waiting" and "0 live worker(s)" in full.detail
    kinds = [b["alerts"][0]["kind"] for b in posted()]
    assert kinds == ["silent", "silent", "queue"]

    only_groups = replace(settings, events=frozenset({AlertKind.FAILURE_GROUP}))
    redis.delete(keyspace.ALERTS_TOLD, keyspace.ALERTS_LAST)
    assert alerts.check(ins, only_groups, T0, clock()) == []


@responses.activate
def test_a_message_no_channel_took_is_sent_at_the_next_check(redis: Redis, config: Config) -> None:
    responses.post(HOOK, status=502)
    clock = Clock()
    heard(redis, T0, "helpdesk", "vendor")
    ins = Inspector(redis, config, clock=clock)
    settings = config.alerts
    assert settings is not None
    park(redis, "1", T0)
    park(redis, "2", T0, status=401)  # two groups: one message
    assert alerts.check(ins, settings, T0, clock()) == []
    responses.replace(responses.POST, HOOK, status=204)
    clock.advance(minutes=1)
    sent = alerts.check(ins, settings, T0, clock())
    assert len(sent) == 2 and len(responses.calls) == 2
    body = posted()[1]
    assert body["subject"].startswith("[ticket-bridge] 2 alerts: ")
    assert len(body["alerts"]) == 2


@responses.activate
def test_the_cron_loop_checks_on_its_own_clock(redis: Redis, config: Config) -> None:
    responses.post(HOOK, status=200)
    clock = Clock()
    heard(redis, T0, "helpdesk", "vendor")
    loop = alert_loop(config, redis, clock)
    assert loop is not None
    scheduler = BridgeCronScheduler(connection=redis, name="test-cron")
    scheduler.alerts = loop
    park(redis, "1", T0)
    scheduler.enqueue_jobs()  # the scheduler's loop body: polls, then the alert check
    assert len(responses.calls) == 1
    park(redis, "2", T0, status=401)
    clock.advance(seconds=30)
    assert scheduler.calculate_sleep_interval() == 30  # wakes up for the next check
    scheduler.enqueue_jobs()
    assert len(responses.calls) == 1  # not due yet
    clock.advance(seconds=30)
    scheduler.enqueue_jobs()
    assert len(responses.calls) == 2
    redis.connection_pool.disconnect()
    broken = Inspector(Redis(port=1), config, clock=clock)
    loop.ins = broken
    clock.advance(minutes=5)
    assert loop.tick() == []  # Redis away: logged, the cron goes on


# -- e-mail through a real SMTP server -------------------------------------------------------
@dataclass
class Mailbox:
    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:  # fmt: skip
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"mail-pass-0123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def smtp_server(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=box.authenticate,
                            auth_require_tls=True)  # fmt: skip
    controller.start()
    try:
        yield box, port, ca_file
    finally:
        controller.stop()


def mail_settings(port: int, ca_file: Path) -> AlertSettings:
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="bridge@example.com",
                        to=("oncall@example.com", "lead@example.com"), starttls=True,
                        user="bridge", password_env="BRIDGE_SMTP_PASSWORD",
                        ca_file=str(ca_file), timeout=5)  # fmt: skip
    return AlertSettings(smtp=smtp, cooldown=3600)


def test_an_alert_by_e_mail_over_starttls_with_a_login(
    redis: Redis, config: Config, smtp_server: tuple[Mailbox, int, Path]
) -> None:
    box, port, ca_file = smtp_server
    clock = Clock()
    heard(redis, T0, "helpdesk", "vendor")
    ins = Inspector(redis, config, clock=clock)
    settings = mail_settings(port, ca_file)
    gid = park(redis, "1", T0)
    env = {"BRIDGE_SMTP_PASSWORD": "mail-pass-0123"}

    assert alerts.check(ins, settings, T0, clock(), env={}) == []  # no password: not sent
    assert box.messages == []
    (sent,) = alerts.check(ins, settings, T0, clock(), env=env)
    assert sent.cooldown_key == f"group:{gid}"
    (mail,) = box.messages
    assert box.logins == [(b"bridge", b"mail-pass-0123")]
    assert mail.mail_from == "bridge@example.com"
    assert mail.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    raw = mail.original_content
    assert isinstance(raw, bytes)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]).strip() == (
        "[ticket-bridge] new failure on vendor: PermanentError: HTTP 403 Forbidden"
    )
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_content()
    assert f"see bridge failed group {gid}" in body  # no console_url: the CLI command
    assert alerts.check(ins, settings, T0, clock(), env=env) == []  # told once

    wrong = {"BRIDGE_SMTP_PASSWORD": "nope-nope"}
    park(redis, "2", T0, status=401)
    assert alerts.check(ins, settings, T0, clock(), env=wrong) == []  # refused login: retried
    assert len(box.messages) == 1


# -- `bridge alerts test`, and the alerts as the console shows them -------------------------
SYSTEMS = CONFIG.split("alerts:\n", 1)[0]


def smtp_block(port: int, ca_file: Path) -> str:
    return f"""\
  smtp:
    host: 127.0.0.1
    port: {port}
    from: bridge@example.com
    to: oncall@example.com
    user: bridge
    password_env: BRIDGE_SMTP_PASSWORD
    ca_file: {ca_file}
    timeout: 5s
"""


def alerts_test(tmp_path: Path, block: str, **env: str) -> Result:
    """`bridge alerts test` on a config with this `alerts:` block (no Redis unless given)."""
    path = tmp_path / "cli.yaml"
    path.write_text(SYSTEMS + "alerts:\n" + block)
    runner = CliRunner()
    result = runner.invoke(main, ["alerts", "test", "--config", str(path)], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def console_page(config: Config, redis: Redis) -> str:
    ops = ops_settings(OpsSchema().load(OPS))
    client = create_app(replace(config, ops=ops), redis).test_client()
    response = client.get("/ops/", headers=bearer())
    assert response.status_code == 200
    return response.get_data(as_text=True)


@responses.activate
def test_alerts_test_sends_through_each_channel_and_the_console_shows_the_state(
    tmp_path: Path, redis: Redis, redis_url: str, smtp_server: tuple[Mailbox, int, Path]
) -> None:
    box, port, ca_file = smtp_server
    responses.post(HOOK, status=200)
    block = f"  webhook_url: {HOOK}\n  cooldown: 30m\n" + smtp_block(port, ca_file)
    result = alerts_test(tmp_path, block, BRIDGE_REDIS_URL=redis_url,
                         BRIDGE_SMTP_PASSWORD="mail-pass-0123")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "webhook https://chat.example.com/…: sent",
        f"e-mail 127.0.0.1:{port} to oncall@example.com: sent",
    ]
    (body,) = posted()
    assert body["subject"] == "[ticket-bridge] test message from `bridge alerts test`"
    (mail,) = box.messages
    assert mail.rcpt_tos == ["oncall@example.com"]

    config = load_config(tmp_path / "cli.yaml")
    page = console_page(config, redis)
    alerts_part = page.split('id="alerts"', 1)[1].split("<h2>", 1)[0]
    assert "https://chat.example.com/…" in alerts_part and "T0/secret" not in page
    assert f"127.0.0.1:{port} to oncall@example.com" in alerts_part
    assert "at most once per 30 min" in alerts_part
    rows = alerts_part.split("<tr data-sent=")[1:]
    assert [r.split(">", 1)[0] for r in rows] == ['"no"', '"no"', '"no"', '"yes"']
    assert "test message from `bridge alerts test`" in rows[3] and rows[3].count("sent</span>") == 2

    # The cron sends a failure group: its row says when and what.
    heard(redis, datetime.now(UTC), "helpdesk", "vendor")
    park(redis, "1", datetime.now(UTC))
    assert config.alerts is not None
    env = {"BRIDGE_SMTP_PASSWORD": "mail-pass-0123"}
    (sent,) = alerts.check(Inspector(redis, config), config.alerts, T0, datetime.now(UTC), env)
    first = console_page(config, redis).split("<tr data-sent=")[1]
    assert first.startswith('"yes"') and "a failure group appears" in first
    assert "new failure on vendor: PermanentError: HTTP 403 Forbidden" in first
    assert "0 s ago" in first and sent.kind is AlertKind.FAILURE_GROUP


@responses.activate
def test_a_message_no_channel_took_is_shown_until_one_gets_through(
    redis: Redis, config: Config
) -> None:
    responses.post(HOOK, status=502)
    heard(redis, T0, "helpdesk", "vendor")
    park(redis, "1", T0)
    assert config.alerts is not None
    ins = Inspector(redis, config, clock=lambda: T0)
    assert alerts.check(ins, config.alerts, T0, T0) == []
    page = console_page(config, redis)
    assert 'id="alert-undelivered"' in page and "webhook: the webhook answered 502" in page
    responses.replace(responses.POST, HOOK, status=200)
    assert len(alerts.check(ins, config.alerts, T0, T0 + timedelta(minutes=1))) == 1
    assert 'id="alert-undelivered"' not in console_page(config, redis)


@responses.activate
def test_alerts_test_exits_by_what_the_channels_did(
    tmp_path: Path, smtp_server: tuple[Mailbox, int, Path]
) -> None:
    _, port, ca_file = smtp_server
    hook = f"  webhook_url: {HOOK}\n"
    nobody = smtp_block(free_port(), ca_file)  # nothing listens there

    responses.post(HOOK, status=502)
    refused = alerts_test(tmp_path, hook)
    assert refused.exit_code == 1
    assert refused.output.splitlines() == [
        "webhook https://chat.example.com/…: NOT sent: the webhook answered 502",
        "(Redis not reached: the console will not show this test)",
    ]

    responses.replace(responses.POST, HOOK, body=requests.ConnectionError("refused"))
    away = alerts_test(tmp_path, hook + nobody, BRIDGE_SMTP_PASSWORD="mail-pass-0123")
    assert away.exit_code == 3, away.output
    lines = away.output.splitlines()
    assert lines[0] == (
        "webhook https://chat.example.com/…: NOT sent: the webhook could not be reached: "
        "ConnectionError"
    )
    assert lines[1].startswith("e-mail 127.0.0.1:") and "could not be reached" in lines[1]

    responses.replace(responses.POST, HOOK, status=204)
    half = alerts_test(tmp_path, hook + nobody, BRIDGE_SMTP_PASSWORD="mail-pass-0123")
    assert half.exit_code == 1 and half.output.startswith(
        "webhook https://chat.example.com/…: sent"
    )

    unset = alerts_test(tmp_path, smtp_block(port, ca_file))  # no password in the environment
    assert unset.exit_code == 1
    assert unset.output.splitlines()[0] == (
        f"e-mail 127.0.0.1:{port} to oncall@example.com: NOT sent: the SMTP password variable "
        "BRIDGE_SMTP_PASSWORD is not set"
    )

    path = tmp_path / "plain.yaml"
    path.write_text(SYSTEMS)
    none = CliRunner().invoke(main, ["alerts", "test", "--config", str(path)])
    assert none.exit_code == 1 and "no `alerts` section" in none.output
    assert "secret" not in refused.output + away.output + half.output + unset.output
