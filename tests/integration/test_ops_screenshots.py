"""Every console page in headless Chromium, in a world with real traffic: the screenshots in
docs/ come from here (`UPDATE_SCREENSHOT=1` writes docs/ops-<page>.png; an ordinary run writes
them to a temporary directory and leaves the checkout as is).

The world is the sandbox stack with a real `bridge worker` process: the demo's story (two
escalations, a vendor question copied back, duplicate deliveries, a non-technical question),
then a ticket that talks both ways until MantisBT refuses changes to its resolved issue (held
back), a ticket waiting for data, three creates MantisBT refused with 403 (one failure group),
two polls refused with 401 (another), refused webhooks, alerts sent through a local webhook
and a local SMTP server, and system vendor paused for an upgrade with one pair held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from flask import Flask, request
from redis import Redis
from rq import Worker
from selenium import webdriver
from selenium.webdriver.common.by import By

from bridge import keyspace
from bridge.config import Config
from bridge.demo import Story
from bridge.errors import PermanentError
from bridge.failures.inbox import Inbox
from bridge.ops import alerts
from bridge.ops.inspect import Inspector
from bridge.pause import PauseStore, Scope, ScopeKind
from bridge.queue import get_queue
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.stack import Stack, post_zendesk_webhook
from bridge.settings.alerts import AlertSettings, SmtpSettings
from bridge.settings.ops import OpsSchema, ops_settings
from bridge.web import create_app
from tests.integration.chromium import (
    chromium,
    fill_login,
    full_page_shot,
    needs_chromium,
    shot_path,
    wait_for,
)
from tests.integration.ops_helpers import COMPLETE, OPS
from tests.integration.test_alerts import free_port
from tests.integration.waiting import wait_for as wait_for_condition

pytestmark = needs_chromium

HOOK_PATH = "/hooks/T0/secret-path"  # a chat hook's secret is its path: never shown
UPGRADE = "MantisBT upgrade to 2.27"


@pytest.fixture()
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


@dataclass
class World:
    ticket: int  # the ticket page's: escalated, talked both ways, two items held back
    issue: int
    waiting: int  # its escalation waits for data
    parked: list[int]  # MantisBT refused their creates with 403
    held: int  # its change waits for the end of vendor's maintenance window


def build_world(stack: Stack) -> World:
    zd, mt = stack.zendesk, stack.mantis
    stack.second_level.set_up_as_documented()
    assert Story(stack, lambda _: None).play()

    # A ticket that talks both ways, until the bridge user loses MANAGER and MantisBT refuses
    # the customer's reply on the resolved issue: held back, not a parked job.
    tid = zd.create_ticket_as(
        stack.zd_customer, "Payment page stays blank in Safari",
        "Since the update to 2.4 the payment page stays blank in Safari; Firefox works.",
        custom_fields=COMPLETE, priority="high",
    )["id"]  # fmt: skip
    assert stack.catch_up()
    (issue,) = stack.second_level.find_issues(stack.first_level.ticket_url(tid))
    iid = int(issue["id"])
    mt.add_note_as(stack.mt_developer, iid, "Can you send the browser console output?")
    assert stack.catch_up()
    zd.update_ticket_as(
        stack.zd_customer, tid, comment="The console says: TypeError in checkout.js line 212."
    )
    assert stack.catch_up()
    mt.set_access(stack.mt_bridge, "developer")
    mt.add_note_as(stack.mt_developer, iid, "Fixed in 2.4.1, please update.")
    mt.set_status_as(stack.mt_developer, iid, "resolved")
    assert stack.catch_up()
    zd.update_ticket_as(stack.zd_customer, tid, comment="Updated to 2.4.1: still blank.",
                        status="open")  # fmt: skip
    assert stack.catch_up()

    held = zd.create_ticket_as(stack.zd_customer, "Order export has the wrong encoding",
                               "The CSV export shows umlauts as two characters.",
                               custom_fields=COMPLETE)["id"]  # fmt: skip
    waiting = stack.first_level.open_ticket(
        False, subject="Search finds no products",
        description="Since last night the shop search finds nothing, not even 'shirt'.",
    )  # fmt: skip
    assert stack.catch_up()

    mt.fail_next(3, status=403)  # a project permission taken away: one cause, three tickets
    parked = [
        int(zd.create_ticket_as(stack.zd_customer, subject, "Every attempt fails since 9:00.",
                                custom_fields=COMPLETE)["id"])
        for subject in ("Invoices are not sent", "Login loops back to the start page",
                        "Coupon codes are refused")
    ]  # fmt: skip
    assert stack.settle()

    refuse_webhooks(stack)
    for _ in range(2):  # the vendor's token rotated: two polls refused
        mt.fail_next(1, status=401)
        with pytest.raises(PermanentError, match="401"):
            stack.poll()

    until = datetime.now(UTC) + timedelta(hours=2)
    PauseStore(stack.redis).pause(Scope(ScopeKind.SYSTEM, "vendor"), UPGRADE, until,
                                  by="console:oncall")  # fmt: skip
    zd.update_ticket_as(stack.zd_customer, held, comment="Any news on this?")
    assert stack.settle()
    return World(tid, iid, waiting, parked, held)


def refuse_webhooks(stack: Stack) -> None:
    """A sender with a wrong secret, a body that is no Zendesk webhook, an unknown system."""
    body = {"ticket": {"id": 1}}
    assert (
        post_zendesk_webhook(stack, body, "inv-bad-1", secret="not-the-secret").status_code == 401
    )
    url = f"{stack.bridge_url}/webhooks"
    assert requests.post(f"{url}/helpdesk", data=b"{not json", timeout=10).status_code in (400, 401)
    assert requests.post(f"{url}/shop", json=body, timeout=10).status_code == 404


# -- the alerts' channels: a local webhook receiver and a local SMTP server -----------------
@dataclass
class Outbox:
    posts: list[dict[str, Any]] = field(default_factory=list)
    mails: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.mails.append(envelope)
        return "250 OK"

    def app(self) -> Flask:
        app = Flask("alert-receiver")

        @app.post(HOOK_PATH)
        def hook() -> tuple[str, int]:
            self.posts.append(request.get_json())
            return "", 204

        return app


@pytest.fixture()
def outbox() -> Iterator[tuple[Outbox, AlertSettings]]:
    box = Outbox()
    port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with BackgroundServer(box.app()) as hook:
            mail = SmtpSettings(host="127.0.0.1", port=port, sender="bridge@example.com",
                                to=("oncall@example.com",), starttls=False, timeout=5)  # fmt: skip
            yield box, AlertSettings(webhook_url=hook + HOOK_PATH, smtp=mail, cooldown=3600)
    finally:
        smtp.stop()


def console_config(stack: Stack, settings: AlertSettings) -> Config:
    ops = ops_settings(OpsSchema().load(OPS))
    return replace(stack.config, ops=ops, alerts=settings)


def live_worker(stack: Stack) -> str:
    """The stack's `bridge worker` process, once it is registered and pulsing."""
    queue = get_queue(stack.redis, stack.config)
    wait_for_condition(lambda: len(Worker.all(queue=queue)) == 1, "the worker's registration")
    (worker,) = Worker.all(queue=queue)
    wait_for_condition(lambda: bool(stack.redis.exists(keyspace.alive(worker.name))), "its pulse")
    return str(worker.name)


def texts(browser: webdriver.Chrome, css: str) -> list[str]:
    return [str(e.text) for e in browser.find_elements(By.CSS_SELECTOR, css)]


def test_every_console_page_in_a_world_with_traffic(
    tmp_path: Path,
    redis: Redis,
    redis_url: str,
    browser: webdriver.Chrome,
    outbox: tuple[Outbox, AlertSettings],
) -> None:
    box, settings = outbox
    with Stack(tmp_path / "stack", redis_url=redis_url) as stack:  # a real `bridge worker`
        world = build_world(stack)
        config = console_config(stack, settings)
        now = datetime.now(UTC)
        told = alerts.check(Inspector(stack.redis, config), settings, now - timedelta(minutes=5),
                            now)  # fmt: skip
        assert {a.kind.value for a in told} == {"failure_group"} and len(told) == 2
        assert all(d.ok for d in alerts.send_test(stack.redis, settings, now))
        assert len(box.posts) == 2 and len(box.mails) == 2
        worker = live_worker(stack)

        with BackgroundServer(create_app(config, stack.redis)) as url:
            pages = Pages(browser, url, tmp_path, stack.redis)
            pages.login()
            pages.overview(world, worker)
            pages.jobs(world)
            pages.inbox(world)
            pages.rejected()
            pages.pauses()
            pages.ticket(world)


class Pages:
    """One method per console page: open it, check what it shows, save its screenshot."""

    def __init__(self, browser: webdriver.Chrome, url: str, tmp_path: Path, redis: Redis) -> None:
        self.b, self.url, self.tmp, self.redis = browser, url, tmp_path, redis

    def shot(self, name: str) -> None:
        full_page_shot(self.b, shot_path(self.tmp, f"ops-{name}.png"))

    def login(self) -> None:
        self.b.get(f"{self.url}/ops/")
        wait_for(self.b, "#login")
        assert "/ops/login?next=" in self.b.current_url
        body = self.b.find_element(By.TAG_NAME, "body").text
        assert "Paused" not in body and "Failure inbox" not in body  # nothing before the login
        self.shot("login")
        fill_login(self.b)
        wait_for(self.b, "#queue")

    def overview(self, world: World, worker: str) -> None:
        cards = {c.split("\n", 1)[1]: c.split("\n", 1)[0] for c in texts(self.b, "#queue .card")}
        assert cards["parked"] == "3" and cards["workers"] == "1" and cards["failed"] == "0"
        assert "waiting for their ticket" in cards
        body = self.b.find_element(By.TAG_NAME, "body").text
        assert "No worker is listening" not in body
        assert f"Paused: system vendor ({UPGRADE})" in body
        (row,) = texts(self.b, "#workers tbody tr")
        assert worker in row and row.endswith(" s ago")
        sources = {r.split()[0]: r for r in texts(self.b, "#sources tbody tr")}
        assert "OK" in sources["helpdesk"] and "PAUSED" in sources["vendor"]
        assert texts(self.b, "#parked") == [] and texts(self.b, "#failed") == []  # no job rows
        entries = texts(self.b, "#inbox-summary #inbox tbody tr")
        assert len(entries) == 2
        (sync,) = [r for r in entries if "PermanentError: HTTP 403 Forbidden" in r]
        assert "3 open of 3" in sync and all(f"helpdesk#{t}" in sync for t in world.parked)
        (waiting,) = texts(self.b, "#waiting tbody tr")
        assert f"helpdesk#{world.waiting}" in waiting and "customer_number" in waiting
        channels = self.b.find_element(By.ID, "alert-channels").text
        assert "webhook http://127.0.0.1:" in channels and "secret" not in channels
        assert "e-mail 127.0.0.1:" in channels and "oncall@example.com" in channels
        history = texts(self.b, "#alert-history tbody tr")
        assert (
            history[0].startswith("a failure group appears")
            and "new failure on vendor" in history[0]
        )
        assert "never" in history[1] and "never" in history[2]  # silent, queue
        assert history[3].startswith("test") and history[3].count("sent") >= 2
        summary = self.b.find_element(By.ID, "inbox-summary").text
        assert "2 open entries" in summary and "the 3 failed and parked job(s)" in summary
        self.shot("overview")

    def jobs(self, world: World) -> None:
        self.b.find_element(By.CSS_SELECTOR, "#jobs-link a").click()
        wait_for(self.b, "#parked")
        parked = texts(self.b, "#parked tbody tr")
        assert len(parked) == 3 and all("403" in r for r in parked)
        assert all(any(f"helpdesk#{t}" in r for r in parked) for t in world.parked)
        assert texts(self.b, "#failed") == []  # "None."
        assert texts(self.b, ".retry-all button") == ["Retry all 3"]
        self.shot("jobs")

    def inbox(self, world: World) -> None:
        self.b.find_element(By.ID, "nav-inbox").click()
        wait_for(self.b, "#filters")
        rows = texts(self.b, "#inbox tbody tr")
        assert len(rows) == 2
        (sync,) = [r for r in rows if "PermanentError: HTTP 403 Forbidden" in r]
        assert "3 open of 3" in sync and all(f"helpdesk#{t}" in sync for t in world.parked)
        (poll,) = [r for r in rows if "PermanentError: HTTP 401 Unauthorized" in r]
        assert "vendor" in poll
        self.shot("inbox")

        group = Inbox(self.redis).groups()
        gid = next(g.id for g in group if g.kind.value == "sync")
        self.b.get(f"{self.url}/ops/inbox/g/{gid}")
        facts = wait_for(self.b, "#group").text
        assert "PermanentError: HTTP 403 Forbidden" in facts and "3 ticket(s)" in facts
        assert len(texts(self.b, "#tickets li")) == 3
        assert len(texts(self.b, "#group-jobs tbody tr")) == 3  # its jobs, one by one
        assert texts(self.b, "a.retry") == ["Retry group…"]
        self.shot("inbox-group")

    def rejected(self) -> None:
        self.b.get(f"{self.url}/ops/inbox/rejected")
        rows = texts(self.b, "#rejected tbody tr")
        assert len(rows) == 3, rows
        joined = "\n".join(rows)
        assert "SignatureError" in joined and "shop" in joined
        self.shot("rejected")

    def pauses(self) -> None:
        self.b.find_element(By.ID, "nav-pauses").click()
        vendor = wait_for(self.b, 'tr[data-scope="system:vendor"]')
        assert "PAUSED" in vendor.text and UPGRADE in vendor.text
        assert vendor.find_element(By.CSS_SELECTOR, "td.held").text == "1"
        assert "RUNNING" in wait_for(self.b, 'tr[data-scope="system:helpdesk"]').text
        self.shot("pauses")

    def ticket(self, world: World) -> None:
        self.b.get(f"{self.url}/ops/search?ticket={world.ticket}&system=helpdesk")
        assert f"vendor#{world.issue}" in wait_for(self.b, "#link").text
        held = texts(self.b, "#held tbody tr")
        assert len(held) == 2 and all("refuses changes to resolved issue" in r for r in held)
        assert any("once the issue leaves resolved" in r for r in held)
        story = self.b.find_element(By.CSS_SELECTOR, "table.timeline").text
        for sentence in (
            f"Escalated: to vendor #{world.issue} (MantisBT)",
            "Comment copied",
            "Not copied",
        ):
            assert sentence in story, sentence
        assert "{'" not in story  # no Python dicts
        self.shot("ticket")
