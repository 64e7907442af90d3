"""The Zendesk sandbox's account state: users, tickets, comments, audits, uploads.

Everything sits behind one re-entrant lock. The Flask routes (`routes`, `files`) and the
webhook sender (`webhooks`) are separate modules that work on this state; they are part of the
package and use its underscore attributes directly, the public surface is `ZendeskSandbox`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import itertools
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.sandbox.zendesk.common import PRIORITIES, STATUSES, TYPES, Invalid, iso
from bridge.sandbox.zendesk.webhooks import WebhookSender


class ZendeskStore:
    """In-memory Zendesk account state and the rules Zendesk applies when it changes."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._user_ids = itertools.count(361_000_001)
        self._ticket_ids = itertools.count(1)
        # Comment ids are audit event ids in Zendesk; one counter for all event ids keeps that.
        self._event_ids = itertools.count(900_000_001)
        self._audit_ids = itertools.count(700_000_001)
        self._attachment_ids = itertools.count(800_000_001)
        self._users: dict[int, dict[str, Any]] = {}
        self._fields: dict[int, dict[str, Any]] = {}  # ticket field definitions by id
        self._tokens: dict[str, tuple[int, str]] = {}  # email -> (user id, api token)
        self._tickets: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self._uploads: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[int, bytes] = {}
        self._download_tokens: dict[str, tuple[int, str]] = {}  # token -> (id, content type)
        self._log: list[dict[str, Any]] = []
        self._fail: list[tuple[int, float | None]] = []
        self._trickle: list[float] = []  # seconds per byte of the next answers (fault mode)
        self._export_calls: list[datetime] = []
        self._webhooks = WebhookSender(self._lock, self._users, self._clock)
        # Zendesk leaves out changes younger than a minute from incremental exports and refuses
        # a younger start_time; tests that cannot wait set this to timedelta(0).
        self.export_lag = timedelta(minutes=1)
        # Incremental exports allow 10 requests a minute; None switches the limit off.
        self.export_rate_limit: int | None = None
        self.max_upload_bytes = 0  # set by ZendeskSandbox

    # ------------------------------------------------------------------ users

    def add_user(
        self, name: str, email: str, role: str = "end-user", token: str | None = None
    ) -> int:
        """Create a user; agents with a token can call the API as `{email}/token:{token}`."""
        if role not in ("end-user", "agent", "admin"):
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            user_id = next(self._user_ids)
            now = iso(self._clock())
            self._users[user_id] = {
                "id": user_id,
                "name": name,
                "email": email,
                "role": role,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            if token is not None:
                self._tokens[email.lower()] = (user_id, token)
            return user_id

    # ---------------------------------------------------------------- the model

    def _create(self, actor: int, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            if actor not in self._users:
                raise Invalid("submitter", "Submitter: not found")
            comment = body.get("comment")
            if not isinstance(comment, Mapping):
                raise Invalid("description", "Description: cannot be blank")
            text = comment.get("body") or comment.get("html_body")
            if not text:
                raise Invalid("description", "Description: cannot be blank")
            self._check_uploads(comment)
            subject = str(body.get("subject") or "")
            status = self._check(body, "status", STATUSES) or "new"
            priority = self._check(body, "priority", PRIORITIES)
            ticket_type = self._check(body, "type", TYPES)
            requester_id = self._requester(actor, body)
            now = iso(self._clock())
            ticket_id = next(self._ticket_ids)
            ticket: dict[str, Any] = {
                "id": ticket_id,
                "url": f"/api/v2/tickets/{ticket_id}.json",
                "subject": subject or str(text)[:80],
                "raw_subject": subject,
                "description": str(text),
                "status": status,
                "priority": priority,
                "type": ticket_type,
                "tags": [str(t) for t in body.get("tags") or ()],
                "custom_fields": [],
                "requester_id": requester_id,
                "submitter_id": actor,
                "assignee_id": None,
                "external_id": body.get("external_id"),
                "created_at": now,
                "updated_at": now,
                # What incremental exports order and filter by; system-side changes move it too.
                "generated_timestamp": int(self._clock().timestamp()),
            }
            self._merge_fields(ticket, body.get("custom_fields"))
            self._tickets[ticket_id] = ticket
            self._comments[ticket_id] = []
            events: list[dict[str, Any]] = [self._add_comment(ticket, actor, comment, now)]
            for name in ("status", "priority", "type", "subject"):
                events.append(self._event("Create", field_name=name, value=ticket[name]))
            audit = self._audit(ticket, actor, now, events)
            self._notify(actor, ticket, None, events)
            return copy.deepcopy(ticket), audit

    def _update(
        self, actor: int, ticket_id: int, body: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise KeyError(ticket_id)
            # Work on a copy and commit at the end, so a 422 leaves the ticket untouched.
            before, ticket = ticket, copy.deepcopy(ticket)
            if ticket["status"] == "closed":
                raise Invalid("status", "Status: closed prevents ticket update")
            changes: dict[str, Any] = {}
            for name, allowed in (("status", STATUSES), ("priority", PRIORITIES), ("type", TYPES)):
                if name in body:
                    changes[name] = self._check(body, name, allowed)
            for name in ("subject", "external_id"):
                if name in body:
                    changes[name] = body[name]
            if "tags" in body:
                changes["tags"] = [str(t) for t in body.get("tags") or ()]
            now = iso(self._clock())
            events: list[dict[str, Any]] = []
            for name, value in changes.items():
                if ticket.get(name) != value:
                    events.append(
                        self._event(
                            "Change", field_name=name, value=value, previous_value=ticket.get(name)
                        )
                    )
                    ticket[name] = value
            for field_id, old, new in self._merge_fields(ticket, body.get("custom_fields")):
                events.append(
                    self._event("Change", field_name=str(field_id), value=new, previous_value=old)
                )
            comment = body.get("comment")
            if isinstance(comment, Mapping) and (comment.get("body") or comment.get("html_body")):
                self._check_uploads(comment)
                events.append(self._add_comment(ticket, actor, comment, now))
            if events:
                ticket["updated_at"] = now
                ticket["generated_timestamp"] = int(self._clock().timestamp())
            self._tickets[ticket_id] = ticket
            audit = self._audit(ticket, actor, now, events)
            if events:
                self._notify(actor, ticket, before, events)
            return copy.deepcopy(ticket), audit

    def _check_uploads(self, comment: Mapping[str, Any]) -> None:
        for token in comment.get("uploads") or ():
            if token not in self._uploads:
                raise Invalid("uploads", f"Uploads: token {token!r} is unknown or expired")

    def _check(self, body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
        value = body.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(name, f"{name.capitalize()}: {value!r} is not a valid value")
        return value

    def _requester(self, actor: int, body: Mapping[str, Any]) -> int:
        if body.get("requester_id") is not None:
            try:
                requester_id = int(body["requester_id"])
            except (TypeError, ValueError):
                requester_id = -1
            if requester_id not in self._users:
                raise Invalid("requester", "Requester: not found")
            return requester_id
        requester = body.get("requester")
        if isinstance(requester, Mapping) and requester.get("email"):
            email = str(requester["email"]).lower()
            for user in self._users.values():
                if str(user["email"]).lower() == email:
                    return int(user["id"])
            return self._new_user_locked(str(requester.get("name") or email), email)
        return actor

    def _new_user_locked(self, name: str, email: str) -> int:
        user_id = next(self._user_ids)
        now = iso(self._clock())
        self._users[user_id] = {
            "id": user_id,
            "name": name,
            "email": email,
            "role": "end-user",
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        return user_id

    def _merge_fields(self, ticket: dict[str, Any], fields: Any) -> list[tuple[int, Any, Any]]:
        """Set custom fields by id; returns (id, old, new) for values that changed."""
        changed: list[tuple[int, Any, Any]] = []
        if not fields:
            return changed
        if not isinstance(fields, list):
            raise Invalid("custom_fields", "Custom fields: must be a list of {id, value}")
        current = {int(item["id"]): item for item in ticket["custom_fields"]}
        for item in fields:
            if not isinstance(item, Mapping) or "id" not in item:
                raise Invalid("custom_fields", "Custom fields: each entry needs an id")
            try:
                field_id = int(item["id"])
            except (TypeError, ValueError) as exc:
                raise Invalid("custom_fields", f"Custom fields: bad id {item['id']!r}") from exc
            value = item.get("value")
            old = current[field_id]["value"] if field_id in current else None
            if field_id in current:
                current[field_id]["value"] = value
            else:
                entry = {"id": field_id, "value": value}
                ticket["custom_fields"].append(entry)
                current[field_id] = entry
            if old != value:
                changed.append((field_id, old, value))
        return changed

    def _add_comment(
        self, ticket: dict[str, Any], actor: int, comment: Mapping[str, Any], now: str
    ) -> dict[str, Any]:
        body = str(comment.get("body") or comment.get("html_body") or "")
        attachments: list[dict[str, Any]] = []
        for token in comment.get("uploads") or ():
            attachments.extend(copy.deepcopy(self._uploads.pop(token)))
        entry = {
            "id": next(self._event_ids),
            "type": "Comment",
            "author_id": actor,
            "body": body,
            "html_body": f'<div class="zd-comment"><p>{body}</p></div>',
            "plain_body": body,
            "public": bool(comment.get("public", True)),
            "attachments": attachments,
            "audit_id": None,
            "via": {"channel": "api"},
            "metadata": {},
            "created_at": now,
        }
        self._comments[int(ticket["id"])].append(entry)
        return {k: entry[k] for k in ("id", "type", "author_id", "body", "public", "attachments")}

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"id": next(self._event_ids), "type": kind, **fields}

    def _audit(
        self, ticket: Mapping[str, Any], actor: int, now: str, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        audit_id = next(self._audit_ids)
        for event in events:
            if event["type"] == "Comment":
                for stored in self._comments[int(ticket["id"])]:
                    if stored["id"] == event["id"]:
                        stored["audit_id"] = audit_id
        return {
            "id": audit_id,
            "ticket_id": ticket["id"],
            "author_id": actor,
            "created_at": now,
            "events": copy.deepcopy(events),
            "via": {"channel": "api"},
            "metadata": {},
        }

    # ------------------------------------------------------------ webhook sending

    def _notify(
        self,
        actor: int,
        ticket: Mapping[str, Any],
        before: Mapping[str, Any] | None,
        events: list[dict[str, Any]],
    ) -> None:
        self._webhooks.notify(actor, ticket, before, events)

    # ------------------------------------------------------------------- auth

    def _authenticate(self, header: str) -> int | None:
        """Basic `{email}/token:{api_token}` for agents, as Zendesk API tokens work."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, password = decoded.partition(":")
        if not username.endswith("/token"):
            return None
        email = username[: -len("/token")].lower()
        with self._lock:
            entry = self._tokens.get(email)
            if entry is None or not hmac.compare_digest(entry[1], password):
                return None
            user = self._users.get(entry[0])
            if user is None or user["role"] not in ("agent", "admin"):
                return None
            return entry[0]
