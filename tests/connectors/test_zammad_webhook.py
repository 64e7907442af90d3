"""Zammad trigger webhook verification and parsing, from raw bytes and headers as Zammad sends.

Payloads follow `TriggerWebhookJob::RecordPayload` (api-facts.md section 2.4): sorted keys,
`ticket.state` a name, `ticket.priority` and the user associations whole objects, `article`
an object or `{}` when the trigger fired without a new article.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.errors import PayloadError, SignatureError
from bridge.models import EventKind, SystemRef
from bridge.protocol import SystemSettings
from connectors.zammad import ZammadConnector
from connectors.zammad.webhook import compute_signature

SECRET = "zammad-signature-token"
DELIVERY = "5b3a5d0e-3b4c-4a5e-9a3c-0c3c3d2f1e0a"


def connector(secret: str | None = SECRET) -> ZammadConnector:
    settings = SystemSettings(
        name="vendor",
        type="zammad",
        url="https://zammad.vendor.example",
        auth={"token": "t0k"},
        webhook_secret=secret,
        bridge_user="5",
    )
    return ZammadConnector(settings)


def signed(body: bytes, secret: str = SECRET, delivery: str | None = DELIVERY) -> dict[str, str]:
    """Headers computed straight from lib/user_agent.rb's formula, not via the code under test."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Zammad User Agent",
        "X-Zammad-Trigger": "bridge: ticket changed",
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    }
    if delivery is not None:
        headers["X-Zammad-Delivery"] = delivery
    return headers


def user(user_id: int, first: str, last: str, email: str) -> dict[str, Any]:
    return {
        "active": True,
        "created_at": "2021-11-03T11:57:16.526Z",
        "email": email,
        "firstname": first,
        "id": user_id,
        "lastname": last,
        "login": email,
        "organization_id": None,
        "role_ids": [2],
        "updated_at": "2021-11-03T11:57:16.611Z",
    }


def payload(article: dict[str, Any] | None = None, **ticket_overrides: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {
        "article_count": 3,
        "article_ids": [30, 31, 32],
        "create_article_sender_id": 2,
        "created_at": "2021-11-08T14:17:41.913Z",
        "created_by": user(10, "David", "Bell", "david@example.com"),
        "created_by_id": 10,
        "customer": user(10, "David", "Bell", "david@example.com"),
        "customer_id": 10,
        "erp_ref": "A-1",
        "group": {"active": True, "id": 2, "name": "2nd Level"},
        "group_id": 2,
        "id": 19,
        "number": "22019",
        "organization": {},
        "organization_id": None,
        "owner": user(3, "Christopher", "Miller", "chris@chrispresso.com"),
        "owner_id": 3,
        "priority": {"active": True, "default_create": True, "id": 2, "name": "2 normal"},
        "priority_id": 2,
        "state": "open",
        "state_id": 2,
        "title": "Help me!",
        "updated_at": "2021-11-09T08:00:00.250Z",
        "updated_by": user(3, "Christopher", "Miller", "chris@chrispresso.com"),
        "updated_by_id": 3,
    }
    ticket.update(ticket_overrides)
    return {"article": {} if article is None else article, "ticket": dict(sorted(ticket.items()))}


def article(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "accounted_time": 0,
        "attachments": [
            {
                "filename": "trace.log",
                "id": 77,
                "preferences": {"Mime-Type": "text/plain"},
                "size": "1234",
                "url": "https://zammad.vendor.example/api/v1/ticket_attachment/19/32/77",
            }
        ],
        "body": "Fixed in build 4711.",
        "content_type": "text/plain",
        "created_at": "2021-11-09T08:00:00.201Z",
        "created_by": user(3, "Christopher", "Miller", "chris@chrispresso.com"),
        "created_by_id": 3,
        "id": 32,
        "internal": False,
        "origin_by_id": None,
        "sender": "Agent",
        "ticket_id": 19,
        "type": "note",
    }
    data.update(overrides)
    return data


def encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# ----------------------------------------------------------------------------- signatures


def test_valid_signature_passes_with_any_header_case() -> None:
    body = encode(payload())
    conn = connector()
    conn.verify_webhook(signed(body), body)
    conn.verify_webhook({k.lower(): v for k, v in signed(body).items()}, body)
    conn.verify_webhook({k.upper(): v for k, v in signed(body).items()}, body)


def test_compute_signature_matches_hmac_sha1_hex() -> None:
    assert compute_signature("key", b"{}") == "sha1=" + hmac.new(b"key", b"{}", "sha1").hexdigest()


def test_tampered_body_is_refused() -> None:
    body = encode(payload())
    with pytest.raises(SignatureError, match="x-hub-signature does not match"):
        connector().verify_webhook(signed(body), body.replace(b"open", b"closed"))


def test_wrong_secret_is_refused() -> None:
    body = encode(payload())
    with pytest.raises(SignatureError, match="does not match"):
        connector().verify_webhook(signed(body, secret="other"), body)


def test_missing_signature_header_is_named() -> None:
    body = encode(payload())
    headers = signed(body)
    del headers["X-Hub-Signature"]
    with pytest.raises(SignatureError, match="missing header x-hub-signature"):
        connector().verify_webhook(headers, body)


def test_missing_secret_refuses_everything() -> None:
    body = encode(payload())
    with pytest.raises(SignatureError, match="no webhook_secret configured"):
        connector(secret=None).verify_webhook(signed(body), body)


def test_signature_error_answers_401() -> None:
    assert SignatureError.http_status == 401
    assert PayloadError.http_status == 400


# -------------------------------------------------------------------------------- parsing


def test_article_payload_is_a_comment_by_the_article_author() -> None:
    body = encode(payload(article()))
    [event] = connector().parse_webhook(signed(body), body)
    assert event.ref == SystemRef("vendor", "19")
    assert event.kind is EventKind.COMMENT_ADDED
    assert event.delivery_id == DELIVERY
    assert event.actor_id == "3"
    assert event.occurred_at == datetime(2021, 11, 9, 8, 0, 0, 250000, tzinfo=UTC)
    assert event.data == {
        "status": "open",
        "priority": "2 normal",
        "article_id": "32",
        "internal": False,
        "trigger": "bridge: ticket changed",
    }


def test_origin_by_id_wins_over_the_api_user() -> None:
    body = encode(payload(article(origin_by_id=10, internal=True)))
    [event] = connector().parse_webhook(signed(body), body)
    assert event.actor_id == "10"
    assert event.data["internal"] is True


def test_pure_state_change_has_no_actor_because_the_payload_is_rendered_late() -> None:
    body = encode(payload(None, state="closed", updated_by_id=7))
    [event] = connector().parse_webhook(signed(body), body)
    assert event.kind is EventKind.TICKET_UPDATED
    assert event.actor_id is None  # never dropped as echo: the job re-reads instead
    assert event.data["last_updated_by"] == "7"
    assert event.data["status"] == "closed"
    assert "article_id" not in event.data


def test_null_article_is_treated_like_an_empty_one() -> None:
    data = payload()
    data["article"] = None
    body = encode(data)
    [event] = connector().parse_webhook(signed(body), body)
    assert event.kind is EventKind.TICKET_UPDATED


@pytest.mark.parametrize(
    ("ticket", "article_id", "kind"),
    [
        # The payload's article is the ticket's first: the trigger ran for the creation, even
        # when the job rendered the ticket later (more articles, newer updated_at).
        ({}, 30, EventKind.TICKET_CREATED),
        ({"article_ids": [], "article_count": 1}, 30, EventKind.TICKET_CREATED),
        ({"article_ids": [], "article_count": 2}, 30, EventKind.COMMENT_ADDED),
        ({}, 32, EventKind.COMMENT_ADDED),
        ({"article_count": 0, "article_ids": []}, None, EventKind.TICKET_CREATED),
        ({"updated_at": "2021-11-08T14:17:41.913Z"}, None, EventKind.TICKET_CREATED),
        ({}, None, EventKind.TICKET_UPDATED),
    ],
)
def test_created_is_recognised(
    ticket: dict[str, Any], article_id: int | None, kind: EventKind
) -> None:
    body = encode(payload(article(id=article_id) if article_id else None, **ticket))
    [event] = connector().parse_webhook(signed(body), body)
    assert event.kind is kind


def test_string_ids_from_custom_payloads_are_accepted() -> None:
    body = encode({"ticket": {"id": " 19 ", "updated_by_id": "3"}, "article": {}})
    [event] = connector().parse_webhook({}, body)
    assert event.ref.id == "19"
    assert event.data["last_updated_by"] == "3"


def test_actor_falls_back_to_the_association_object() -> None:
    data = payload()
    del data["ticket"]["updated_by_id"]
    body = encode(data)
    [event] = connector().parse_webhook({}, body)
    assert event.data["last_updated_by"] == "3"


def test_missing_delivery_header_falls_back_to_body_hash() -> None:
    body = encode(payload())
    [event] = connector().parse_webhook(signed(body, delivery=None), body)
    assert event.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "body is empty"),
        (b"{not json", "not valid JSON"),
        (b'{"a": "\xc3\x28"}', "not valid UTF-8"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"article": {}}', "no ticket"),
        (b'{"ticket": {}, "article": {}}', "no ticket"),
        (b'{"ticket": {"title": "x"}}', "ticket has no id"),
        (b'{"ticket": {"id": "19a"}}', 'ticket.id "19a" is not a number'),
        (b'{"ticket": {"id": true}}', "is not a number"),
        (b'{"ticket": {"id": null}}', "is not a number"),
        (b'{"ticket": {"id": 19}, "article": "text"}', "article must be an object"),
    ],
)
def test_malformed_payloads_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        connector().parse_webhook({}, body)


def test_unreadable_time_is_only_a_missing_hint() -> None:
    body = encode(payload(None, updated_at="yesterday"))
    [event] = connector().parse_webhook({}, body)
    assert event.occurred_at is None
