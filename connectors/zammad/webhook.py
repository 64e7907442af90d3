"""Zammad trigger-webhook signature checks and payload parsing, as pure functions.

Kept free of HTTP and of the connector object so the web layer's hot path (verify, parse, dedupe,
enqueue) is cheap, and so every malformed-input case can be tested from bytes alone.

Zammad posts the default trigger payload `{"ticket": {...}, "article": {...} | {}}` built by
`TriggerWebhookJob::RecordPayload` (api-facts.md section 2.4): keys sorted, `ticket.state` a
name, `ticket.priority`/`customer`/`updated_by`/... replaced by whole objects, `article` empty
when the trigger fired without a new article. The payload is only a hint: jobs re-read the
ticket, so the parser extracts the id, the actor, the kind and a few names for the sync log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from bridge.errors import PayloadError, SignatureError
from bridge.models import Event, EventKind, SystemRef
from connectors.common import (
    hint_time,
    load_body,
    normalise_headers,
    optional_flag,
    shown,
    whole_id,
)
from connectors.common import optional_id as any_id

SIGNATURE_HEADER = "x-hub-signature"
DELIVERY_HEADER = "x-zammad-delivery"
TRIGGER_HEADER = "x-zammad-trigger"
SIGNATURE_PREFIX = "sha1="


def compute_signature(secret: str, raw_body: bytes) -> str:
    """`sha1=` + lowercase hex HMAC-SHA1(secret, raw body), as `lib/user_agent.rb` signs.

    No timestamp is part of the message (so there is no replay window to check); the body must
    be the bytes received, since re-serialising the JSON would change them.
    """
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha1).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(
    headers: Mapping[str, str], raw_body: bytes, secret: str | None, system: str = "zammad"
) -> None:
    """Raise SignatureError unless `X-Hub-Signature` matches the body; constant-time compare.

    Replays of a captured request cannot be refused by time (Zammad signs no timestamp); they
    carry the original `X-Zammad-Delivery` id, which the web layer's dedupe drops.
    """
    if not secret:
        raise SignatureError(
            f"system {system!r} has no webhook_secret configured; refusing unsigned webhooks "
            "(set the webhook's signature token in Zammad and the same webhook_secret here)"
        )
    signature = normalise_headers(headers).get(SIGNATURE_HEADER, "").strip()
    if not signature:
        raise SignatureError(
            f"missing header {SIGNATURE_HEADER} (is a signature token set on the Zammad webhook?)"
        )
    expected = compute_signature(secret, raw_body)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def delivery_id(headers: Mapping[str, str], raw_body: bytes) -> str:
    """The idempotency key for deduplication.

    `X-Zammad-Delivery` is the ActiveJob id, kept across the job's retries, so it is the right
    key. A proxy that strips it leaves the body hash: a retry resends the identical body, while
    a later change renders a different one (another `updated_at`, another article).
    """
    delivery = normalise_headers(headers).get(DELIVERY_HEADER, "").strip()
    if delivery:
        return delivery
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


def optional_id(value: Any, field: str) -> str | None:
    """A user id as a string, or None when absent (0/"" are unknown too)."""
    text = any_id(value, field)
    return text if text != "0" else None


def name_of(value: Any) -> str | None:
    """A lower-case name from either a name string (`state`) or an object (`priority`)."""
    if isinstance(value, Mapping):
        value = value.get("name")
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


def _object_id(value: Any, field: str) -> str | None:
    """The id of an association the payload replaced by a whole object."""
    return optional_id(value.get("id"), f"{field}.id") if isinstance(value, Mapping) else None


def _article_ids(ticket: Mapping[str, Any]) -> list[int]:
    """`ticket.article_ids`: a list of article ids, or nothing (custom payloads may omit it)."""
    ids = ticket.get("article_ids")
    if ids is None:
        return []
    if not isinstance(ids, list):
        raise PayloadError(f"ticket.article_ids {shown(ids)} is not a list of ids")
    return [int(whole_id(i, f"ticket.article_ids[{n}]")) for n, i in enumerate(ids)]


def _article_count(ticket: Mapping[str, Any]) -> int | None:
    """`ticket.article_count`: a count (0 is a count), compared by value in classify()."""
    count = ticket.get("article_count")
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise PayloadError(f"ticket.article_count {shown(count)} is not a count")
    return count


def classify(ticket: Mapping[str, Any], article: Mapping[str, Any]) -> EventKind:
    """What the trigger fired for, from the payload alone.

    Zammad's default payload does not say why a trigger ran, and the job renders the ticket when
    it runs, not when the change happened (deliveries lag and are retried), so counters and
    times may already be newer. The article in the payload is the one that caused the run,
    though: when it is the ticket's first article (lowest of `article_ids`, or the only one),
    the trigger fired for the creation. Without an article, a ticket is new when `created_at`
    equals `updated_at` or it has no article at all. Otherwise an article means a comment and
    no article a ticket update.
    """
    ids, count = _article_ids(ticket), _article_count(ticket)
    if article.get("id") is not None:
        article_id = int(whole_id(article["id"], "article.id"))
        first = article_id == min(ids) if ids else count == 1
        return EventKind.TICKET_CREATED if first else EventKind.COMMENT_ADDED
    created, updated = ticket.get("created_at"), ticket.get("updated_at")
    if (created is not None and created == updated) or count == 0:
        return EventKind.TICKET_CREATED
    return EventKind.TICKET_UPDATED


def parse_events(headers: Mapping[str, str], raw_body: bytes, system: str) -> list[Event]:
    """Turn one verified Zammad trigger webhook into one neutral event."""
    payload = load_body(raw_body)
    ticket = payload.get("ticket")
    if not isinstance(ticket, Mapping) or not ticket:
        raise PayloadError(
            'no ticket: expected the default trigger payload {"ticket": {...}, "article": {...}}'
        )
    if "id" not in ticket:
        raise PayloadError("ticket has no id")
    ticket_id = whole_id(ticket.get("id"), "ticket.id")
    article = payload.get("article")
    if article is None:
        article = {}
    if not isinstance(article, Mapping):
        raise PayloadError(f"article must be an object, got {type(article).__name__}")

    kind = classify(ticket, article)
    data: dict[str, Any] = {}
    for key in ("state", "priority"):
        value = name_of(ticket.get(key))
        if value is not None:
            data["status" if key == "state" else key] = value
    if article.get("id") is not None:
        data["article_id"] = whole_id(article["id"], "article.id")
        data["internal"] = optional_flag(article.get("internal"), "article.internal")
        actor = (
            optional_id(article.get("origin_by_id"), "article.origin_by_id")
            or optional_id(article.get("created_by_id"), "article.created_by_id")
            or _object_id(article.get("created_by"), "article.created_by")
        )
    else:
        # Zammad renders the payload when the job runs, not when the change happened, so
        # updated_by_id may belong to a later change (even the bridge's own). An actor is only
        # given where it surely authored this change; the engine never drops the event then.
        actor = None
        last = optional_id(ticket.get("updated_by_id"), "ticket.updated_by_id") or _object_id(
            ticket.get("updated_by"), "ticket.updated_by"
        )
        if last is not None:
            data["last_updated_by"] = last
    trigger = normalise_headers(headers).get(TRIGGER_HEADER)
    if trigger:
        data["trigger"] = trigger
    return [
        Event(
            ref=SystemRef(system, ticket_id),
            kind=kind,
            delivery_id=delivery_id(headers, raw_body),
            actor_id=actor,
            occurred_at=hint_time(ticket.get("updated_at"), "ticket.updated_at"),
            data=data,
        )
    ]
