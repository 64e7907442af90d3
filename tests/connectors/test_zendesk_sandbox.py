"""The real ZendeskConnector against the Zendesk sandbox served on 127.0.0.1.

This checks both sides at once: the connector speaks the documented API, and the sandbox answers
and sends webhooks the way the connector (and so the bridge) expects from real Zendesk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask, Response, request

from bridge.errors import PermanentError, RateLimited
from bridge.models import Attachment, EventKind, NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.zendesk import ZendeskSandbox
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import REST

SECRET = "sandbox-signing-secret"


@dataclass
class Env:
    sandbox: ZendeskSandbox
    url: str
    bridge_id: int
    agent_id: int
    customer_id: int

    def connector(self, token: str = "bridge-token", attempts: int = 1) -> ZendeskConnector:
        settings = SystemSettings(
            name="helpdesk",
            type="zendesk",
            url=self.url,
            auth={"email": "bridge@acme.test", "token": token},
            webhook_secret=SECRET,
            bridge_user=str(self.bridge_id),
            timeout=5.0,
        )
        return ZendeskConnector(settings, http=REST.client(settings, attempts=attempts, wait_max=0))


class Clock:
    """The sandbox's clock, moved by the test: comments a minute apart, history made fast."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    # A test that asks for the clock gets a sandbox that keeps it.
    clock = request.getfixturevalue("clock") if "clock" in request.fixturenames else None
    sandbox = ZendeskSandbox(clock=clock)
    bridge_id = sandbox.add_user("Bridge", "bridge@acme.test", role="agent", token="bridge-token")
    agent_id = sandbox.add_user("Alice Agent", "alice@acme.test", role="agent", token="alice-tok")
    customer_id = sandbox.add_user("Jane Doe", "jane@example.com", token="enduser-tok")
    with BackgroundServer(sandbox.app) as url:
        yield Env(sandbox, url, bridge_id, agent_id, customer_id)
    sandbox.close()


@dataclass
class Receiver:
    """A webhook endpoint that answers with scripted status codes and keeps what it got."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hooks/zendesk")
        def hook() -> Response:
            with self.lock:
                self.received.append((dict(request.headers), request.get_data()))
                status = self.statuses.pop(0) if self.statuses else 202
            return Response("", status=status)

        return app


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    recv = Receiver()
    with BackgroundServer(recv.app()) as url:
        yield recv, f"{url}/hooks/zendesk"


# ------------------------------------------------------------------------------ API calls


def test_get_ticket_with_sideloaded_requester(env: Env) -> None:
    created = env.sandbox.create_ticket_as(
        env.customer_id,
        "VPN drops",
        "Every hour",
        custom_fields={360001: "A-1"},
        tags=("vpn",),
        priority="high",
    )
    ticket = env.connector().get_ticket(str(created["id"]))
    assert ticket.subject == "VPN drops"
    assert ticket.description == "Every hour"
    assert (ticket.status, ticket.priority) == ("new", "high")
    assert ticket.tags == ("vpn",)
    assert ticket.fields == {"360001": "A-1"}
    assert ticket.requester_email == "jane@example.com"
    assert ticket.created_at is not None and ticket.created_at.tzinfo is not None
    [get] = [e for e in env.sandbox.request_log if e["method"] == "GET"]
    assert get["query"] == {"include": "users"}
    assert get["user_id"] == env.bridge_id


def test_add_comment_public_and_private(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    conn = env.connector()
    note_id = conn.add_comment(str(tid), NewComment(body="internal", public=False))
    reply_id = conn.add_comment(str(tid), NewComment(body="public", public=True))
    stored = env.sandbox.comments(tid)
    assert [(str(c["id"]), c["public"], c["author_id"]) for c in stored[1:]] == [
        (note_id, False, env.bridge_id),
        (reply_id, True, env.bridge_id),
    ]
    listed = conn.list_comments(str(tid))
    assert [c.id for c in listed][-2:] == [note_id, reply_id]


def test_attachments_arrive_byte_for_byte(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    conn = env.connector()
    comment = NewComment(
        body="logs",
        public=False,
        attachments=(
            Attachment("a.log", "text/plain", content=b"line 1\n"),
            Attachment("b.bin", "application/octet-stream", content=bytes(range(256))),
        ),
    )
    comment_id = conn.add_comment(str(tid), comment)
    [listed] = [c for c in conn.list_comments(str(tid)) if c.id == comment_id]
    assert [(a.filename, a.content_type, a.size) for a in listed.attachments] == [
        ("a.log", "text/plain", 7),
        ("b.bin", "application/octet-stream", 256),
    ]
    stored = env.sandbox.comments(tid)[-1]["attachments"]
    assert env.sandbox.file_content(stored[1]["id"]) == bytes(range(256))


def test_update_writes_only_differences(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(
        env.customer_id, "S", "D", custom_fields={1: "x", 2: "y"}, priority="normal"
    )["id"]
    conn = env.connector()
    ticket = conn.update_ticket(
        str(tid),
        TicketChanges(
            status="open", priority="normal", external_id="M-7", fields={"1": "x", "2": "z"}
        ),
    )
    assert (ticket.status, ticket.external_id, ticket.fields["2"]) == ("open", "M-7", "z")
    [put] = [e for e in env.sandbox.request_log if e["method"] == "PUT"]
    assert put["json"] == {
        "ticket": {
            "status": "open",
            "external_id": "M-7",
            "custom_fields": [{"id": 2, "value": "z"}],
        }
    }
    # Applying the same changes again is a no-op: read only, nothing written.
    conn.update_ticket(str(tid), TicketChanges(status="open", external_id="M-7"))
    assert [e["method"] for e in env.sandbox.request_log].count("PUT") == 1


def test_create_ticket(env: Env) -> None:
    conn = env.connector()
    ticket = conn.create_ticket(
        TicketDraft(
            subject="From tracker",
            description="Details",
            priority="urgent",
            fields={"77": "v"},
            tags=("bridge",),
        )
    )
    stored = env.sandbox.ticket(ticket.ref.id)
    assert stored["subject"] == "From tracker"
    assert stored["priority"] == "urgent"
    assert stored["custom_fields"] == [{"id": 77, "value": "v"}]
    assert stored["tags"] == ["bridge"]
    [first] = env.sandbox.comments(ticket.ref.id)
    assert (first["body"], first["public"]) == ("Details", True)
    assert ticket.requester_email == "bridge@acme.test"


def test_comment_pagination_over_many_pages(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "first")["id"]
    for i in range(230):
        env.sandbox.update_ticket_as(env.agent_id, tid, comment=f"c{i}", public=i % 2 == 0)
    comments = env.connector().list_comments(str(tid))
    assert len(comments) == 231
    assert comments[0].body == "first"
    assert comments[-1].body == "c229"
    assert len({c.id for c in comments}) == 231
    pages = [e for e in env.sandbox.request_log if e["path"].endswith("/comments")]
    pages += [e for e in env.sandbox.request_log if e["path"].endswith("/comments.json")]
    assert len(pages) == 3


def _comment_reads(env: Env) -> list[dict[str, object]]:
    return [e for e in env.sandbox.request_log if "/comments" in str(e["path"])]


def test_a_read_since_a_time_pages_newest_first_and_stops(clock: Clock, env: Env) -> None:
    """However long the history, a read from a sync's cursor costs one small page."""
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "first")["id"]
    for i in range(230):
        clock.now += timedelta(minutes=1)
        env.sandbox.update_ticket_as(env.agent_id, tid, comment=f"c{i}", public=True)
    since = clock.now - timedelta(minutes=3)  # c227, c228 and c229 are newer
    newer = env.connector().list_comments(str(tid), since=since)
    assert [c.body for c in newer] == ["c227", "c228", "c229"]
    (read,) = _comment_reads(env)
    assert read["query"] == {"page[size]": "20", "include": "users", "sort": "-created_at"}

    # Further back than a page: the next links keep the order, and reading stops at `since`.
    before = len(_comment_reads(env))
    older = env.connector().list_comments(str(tid), since=clock.now - timedelta(minutes=45))
    assert [c.body for c in older] == [f"c{i}" for i in range(185, 230)]
    pages = _comment_reads(env)[before:]
    assert len(pages) == 3 and all(p["query"].get("sort") == "-created_at" for p in pages)


def test_recent_comments_read_one_page_when_the_caller_stops(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "first")["id"]
    for i in range(150):
        env.sandbox.update_ticket_as(env.agent_id, tid, comment=f"c{i}", public=True)
    recent = env.connector().recent_comments(str(tid))
    assert [next(recent).body, next(recent).body] == ["c149", "c148"]
    assert len(_comment_reads(env)) == 1
    assert [c.body for c in recent][-1] == "first"  # read on, it pages to the first one
    assert len(_comment_reads(env)) == 2


def test_errors_from_the_sandbox(env: Env) -> None:
    conn = env.connector()
    with pytest.raises(PermanentError) as missing:
        conn.get_ticket("4040")
    assert missing.value.status == 404
    assert "RecordNotFound" in str(missing.value)

    with pytest.raises(PermanentError) as denied:
        env.connector(token="wrong").get_ticket("1")
    assert denied.value.status == 401

    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    with pytest.raises(PermanentError) as invalid:
        conn.update_ticket(str(tid), TicketChanges(status="escalated"))
    assert invalid.value.status == 422
    assert "status" in str(invalid.value)
    assert env.sandbox.ticket(tid)["status"] == "new"


def test_end_users_cannot_use_the_api(env: Env) -> None:
    answer = requests.get(
        f"{env.url}/api/v2/users/{env.customer_id}.json",
        auth=("jane@example.com/token", "enduser-tok"),
        timeout=5,
    )
    assert answer.status_code == 401
    assert answer.json() == {"error": "Couldn't authenticate you"}


def test_json_suffix_and_closed_tickets(env: Env) -> None:
    tid = env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"]
    env.sandbox.update_ticket_as(env.agent_id, tid, status="closed")
    auth = ("alice@acme.test/token", "alice-tok")
    shown = requests.get(f"{env.url}/api/v2/tickets/{tid}.json", auth=auth, timeout=5)
    assert shown.json()["ticket"]["status"] == "closed"
    answer = requests.put(
        f"{env.url}/api/v2/tickets/{tid}.json",
        json={"ticket": {"status": "open"}},
        auth=auth,
        timeout=5,
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "RecordInvalid"
    assert "status" in answer.json()["details"]


def test_injected_faults(env: Env) -> None:
    tid = str(env.sandbox.create_ticket_as(env.customer_id, "S", "D")["id"])
    env.sandbox.fail_next(1, status=503)
    assert env.connector(attempts=2).get_ticket(tid).ref.id == tid

    env.sandbox.fail_next(1, status=429, retry_after=30)
    with pytest.raises(RateLimited) as info:
        env.connector(attempts=3).get_ticket(tid)
    assert info.value.retry_after == 30
    # 503 without Retry-After was retried inline; a 30 s Retry-After goes up to the job layer.
    assert [e["status"] for e in env.sandbox.request_log] == [503, 200, 429]


# ------------------------------------------------------------------------------- webhooks


def test_trigger_webhook_is_signed_and_skips_the_bridge_user(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    recv, hook_url = receiver
    env.sandbox.configure_webhook(hook_url, SECRET, exclude_user_id=env.bridge_id)
    conn = env.connector()

    tid = env.sandbox.create_ticket_as(env.customer_id, "Help", "Broken")["id"]
    conn.add_comment(str(tid), NewComment(body="from bridge", public=True))  # excluded
    env.sandbox.update_ticket_as(env.agent_id, tid, status="pending")
    assert env.sandbox.wait_for_deliveries(5)

    assert len(recv.received) == 2
    events = []
    for headers, body in recv.received:
        conn.verify_webhook(headers, body)
        events.extend(conn.parse_webhook(headers, body))
    assert [(e.ref.id, e.kind, e.actor_id) for e in events] == [
        (str(tid), EventKind.TICKET_CREATED, str(env.customer_id)),
        (str(tid), EventKind.TICKET_UPDATED, str(env.agent_id)),
    ]
    invocations = [d["invocation_id"] for d in env.sandbox.deliveries]
    assert [e.delivery_id for e in events] == invocations
    assert all(d["status_code"] == 202 for d in env.sandbox.deliveries)


def test_failed_delivery_is_retried_with_the_same_invocation_id(
    env: Env, receiver: tuple[Receiver, str]
) -> None:
    recv, hook_url = receiver
    recv.statuses = [500, 503]
    env.sandbox.configure_webhook(hook_url, SECRET)
    env.sandbox.create_ticket_as(env.customer_id, "Help", "Broken")
    assert env.sandbox.wait_for_deliveries(5)
    deliveries = env.sandbox.deliveries
    assert [d["status_code"] for d in deliveries] == [500, 503, 202]
    assert len({d["invocation_id"] for d in deliveries}) == 1
    conn = env.connector()
    parsed = {conn.parse_webhook(h, b)[0].delivery_id for h, b in recv.received}
    assert parsed == {deliveries[0]["invocation_id"]}


def test_unreachable_endpoint_is_recorded(env: Env) -> None:
    env.sandbox.configure_webhook("http://127.0.0.1:9/nowhere", SECRET)
    env.sandbox.create_ticket_as(env.customer_id, "Help", "Broken")
    assert env.sandbox.wait_for_deliveries(10)
    deliveries = env.sandbox.deliveries
    assert len(deliveries) == 3
    assert all(d["status_code"] is None and d["error"] for d in deliveries)


def test_event_subscription_style(env: Env, receiver: tuple[Receiver, str]) -> None:
    recv, hook_url = receiver
    env.sandbox.configure_webhook(hook_url, SECRET, style="event")
    tid = env.sandbox.create_ticket_as(env.customer_id, "Help", "Broken", priority="low")["id"]
    env.sandbox.update_ticket_as(
        env.agent_id, tid, status="open", priority="high", comment="On it", public=False
    )
    assert env.sandbox.wait_for_deliveries(5)
    conn = env.connector()
    events = []
    for headers, body in recv.received:
        conn.verify_webhook(headers, body)
        events.extend(conn.parse_webhook(headers, body))
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.TICKET_CREATED
    assert set(kinds[1:]) == {
        EventKind.STATUS_CHANGED,
        EventKind.PRIORITY_CHANGED,
        EventKind.COMMENT_ADDED,
    }
    by_kind = {e.kind: e for e in events}
    status = by_kind[EventKind.STATUS_CHANGED]
    assert (status.data["previous"], status.data["current"]) == ("new", "open")
    assert status.actor_id == str(env.agent_id)
    comment = by_kind[EventKind.COMMENT_ADDED]
    assert comment.data["is_public"] is False
    assert comment.data["comment_id"] == str(env.sandbox.comments(tid)[-1]["id"])
    # Each event-subscription webhook is its own invocation.
    assert len({e.delivery_id for e in events}) == len(events)
    raw = recv.received[1][1]
    assert b'"OPEN"' in raw or b'"HIGH"' in raw  # enums are UPPERCASE on the wire
