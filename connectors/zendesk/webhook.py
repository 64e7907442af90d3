"""Zendesk webhook signature checks and payload parsing, as pure functions.

Kept free of HTTP and of the connector object so the web layer's hot path (verify, parse, dedupe,
enqueue) is cheap, and so every malformed-input case can be tested from bytes alone.

Zendesk sends two styles of webhook (api-facts.md section 1.4): event subscriptions with a fixed
payload (`type: zen:event-type:ticket.*`, UPPERCASE enums, string ids) and trigger/automation
webhooks whose JSON body is whatever template the admin wrote. Both are only hints: jobs re-read
the ticket, so the parsers extract ids, actor and kind and leave the rest to the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.errors import PayloadError, SignatureError
from bridge.models import Event, EventKind, SystemRef
from connectors.common import (
    TimeOutOfRange,
    hint_time,
    load_body,
    normalise_headers,
    optional_flag,
    optional_id,
    whole_id,
)
from connectors.common import parse_utc as parse_time

SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
INVOCATION_HEADER = "x-zendesk-webhook-invocation-id"

# Replay window: a captured request is useless after this long, and honest clocks agree to well
# within it. Five minutes is what the Zendesk docs and most verifiers use.
MAX_SKEW = timedelta(minutes=5)

EVENT_TYPE_PREFIX = "zen:event-type:"
TICKET_EVENT_PREFIX = "zen:event-type:ticket."
SUBJECT_PREFIX = "zen:ticket:"

_EVENT_KINDS: dict[str, EventKind] = {
    "created": EventKind.TICKET_CREATED,
    "comment_added": EventKind.COMMENT_ADDED,
    "status_changed": EventKind.STATUS_CHANGED,
    "priority_changed": EventKind.PRIORITY_CHANGED,
}
_CREATED_MARKERS = frozenset({"created", "ticket_created"})


def compute_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), the formula of Zendesk's current docs.

    The secret is used as its UTF-8 text (not base64-decoded) and the body as the raw bytes
    received: re-serialising the JSON would change the bytes and break the signature.
    """
    digest = hmac.new(secret.encode(), timestamp.encode() + raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    headers: Mapping[str, str],
    raw_body: bytes,
    secret: str | None,
    now: datetime,
    system: str = "zendesk",
) -> None:
    """Raise SignatureError unless the request carries a fresh, valid Zendesk signature.

    The timestamp is part of the signed message, so checking its age after the HMAC blocks
    replays of captured requests; the comparison is constant-time.
    """
    if not secret:
        raise SignatureError(
            f"system {system!r} has no webhook_secret configured; refusing unsigned webhooks"
        )
    lowered = normalise_headers(headers)
    signature = lowered.get(SIGNATURE_HEADER)
    if not signature:
        raise SignatureError(f"missing header {SIGNATURE_HEADER}")
    timestamp = lowered.get(TIMESTAMP_HEADER)
    if not timestamp:
        raise SignatureError(f"missing header {TIMESTAMP_HEADER}")
    expected = compute_signature(secret, timestamp, raw_body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")
    try:
        signed_at = parse_time(timestamp)
    except TimeOutOfRange as exc:
        raise SignatureError(f"{TIMESTAMP_HEADER} {timestamp!r} is out of range: {exc}") from exc
    except ValueError:
        signed_at = None
    if signed_at is None:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not an ISO-8601 time: {timestamp!r}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    skew = now - signed_at
    if abs(skew) > MAX_SKEW:
        direction = "old" if skew > timedelta(0) else "in the future"
        raise SignatureError(
            f"stale signature: timestamp {timestamp} is {abs(skew)} {direction} "
            f"(allowed {MAX_SKEW})"
        )


def delivery_id(headers: Mapping[str, str], payload: Any, raw_body: bytes) -> str:
    """The idempotency key for deduplication.

    Zendesk's invocation id is shared by all retries of one delivery, so it is the best key. An
    event-subscription payload's `id` (event UUID) is next. Without either, a hash of the raw
    body is the best remaining key: a retried trigger delivery resends an identical body, while a
    later real change renders a different body (another updated_at or actor).
    """
    invocation = normalise_headers(headers).get(INVOCATION_HEADER, "").strip()
    if invocation:
        return invocation
    if isinstance(payload, Mapping) and _is_event_subscription(payload):
        event_id = payload.get("id")
        if isinstance(event_id, str) and event_id.strip():
            return event_id.strip()
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


def parse_events(headers: Mapping[str, str], raw_body: bytes, system: str) -> list[Event]:
    """Turn one verified Zendesk webhook into neutral events (possibly none).

    Non-ticket event-subscription types (user, organization, ...) give [] rather than an error:
    the sender is configured correctly, we just have nothing to do with them.
    """
    payload = load_body(raw_body)
    delivery = delivery_id(headers, payload, raw_body)
    if _is_event_subscription(payload):
        return _parse_event_subscription(payload, system, delivery)
    return [_parse_trigger(payload, system, delivery)]


def _is_event_subscription(payload: Mapping[str, Any]) -> bool:
    kind = payload.get("type")
    return isinstance(kind, str) and kind.startswith(EVENT_TYPE_PREFIX)


def _lower(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _parse_event_subscription(
    payload: Mapping[str, Any], system: str, delivery: str
) -> list[Event]:
    event_type = str(payload["type"])
    if not event_type.startswith(TICKET_EVENT_PREFIX):
        return []
    name = event_type[len(TICKET_EVENT_PREFIX) :]
    detail = payload.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    event = payload.get("event")
    event = event if isinstance(event, Mapping) else {}

    raw_id, field = detail.get("id"), "detail.id"
    if raw_id is None or raw_id == "":
        subject = payload.get("subject")
        if isinstance(subject, str) and subject.startswith(SUBJECT_PREFIX):
            raw_id, field = subject[len(SUBJECT_PREFIX) :], "subject"
    if raw_id is None or raw_id == "":
        raise PayloadError(
            "no ticket id: expected ticket_id, ticket.id, detail.id or subject zen:ticket:<id>"
        )
    ticket_id = whole_id(raw_id, field)

    data: dict[str, Any] = {"event_type": name}
    for key in ("status", "priority"):
        value = _lower(detail.get(key))
        if value is not None:
            data[key] = value
    if name in ("status_changed", "priority_changed"):
        for key in ("previous", "current"):
            value = _lower(event.get(key))
            if value is not None:
                data[key] = value
    actor = optional_id(detail.get("actor_id"), "detail.actor_id")
    if name == "comment_added":
        comment = event.get("comment")
        if isinstance(comment, Mapping):
            if comment.get("id") is not None:
                data["comment_id"] = whole_id(comment["id"], "event.comment.id")
            if "is_public" in comment:
                data["is_public"] = optional_flag(comment["is_public"], "event.comment.is_public")
            author = comment.get("author")
            if actor is None and isinstance(author, Mapping):
                actor = optional_id(author.get("id"), "event.comment.author.id")
    return [
        Event(
            ref=SystemRef(system, ticket_id),
            kind=_EVENT_KINDS.get(name, EventKind.TICKET_UPDATED),
            delivery_id=delivery,
            actor_id=actor,
            occurred_at=hint_time(payload.get("time"), "time"),
            data=data,
        )
    ]


def _parse_trigger(payload: Mapping[str, Any], system: str, delivery: str) -> Event:
    nested = payload.get("ticket")
    raw_id: Any = payload.get("ticket_id")
    field = "ticket_id"
    if raw_id is None and isinstance(nested, Mapping):
        raw_id, field = nested.get("id"), "ticket.id"
    if raw_id is None:
        raw_id, field = payload.get("id"), "id"
    if raw_id is None or raw_id == "":
        raise PayloadError(
            "no ticket id: expected ticket_id, ticket.id, detail.id or subject zen:ticket:<id>"
        )
    ticket_id = whole_id(raw_id, field)

    marker = _lower(payload.get("event")) or _lower(payload.get("kind"))
    kind = EventKind.TICKET_CREATED if marker in _CREATED_MARKERS else EventKind.TICKET_UPDATED
    actor = optional_id(payload.get("current_user_id"), "current_user_id")
    if actor is None:
        actor = optional_id(payload.get("actor_id"), "actor_id")
    data: dict[str, Any] = {}
    if marker is not None:
        data["event"] = marker
    for key in ("status", "priority"):
        value = _lower(payload.get(key))
        if value is not None:
            data[key] = value
    if payload.get("updated_at") not in (None, ""):
        data["updated_at"] = str(payload["updated_at"])
    return Event(
        ref=SystemRef(system, ticket_id),
        kind=kind,
        delivery_id=delivery,
        actor_id=actor,
        occurred_at=hint_time(payload.get("updated_at"), "updated_at"),
        data=data,
    )
