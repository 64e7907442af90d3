"""Zendesk webhook verification and parsing, from raw bytes and headers as Zendesk sends them.

Payloads follow api-facts.md section 1.4: event subscriptions (UPPERCASE enums, string ids) and
trigger bodies rendered from the JSON template the README recommends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.errors import PayloadError, SignatureError
from bridge.models import EventKind, SystemRef
from bridge.protocol import SystemSettings
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.webhook import compute_signature, parse_time

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
NOW = datetime(2021, 3, 25, 5, 9, 27, tzinfo=UTC)
STAMP = "2021-03-25T05:09:27Z"


def connector(secret: str | None = SECRET, now: datetime = NOW) -> ZendeskConnector:
    settings = SystemSettings(
        name="helpdesk",
        type="zendesk",
        url="https://acme.zendesk.com",
        auth={"email": "bridge@acme.test", "token": "t0k"},
        webhook_secret=secret,
        bridge_user="900",
    )
    return ZendeskConnector(settings, clock=lambda: now)


def signed(body: bytes, timestamp: str = STAMP, secret: str = SECRET) -> dict[str, str]:
    """Headers computed straight from the documented formula, not via the code under test."""
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "X-Zendesk-Webhook-Invocation-Id": "8350205",
        "Content-Type": "application/json",
    }


def event_payload(kind: str, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "account_id": 22129848,
        "id": "cbe4028c-7239-495d-b020-f22348516046",
        "time": "2025-01-08T10:12:07.672717030Z",
        "type": f"zen:event-type:ticket.{kind}",
        "zendesk_event_version": "2022-11-06",
        "subject": "zen:ticket:5158",
        "detail": {
            "id": "5158",
            "actor_id": "8447388090494",
            "status": "SOLVED",
            "priority": "HIGH",
            "type": "PROBLEM",
            "requester_id": "8447388090495",
            "tags": [],
            "via": {"channel": "web_service"},
        },
        "event": {},
    }
    payload.update(extra)
    return payload


# ----------------------------------------------------------------------------- signatures


def test_valid_signature_passes_with_any_header_case() -> None:
    body = b'{"ticket_id": "42"}'
    headers = {k.lower(): v for k, v in signed(body).items()}
    connector().verify_webhook(headers, body)
    connector().verify_webhook(signed(body), body)
    upper = {k.upper(): v for k, v in signed(body).items()}
    connector().verify_webhook(upper, body)


def test_compute_signature_matches_documented_formula() -> None:
    body = b'{"say": "hello"}'
    mac = hmac.new(b"secret", b"2021-07-25T10:00:00Z" + body, hashlib.sha256).digest()
    assert compute_signature("secret", "2021-07-25T10:00:00Z", body) == base64.b64encode(
        mac
    ).decode("ascii")


def test_tampered_body_is_rejected() -> None:
    body = b'{"ticket_id": "42"}'
    headers = signed(body)
    with pytest.raises(SignatureError, match="does not match"):
        connector().verify_webhook(headers, b'{"ticket_id": "43"}')


def test_wrong_secret_is_rejected() -> None:
    body = b'{"ticket_id": "42"}'
    with pytest.raises(SignatureError):
        connector().verify_webhook(signed(body, secret="other"), body)


def test_body_then_timestamp_order_is_rejected() -> None:
    body = b'{"ticket_id": "42"}'
    mac = hmac.new(SECRET.encode(), body + STAMP.encode(), hashlib.sha256).digest()
    headers = signed(body)
    headers["X-Zendesk-Webhook-Signature"] = base64.b64encode(mac).decode()
    with pytest.raises(SignatureError):
        connector().verify_webhook(headers, body)


def test_missing_secret_in_settings() -> None:
    body = b"{}"
    with pytest.raises(SignatureError, match="no webhook_secret configured") as info:
        connector(secret=None).verify_webhook(signed(body), body)
    assert "helpdesk" in str(info.value)
    assert info.value.http_status == 401


@pytest.mark.parametrize(
    "missing", ["X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp"]
)
def test_missing_header_is_named(missing: str) -> None:
    body = b"{}"
    headers = signed(body)
    del headers[missing]
    with pytest.raises(SignatureError, match=missing.lower()):
        connector().verify_webhook(headers, body)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(hours=3), False),
    ],
)
def test_timestamp_window(offset: timedelta, ok: bool) -> None:
    body = b'{"ticket_id": "1"}'
    conn = connector(now=NOW + offset)
    if ok:
        conn.verify_webhook(signed(body), body)
    else:
        with pytest.raises(SignatureError, match="stale"):
            conn.verify_webhook(signed(body), body)


def test_unparseable_timestamp_is_rejected() -> None:
    body = b"{}"
    headers = signed(body, timestamp="yesterday")
    with pytest.raises(SignatureError, match="ISO-8601"):
        connector().verify_webhook(headers, body)


# ------------------------------------------------------------------- event subscriptions


def parse(payload: Any, headers: dict[str, str] | None = None) -> list[Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return connector().parse_webhook(headers or {}, body)


def test_status_changed_event() -> None:
    payload = event_payload("status_changed", event={"previous": "OPEN", "current": "SOLVED"})
    [event] = parse(payload, {"X-Zendesk-Webhook-Invocation-Id": "inv-1"})
    assert event.ref == SystemRef("helpdesk", "5158")
    assert event.kind is EventKind.STATUS_CHANGED
    assert event.actor_id == "8447388090494"
    assert event.delivery_id == "inv-1"
    assert event.occurred_at == datetime(2025, 1, 8, 10, 12, 7, 672717, tzinfo=UTC)
    assert event.data["status"] == "solved"
    assert event.data["priority"] == "high"
    assert event.data["previous"] == "open"
    assert event.data["current"] == "solved"


def test_comment_added_event_carries_comment_id_and_visibility() -> None:
    comment = {
        "id": "99001",
        "body": "It still crashes",
        "is_public": False,
        "author": {"id": "8447388090494", "is_staff": True, "name": "Agent"},
    }
    [event] = parse(event_payload("comment_added", event={"comment": comment}))
    assert event.kind is EventKind.COMMENT_ADDED
    assert event.data["comment_id"] == "99001"
    assert event.data["is_public"] is False


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("created", EventKind.TICKET_CREATED),
        ("priority_changed", EventKind.PRIORITY_CHANGED),
        ("custom_field_changed", EventKind.TICKET_UPDATED),
        ("tags_changed", EventKind.TICKET_UPDATED),
    ],
)
def test_event_kinds(kind: str, expected: EventKind) -> None:
    [event] = parse(event_payload(kind))
    assert event.kind is expected
    assert event.data["event_type"] == kind


def test_event_id_is_delivery_id_without_invocation_header() -> None:
    [event] = parse(event_payload("created"))
    assert event.delivery_id == "cbe4028c-7239-495d-b020-f22348516046"


def test_ticket_id_from_subject_when_detail_has_none() -> None:
    payload = event_payload("created")
    del payload["detail"]["id"]
    [event] = parse(payload)
    assert event.ref.id == "5158"


def test_non_ticket_events_are_ignored() -> None:
    payload = {"type": "zen:event-type:user.created", "id": "x", "detail": {"id": "7"}}
    assert parse(payload) == []


def test_event_without_ticket_id() -> None:
    payload = event_payload("created")
    del payload["detail"]["id"]
    del payload["subject"]
    with pytest.raises(PayloadError, match=r"no ticket id: expected ticket_id, ticket\.id"):
        parse(payload)


# ------------------------------------------------------------------------ trigger style


def test_trigger_body_with_string_ids() -> None:
    body = {
        "ticket_id": "42",
        "current_user_id": "361000001",
        "event": "ticket_updated",
        "updated_at": "2021-03-25T05:09:20Z",
    }
    [event] = parse(body, {"x-zendesk-webhook-invocation-id": "inv-9"})
    assert event.ref == SystemRef("helpdesk", "42")
    assert event.kind is EventKind.TICKET_UPDATED
    assert event.actor_id == "361000001"
    assert event.delivery_id == "inv-9"
    assert event.occurred_at == datetime(2021, 3, 25, 5, 9, 20, tzinfo=UTC)


@pytest.mark.parametrize("marker", [{"event": "ticket_created"}, {"kind": "Created"}])
def test_trigger_created_marker(marker: dict[str, str]) -> None:
    [event] = parse({"ticket_id": 7, **marker})
    assert event.kind is EventKind.TICKET_CREATED


def test_trigger_status_placeholder_is_a_hint_not_a_kind() -> None:
    [event] = parse({"ticket_id": "7", "event": "Open", "actor_id": 5})
    assert event.kind is EventKind.TICKET_UPDATED
    assert event.actor_id == "5"
    assert event.data["event"] == "open"


@pytest.mark.parametrize("body", [{"ticket": {"id": "12"}}, {"id": 12}, {"ticket_id": " 12 "}])
def test_trigger_ticket_id_variants(body: dict[str, Any]) -> None:
    [event] = parse(body)
    assert event.ref.id == "12"


def test_trigger_human_updated_at_is_tolerated() -> None:
    [event] = parse({"ticket_id": "12", "updated_at": "March 25, 2021 05:09"})
    assert event.occurred_at is None
    assert event.data["updated_at"] == "March 25, 2021 05:09"


def test_delivery_id_falls_back_to_body_hash() -> None:
    raw = b'{"ticket_id": "12", "current_user_id": "3"}'
    [first] = parse(raw)
    [again] = parse(raw)
    [other] = parse(b'{"ticket_id": "12", "current_user_id": "4"}')
    assert first.delivery_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert again.delivery_id == first.delivery_id
    assert other.delivery_id != first.delivery_id


def test_trigger_id_is_not_used_as_delivery_id() -> None:
    [event] = parse({"id": "12"})
    assert event.delivery_id is not None
    assert event.delivery_id.startswith("sha256:")


# ---------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "body is empty"),
        (b"not json", "body is not valid JSON: Expecting value at line 1 column 1"),
        (b'{"ticket_id": ', "body is not valid JSON: Expecting value at line 1 column 15"),
        (b"[1, 2]", "body must be a JSON object, got list"),
        (b"\xff\xfe\x00", "body is not valid"),
        (b'{"event": "ticket_updated"}', "no ticket id: expected ticket_id, ticket.id, detail.id"),
        (b'{"ticket_id": "abc"}', 'ticket_id "abc" is not a number'),
        (b'{"ticket_id": "{{ticket.id}}"}', 'ticket_id "{{ticket.id}}" is not a number'),
        (b'{"ticket_id": true}', "is not a number"),
    ],
)
def test_malformed_bodies(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(raw)
    assert message in str(info.value)
    assert info.value.http_status == 400


def test_event_with_non_numeric_id() -> None:
    payload = event_payload("created")
    payload["detail"]["id"] = "abc"
    with pytest.raises(PayloadError, match=r'detail\.id "abc" is not a number'):
        parse(payload)


def test_parse_time_normalises_to_utc() -> None:
    assert parse_time("2021-03-25T07:09:27+02:00") == NOW
    assert parse_time("2021-03-25T05:09:27") == NOW
    assert parse_time(None) is None
