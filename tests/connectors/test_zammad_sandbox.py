"""The real ZammadConnector against the Zammad sandbox served on 127.0.0.1.

This checks both sides at once: the connector speaks the documented API, and the sandbox answers
and sends trigger webhooks the way the connector (and so the bridge) expects from real Zammad.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask, Response, request

from bridge.errors import PermanentError, RateLimited, RetryableError
from bridge.models import Attachment, EventKind, NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.zammad import ZammadSandbox
from connectors.zammad import ZammadConnector
from connectors.zammad import search as search_module
from connectors.zammad.client import REST

SECRET = "zammad-signature-token"


class Clock:
    """A settable clock, so search ranges and timestamps are deterministic."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Env:
    sandbox: ZammadSandbox
    url: str
    clock: Clock
    bridge_id: int
    agent_id: int
    customer_id: int

    def connector(self, token: str = "bridge-token", attempts: int = 1) -> ZammadConnector:
        settings = SystemSettings(
            name="vendor",
            type="zammad",
            url=self.url,
            auth={"token": token},
            webhook_secret=SECRET,
            bridge_user=str(self.bridge_id),
            timeout=5.0,
            options={"customer": "jane@customer.test", "external_id_field": "customer_ticket"},
        )
        return ZammadConnector(
            settings,
            http=REST.client(settings, attempts=attempts, wait_max=0),
            clock=self.clock,
        )


@pytest.fixture
def env() -> Iterator[Env]:
    clock = Clock()
    sandbox = ZammadSandbox(clock=clock, retry_wait=0.001)
    bridge_id = sandbox.add_user("Ticket", "Bridge", "bridge@vendor.test", "Agent", "bridge-token")
    agent_id = sandbox.add_user("Anna", "Dev", "anna@vendor.test", "Agent", "anna-token")
    customer_id = sandbox.add_user("Jane", "Doe", "jane@customer.test", token="jane-token")
    sandbox.add_attribute("customer_ticket")
    with BackgroundServer(sandbox.app) as url:
        yield Env(sandbox, url, clock, bridge_id, agent_id, customer_id)
    sandbox.close()


@dataclass
class Receiver:
    """A webhook endpoint that answers with scripted status codes and keeps what it got."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event = field(default_factory=threading.Event)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hooks/zammad")
        def hook() -> Response:
            with self.lock:
                self.received.append((dict(request.headers), request.get_data()))
                status = self.statuses.pop(0) if self.statuses else 202
            self.gate.wait(5)  # tests may hold the sender here to stage a late delivery
            return Response("", status=status)

        return app


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    recv = Receiver()
    recv.gate.set()
    with BackgroundServer(recv.app()) as url:
        yield recv, f"{url}/hooks/zammad"


def api_paths(env: Env, method: str) -> list[str]:
    return [e["path"] for e in env.sandbox.request_log if e["method"] == method]


# ------------------------------------------------------------------------------ API calls


def test_create_and_read_back(env: Env) -> None:
    conn = env.connector()
    created = conn.create_ticket(
        TicketDraft(
            subject="Export crashes",
            description="Steps: open invoice 0.",
            priority="3 high",
            fields={"customer_ticket": "ZD-1"},
            tags=("customer",),
            source_url="https://helpdesk.example/t/1",
            attachments=(Attachment("b.bin", content=bytes(range(256))),),
        )
    )
    stored = env.sandbox.ticket(created.ref.id)
    assert (stored["state"], stored["priority"], stored["group"]) == ("new", "3 high", "Users")
    assert stored["customer_id"] == env.customer_id
    assert stored["created_by_id"] == env.bridge_id
    assert stored["customer_ticket"] == "ZD-1"
    assert env.sandbox.tags(created.ref.id) == ["customer"]
    [first] = env.sandbox.articles(created.ref.id)
    assert (first["type"], first["internal"], first["sender"]) == ("note", False, "Agent")
    assert first["body"] == "Steps: open invoice 0.\n\nEscalated from https://helpdesk.example/t/1"
    assert env.sandbox.file_content(first["attachments"][0]["id"]) == bytes(range(256))

    ticket = conn.get_ticket(created.ref.id)
    assert ticket.description == first["body"]
    assert (ticket.requester_email, ticket.requester_name) == ("jane@customer.test", "Jane Doe")
    assert ticket.external_id == "ZD-1"
    assert ticket.tags == ("customer",)
    assert ticket.created_at == env.clock.now
    assert ticket.updated_by == str(env.bridge_id)
    auth = {e["headers"]["Authorization"] for e in env.sandbox.request_log}
    assert auth == {"Token token=bridge-token"}


def test_post_without_article_is_refused_like_zammad(env: Env) -> None:
    answer = requests.post(
        f"{env.url}/api/v1/tickets",
        json={"title": "x", "group": "Users", "customer_id": env.customer_id},
        headers={"Authorization": "Token token=bridge-token"},
        timeout=5,
    )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "article hash is missing",
        "error_human": "article hash is missing",
    }
    answer = requests.post(
        f"{env.url}/api/v1/tickets",
        json={"title": "x", "group": "Users", "customer_id": env.customer_id, "article": {}},
        headers={"Authorization": "Token token=bridge-token"},
        timeout=5,
    )
    assert answer.json()["error"] == 'Need at least article: { body: "some text" }'


def test_unknown_group_and_bad_token(env: Env) -> None:
    conn = env.connector()
    conn.settings = SystemSettings(**{**conn.settings.__dict__, "options": {"customer": "x@y"}})
    with pytest.raises(PermanentError, match="No lookup value found for 'customer'") as info:
        conn.create_ticket(TicketDraft(subject="S", description="D"))
    assert info.value.status == 422
    with pytest.raises(PermanentError, match="Invalid token") as info:
        env.connector(token="wrong").get_ticket("1")
    assert info.value.status == 401


def test_update_writes_only_differences_and_handles_pending(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "VPN drops", "Every hour")["id"]
    conn = env.connector()
    env.clock.tick(60)
    conn.update_ticket(str(tid), TicketChanges(status="pending reminder", external_id="ZD-7"))
    stored = env.sandbox.ticket(tid)
    assert stored["state"] == "pending reminder"
    assert stored["pending_time"] == "2025-03-05T09:01:00Z"
    assert stored["customer_ticket"] == "ZD-7"
    assert stored["updated_by_id"] == env.bridge_id

    before = len(api_paths(env, "PUT"))
    result = conn.update_ticket(str(tid), TicketChanges(status="Pending Reminder"))
    assert len(api_paths(env, "PUT")) == before  # already true: no write
    assert result.status == "pending reminder"


def test_comments_visibility_and_authors(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "first")["id"]
    conn = env.connector()
    note_id = conn.add_comment(str(tid), NewComment(body="internal", public=False))
    reply_id = conn.add_comment(str(tid), NewComment(body="public", public=True))
    env.sandbox.update_ticket_as(env.agent_id, tid, article="from Anna", internal=True)
    comments = conn.list_comments(str(tid))
    assert [(c.body, c.public, c.author_id) for c in comments] == [
        ("first", True, str(env.customer_id)),
        ("internal", False, str(env.bridge_id)),
        ("public", True, str(env.bridge_id)),
        ("from Anna", False, str(env.agent_id)),
    ]
    assert [c.id for c in comments][1:3] == [note_id, reply_id]
    assert comments[3].author_name == "Anna Dev"
    # The customer never sees internal notes.
    seen = env.connector(token="jane-token").list_comments(str(tid))
    assert [c.body for c in seen] == ["first", "public"]


def test_blips_are_retried_but_a_lost_article_is_not_reposted(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    env.sandbox.fail_next(1, status=502)
    assert env.connector(attempts=3).get_ticket(str(tid)).subject == "S"

    env.sandbox.fail_next(1, status=500)
    with pytest.raises(RetryableError) as info:
        env.connector(attempts=3).add_comment(str(tid), NewComment(body="once", public=True))
    assert info.value.maybe_applied is True
    assert api_paths(env, "POST").count("/api/v1/ticket_articles") == 1

    env.sandbox.fail_next(1, status=429, retry_after=30)
    with pytest.raises(RateLimited) as limited:
        env.connector(attempts=3).get_ticket(str(tid))
    assert limited.value.retry_after == 30


def test_changes_since_pages_through_search(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "PAGE_SIZE", 2)
    ids = []
    for n in range(5):
        env.clock.tick(10)
        ids.append(env.sandbox.create_ticket_as(env.customer_id, f"T{n}", "D")["id"])
    since = env.clock.now - timedelta(seconds=25)  # the last three
    env.clock.tick(10)
    env.sandbox.update_ticket_as(env.agent_id, ids[0], state="open")  # touched again: newest

    events = env.connector().changes_since(since)
    assert [int(e.ref.id) for e in events] == [ids[0], ids[4], ids[3], ids[2]]
    assert events[0].actor_id == str(env.agent_id)
    assert events[0].data["status"] == "open"
    assert all(e.kind is EventKind.TICKET_UPDATED for e in events)
    searches = [e for e in env.sandbox.request_log if e["path"] == "/api/v1/tickets/search"]
    assert [s["query"]["page"] for s in searches] == ["1", "2", "3"]


def test_find_created_recovers_a_lost_create(env: Env) -> None:
    since = env.clock.now
    env.clock.tick()
    env.sandbox.create_ticket_as(env.bridge_id, "Other", "Escalated from https://hd/t/2")
    env.connector().create_ticket(
        TicketDraft(subject="Mine", description="D", source_url="https://hd/t/1")
    )
    env.sandbox.create_ticket_as(env.agent_id, "Not ours", "Escalated from https://hd/t/1")
    found = env.connector().find_created("https://hd/t/1", since)
    assert found is not None and found.subject == "Mine"
    assert env.connector().find_created("https://hd/t/3", since) is None


def test_fetch_attachment_from_the_sandbox(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    payload = b"0123456789" * 10_000
    conn = env.connector()
    conn.add_comment(
        str(tid),
        NewComment(body="log", public=True, attachments=(Attachment("x.log", content=payload),)),
    )
    [attachment] = conn.list_comments(str(tid))[-1].attachments
    dest = io.BytesIO()
    assert conn.fetch_attachment(attachment, dest, max_bytes=len(payload)) == len(payload)
    assert dest.getvalue() == payload
    with pytest.raises(PermanentError) as info:
        conn.fetch_attachment(attachment, io.BytesIO(), max_bytes=len(payload) - 1)
    assert info.value.status == 413


# ------------------------------------------------------------------------------- webhooks


def test_signed_webhooks_parse_and_exclude_the_bridge(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    recv, hook_url = receiver
    env.sandbox.configure_webhook(hook_url, SECRET, exclude_user_id=env.bridge_id)
    conn = env.connector()
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D", priority="3 high")["id"]
    assert env.sandbox.wait_for_deliveries(5)  # one change at a time: see the next test
    env.clock.tick()
    env.sandbox.update_ticket_as(env.agent_id, tid, article="Fixed in 4711")
    assert env.sandbox.wait_for_deliveries(5)
    env.clock.tick()
    env.sandbox.update_ticket_as(env.agent_id, tid, state="closed")
    assert env.sandbox.wait_for_deliveries(5)
    conn.add_comment(str(tid), NewComment(body="thanks", public=True))  # the bridge: no webhook
    conn.update_ticket(str(tid), TicketChanges(status="open"))  # the bridge: no webhook
    assert env.sandbox.wait_for_deliveries(5)

    assert len(recv.received) == 3
    events = []
    for headers, body in recv.received:
        conn.verify_webhook(headers, body)
        events.extend(conn.parse_webhook(headers, body))
    created, commented, closed = events
    assert created.kind is EventKind.TICKET_CREATED
    assert created.actor_id == str(env.customer_id)
    assert created.data["priority"] == "3 high"
    assert commented.kind is EventKind.COMMENT_ADDED
    assert commented.actor_id == str(env.agent_id)
    assert closed.kind is EventKind.TICKET_UPDATED
    assert closed.data["status"] == "closed" and closed.actor_id is None
    assert closed.data["last_updated_by"] == str(env.agent_id)
    assert len({e.delivery_id for e in events}) == 3
    headers = {k.lower(): v for k, v in recv.received[0][0].items()}
    assert headers["user-agent"] == "Zammad User Agent"
    assert headers["x-zammad-trigger"] == "ticket bridge"
    assert headers["content-type"] == "application/json; charset=utf-8"


def test_payload_is_rendered_when_delivered_not_when_changed(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    """Like TriggerWebhookJob, which loads the ticket when the job runs: a late delivery shows
    later state, even `updated_by_id` of a later (here: the bridge's own, unsignalled) change.
    The article in the payload stays the one that caused the run."""
    recv, hook_url = receiver
    recv.statuses = [503]  # the first attempt fails; its retry runs after the bridge's write
    recv.gate.clear()
    env.sandbox.configure_webhook(hook_url, SECRET, exclude_user_id=env.bridge_id)
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    env.sandbox.update_ticket_as(env.agent_id, tid, article="from Anna")
    env.connector().update_ticket(str(tid), TicketChanges(status="closed"))
    recv.gate.set()
    assert env.sandbox.wait_for_deliveries(5)
    assert len(recv.received) == 3
    conn = env.connector()
    events = [conn.parse_webhook(h, b)[0] for h, b in recv.received[1:]]
    created, commented = sorted(events, key=lambda e: e.kind != EventKind.TICKET_CREATED)
    assert created.kind is EventKind.TICKET_CREATED  # first article: still recognised
    assert commented.kind is EventKind.COMMENT_ADDED
    assert commented.actor_id == str(env.agent_id)  # article events name the article's author
    assert commented.data["status"] == "closed"  # ...but the ticket is as of delivery time
    retried = json.loads(recv.received[1][1])
    assert recv.received[1][0]["X-Zammad-Delivery"] == recv.received[0][0]["X-Zammad-Delivery"]
    assert retried["ticket"]["updated_by_id"] == env.bridge_id  # the bridge wrote last


def test_failed_deliveries_are_retried_with_one_delivery_id(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    recv, hook_url = receiver
    recv.statuses = [500, 404]
    env.sandbox.configure_webhook(hook_url, SECRET)
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    assert env.sandbox.wait_for_deliveries(5)
    attempts = env.sandbox.deliveries
    assert [(d["attempt"], d["status_code"]) for d in attempts] == [(1, 500), (2, 404), (3, 202)]
    assert len({d["delivery_id"] for d in attempts}) == 1
    assert {r[0]["X-Zammad-Delivery"] for r in recv.received} == {attempts[0]["delivery_id"]}
    assert all(d["ticket_id"] == tid for d in attempts)


def test_payload_carries_a_fetchable_attachment_url(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    _recv, hook_url = receiver
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    conn = env.connector()
    conn.list_comments(str(tid))  # the sandbox learns its own URL from the request, like fqdn
    env.sandbox.configure_webhook(hook_url, SECRET)
    requests.post(
        f"{env.url}/api/v1/ticket_articles",
        json={
            "ticket_id": tid,
            "body": "see file",
            "attachments": [{"filename": "a.txt", "data": "aGk=", "mime-type": "text/plain"}],
        },
        headers={"Authorization": "Token token=anna-token"},
        timeout=5,
    ).raise_for_status()
    assert env.sandbox.wait_for_deliveries(5)
    body = env.sandbox.deliveries[0]["body"]
    assert list(body) == ["ticket", "article"]  # only the records' own keys are sorted
    assert list(body["ticket"]) == sorted(body["ticket"])
    assert body["ticket"]["state"] == "new" and body["ticket"]["priority"]["name"] == "2 normal"
    assert body["ticket"]["customer"]["email"] == "jane@customer.test"
    assert "preferences" not in body["ticket"]["customer"]
    [meta] = body["article"]["attachments"]
    dest = io.BytesIO()
    conn.fetch_attachment(Attachment(meta["filename"], url=meta["url"]), dest, 100)
    assert dest.getvalue() == b"hi"
