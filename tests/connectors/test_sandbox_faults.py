"""The sandboxes' fault modes the fault run injects: trickled answers, a pair whose notes are
refused for good, and a webhook sender that retries patiently after a 503.

The trickle itself is checked with an injected sleep (no test waits on the wall clock); that
the bridge's total deadline cuts such an answer is the transport suite's job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, Response, request

from bridge.errors import PermanentError
from bridge.models import NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from bridge.sandbox.faults import trickle
from bridge.sandbox.mantis import MantisSandbox
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.zendesk import ZendeskSandbox
from bridge.sandbox.zendesk.webhooks import Patience
from connectors.mantis import MantisConnector
from connectors.mantis.client import REST

TOKEN = "bridge-token"


def test_trickle_sends_the_whole_body_a_byte_per_wait() -> None:
    waits: list[float] = []
    response = trickle(Response(b'{"ok": 1}', content_type="application/json"), 0.3, waits.append)
    chunks = list(response.response)
    assert chunks == [bytes([b]) for b in b'{"ok": 1}']
    assert waits == [0.3] * len(chunks)
    assert response.headers["Content-Length"] == "9"


def test_trickle_sends_the_rest_at_once_past_its_limit() -> None:
    waits: list[float] = []
    response = trickle(Response(b"abcdefgh"), 0.5, waits.append, limit=1.5)
    assert list(response.response) == [b"a", b"b", b"c", b"defgh"]
    assert sum(waits) == 1.5


def test_zendesk_trickles_only_the_next_answers() -> None:
    sandbox = ZendeskSandbox()
    sandbox.add_user("Bridge", "bridge@acme.test", role="agent", token=TOKEN)
    customer = sandbox.add_user("Jane", "jane@example.com")
    ticket = sandbox.create_ticket_as(customer, "Down", "Checkout fails")
    client = sandbox.app.test_client()
    auth = ("bridge@acme.test/token", TOKEN)
    path = f"/api/v2/tickets/{ticket['id']}.json"
    sandbox.trickle_next(1, every=0.0)
    slow = client.get(path, auth=auth, buffered=False)
    chunks = list(slow.response)
    assert len(chunks) > 1 and all(len(c) == 1 for c in chunks)
    assert slow.status_code == 200 and b"".join(chunks).startswith(b"{")
    fast = client.get(path, auth=auth, buffered=False)
    assert len(list(fast.response)) == 1


@dataclass
class Mantis:
    sandbox: MantisSandbox
    connector: MantisConnector


@pytest.fixture
def mantis() -> Iterator[Mantis]:
    sandbox = MantisSandbox()
    bridge = sandbox.add_user("bridge", TOKEN, email="bridge@customer.example")
    sandbox.add_project("Billing")
    with BackgroundServer(sandbox.app) as url:
        settings = SystemSettings(
            name="vendor", type="mantis", url=url, auth={"token": TOKEN},
            bridge_user=str(bridge), options={"project": "Billing", "category": "General"},
        )  # fmt: skip
        yield Mantis(sandbox, MantisConnector(settings, REST.client(settings, 1, 0)))


def test_mantis_trickles_the_next_answer_then_answers_normally(mantis: Mantis) -> None:
    mantis.sandbox.trickle_next(1, every=0.0)
    client = mantis.sandbox.app.test_client()
    slow = client.get("/api/rest/users/me", headers={"Authorization": TOKEN}, buffered=False)
    assert slow.status_code == 200 and all(len(c) == 1 for c in slow.response)
    fast = client.get("/api/rest/users/me", headers={"Authorization": TOKEN}, buffered=False)
    assert len(list(fast.response)) == 1


def test_refused_notes_are_a_permanent_403_for_that_issue_only(mantis: Mantis) -> None:
    refused = mantis.connector.create_ticket(TicketDraft("Refused", "text", category="General"))
    other = mantis.connector.create_ticket(TicketDraft("Other", "text", category="General"))
    mantis.sandbox.refuse_notes(int(refused.ref.id))

    with pytest.raises(PermanentError) as caught:
        mantis.connector.add_comment(refused.ref.id, NewComment("hello", public=True))
    assert caught.value.status == 403
    assert mantis.sandbox.issue(int(refused.ref.id)).get("notes", []) == []
    mantis.connector.add_comment(other.ref.id, NewComment("hello", public=True))
    mantis.connector.update_ticket(refused.ref.id, TicketChanges(priority="urgent"))
    assert mantis.sandbox.issue(int(refused.ref.id))["priority"]["name"] == "urgent"


def test_patience_waits_what_retry_after_says_within_its_limit() -> None:
    patience = Patience(attempts=5, longest_wait=40.0)
    assert patience.wait(1, "30") == 30.0
    assert patience.wait(1, "600") == 40.0
    assert patience.wait(3, None) == 8.0
    assert patience.wait(2, "soon") == 4.0


@dataclass
class Receiver:
    """Answers with scripted statuses (and Retry-After: 0), keeping the invocation ids."""

    statuses: list[int] = field(default_factory=list)
    invocations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hook")
        def hook() -> Response:
            with self.lock:
                self.invocations.append(request.headers["X-Zendesk-Webhook-Invocation-Id"])
                status = self.statuses.pop(0) if self.statuses else 202
            return Response("", status=status, headers={"Retry-After": "0"})

        return app


def test_a_patient_sender_redelivers_after_503_with_the_same_invocation_id() -> None:
    receiver = Receiver(statuses=[503, 503, 503, 503])
    sandbox = ZendeskSandbox()
    customer = sandbox.add_user("Jane", "jane@example.com")
    with BackgroundServer(receiver.app()) as url:
        sandbox.configure_webhook(f"{url}/hook", "secret")
        sandbox.set_delivery_patience(Patience(attempts=6, longest_wait=0.0))
        sandbox.create_ticket_as(customer, "Down", "Checkout fails")
        assert sandbox.wait_for_deliveries(10.0)
    sandbox.close()
    assert len(receiver.invocations) == 5 and len(set(receiver.invocations)) == 1
    assert [d["status_code"] for d in sandbox.deliveries] == [503, 503, 503, 503, 202]
    assert [d["attempt"] for d in sandbox.deliveries] == [1, 2, 3, 4, 5]


def test_without_patience_the_sender_gives_up_after_three_quick_tries() -> None:
    receiver = Receiver(statuses=[503, 503, 503, 503])
    sandbox = ZendeskSandbox()
    customer = sandbox.add_user("Jane", "jane@example.com")
    with BackgroundServer(receiver.app()) as url:
        sandbox.configure_webhook(f"{url}/hook", "secret")
        sandbox.create_ticket_as(customer, "Down", "Checkout fails")
        assert sandbox.wait_for_deliveries(10.0)
    sandbox.close()
    assert [d["status_code"] for d in sandbox.deliveries] == [503, 503, 503]
