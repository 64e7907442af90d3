"""Webhook sending for the Zendesk sandbox: trigger bodies or event-subscription payloads.

Deliveries run on one background thread with Zendesk's headers and HMAC signature, retrying
with one invocation id. Signatures are computed here independently of the connector, so a
connector bug cannot hide behind shared code.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from bridge.sandbox.zendesk.common import DELIVERY_ATTEMPTS, iso


@dataclass(frozen=True)
class Patience:
    """A sender that keeps retrying an unanswered delivery, as Zendesk does for 429/503 with
    a short Retry-After: up to `attempts` tries, each after the answer's Retry-After (or a
    doubling wait when it gives none), never longer than `longest_wait` seconds. The retry is
    scheduled, not slept, so one slow delivery does not hold back the others."""

    attempts: int = 12
    longest_wait: float = 60.0

    def wait(self, attempt: int, retry_after: str | None) -> float:
        try:
            asked = float(retry_after) if retry_after is not None else None
        except ValueError:
            asked = None
        return min(self.longest_wait, asked if asked is not None else 2.0**attempt)


@dataclass
class _Webhook:
    url: str
    secret: str
    exclude_user_id: int | None
    style: str
    webhook_id: str


class WebhookSender:
    """Queues and delivers webhooks; shares the account's lock and user table."""

    def __init__(
        self,
        lock: threading.RLock,
        users: dict[int, dict[str, Any]],
        clock: Callable[[], datetime],
    ) -> None:
        self._lock = lock
        self._users = users
        self._clock = clock
        self._webhook: _Webhook | None = None
        self._deliveries: list[dict[str, Any]] = []
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        # None: the default three quick tries in a row; see Patience.
        self.patience: Patience | None = None
        self._timers: list[threading.Timer] = []

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def configure(
        self,
        url: str,
        secret: str,
        exclude_user_id: int | None = None,
        style: str = "trigger",
    ) -> None:
        """Send signed webhooks to `url` after each create/update.

        `exclude_user_id` models the recommended trigger condition "current user is not the
        bridge user"; `style` picks a trigger JSON body or event-subscription payloads.
        """
        if style not in ("trigger", "event"):
            raise ValueError(f"style must be 'trigger' or 'event', not {style!r}")
        with self._lock:
            self._webhook = _Webhook(
                url=url,
                secret=secret,
                exclude_user_id=exclude_user_id,
                style=style,
                webhook_id="01" + uuid.uuid4().hex[:24].upper(),
            )
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._deliver_loop, name="zendesk-sandbox-webhooks", daemon=True
                )
                self._worker.start()

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until no webhook is queued or in flight; False if `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def close(self) -> None:
        """Stop the delivery thread (pending deliveries are dropped)."""
        with self._lock:
            worker, self._worker = self._worker, None
        for timer in self._timers:
            timer.cancel()
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=5)

    # ----------------------------------------------------------------- the model

    def notify(
        self,
        actor: int,
        ticket: Mapping[str, Any],
        before: Mapping[str, Any] | None,
        events: list[dict[str, Any]],
    ) -> None:
        hook = self._webhook
        if hook is None or (hook.exclude_user_id is not None and actor == hook.exclude_user_id):
            return
        if hook.style == "trigger":
            bodies = [
                {
                    "ticket_id": str(ticket["id"]),
                    "current_user_id": str(actor),
                    "event": "ticket_created" if before is None else "ticket_updated",
                    "updated_at": ticket["updated_at"],
                }
            ]
        else:
            bodies = self._event_payloads(actor, ticket, before, events)
        for body in bodies:
            self._pending += 1
            self._queue.put((hook, body, int(ticket["id"]), _Attempt()))

    def _event_payloads(
        self,
        actor: int,
        ticket: Mapping[str, Any],
        before: Mapping[str, Any] | None,
        events: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """One payload per change, shaped like Zendesk's ticket event subscriptions."""
        detail = {
            "id": str(ticket["id"]),
            "actor_id": str(actor),
            "status": str(ticket["status"]).upper(),
            "priority": str(ticket["priority"]).upper() if ticket["priority"] else None,
            "type": str(ticket["type"]).upper() if ticket["type"] else None,
            "subject": ticket["subject"],
            "description": ticket["description"],
            "external_id": ticket["external_id"],
            "requester_id": str(ticket["requester_id"]),
            "submitter_id": str(ticket["submitter_id"]),
            "assignee_id": None,
            "tags": list(ticket["tags"]),
            "created_at": ticket["created_at"],
            "updated_at": ticket["updated_at"],
            "via": {"channel": "web_service"},
        }
        changes: list[tuple[str, dict[str, Any]]] = []
        if before is None:
            changes.append(("created", {}))
        else:
            for event in events:
                if event["type"] == "Comment":
                    author = self._users.get(int(event["author_id"]), {})
                    comment = {
                        "id": str(event["id"]),
                        "body": event["body"],
                        "is_public": event["public"],
                        "author": {
                            "id": str(event["author_id"]),
                            "is_staff": author.get("role") in ("agent", "admin"),
                            "name": author.get("name"),
                        },
                    }
                    changes.append(("comment_added", {"comment": comment}))
                    continue
                name = str(event.get("field_name"))
                previous, current = event.get("previous_value"), event.get("value")
                if name in ("status", "priority", "type"):
                    kind = "ticket_type_changed" if name == "type" else f"{name}_changed"
                    changes.append(
                        (
                            kind,
                            {
                                "previous": str(previous).upper() if previous else None,
                                "current": str(current).upper() if current else None,
                            },
                        )
                    )
                elif name.isdigit():
                    changes.append(
                        (
                            "custom_field_changed",
                            {
                                "current": current,
                                "previous": previous,
                                "custom_field": {"id": name},
                            },
                        )
                    )
                else:
                    changes.append((f"{name}_changed", {"previous": previous, "current": current}))
        return [
            {
                "account_id": 22129848,
                "id": str(uuid.uuid4()),
                "time": iso(self._clock()),
                "type": f"zen:event-type:ticket.{kind}",
                "zendesk_event_version": "2022-11-06",
                "subject": f"zen:ticket:{ticket['id']}",
                "detail": copy.deepcopy(detail),
                "event": event_body,
            }
            for kind, event_body in changes
        ]

    def _deliver_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            hook, body, ticket_id, attempt = item
            later = False
            try:
                later = self._deliver(hook, body, ticket_id, attempt)
            finally:
                if not later:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(
        self, hook: _Webhook, body: dict[str, Any], ticket_id: int, attempt: _Attempt
    ) -> bool:
        """POST with Zendesk's headers; retries share the invocation id, as Zendesk's do.

        True when a patient retry was scheduled (the delivery is still pending).
        """
        raw = json.dumps(body).encode()
        last = self.patience.attempts if self.patience is not None else DELIVERY_ATTEMPTS
        while attempt.number <= last:
            ok, retry_after = self._attempt(hook, raw, body, ticket_id, attempt)
            if ok:
                return False
            if self.patience is not None and attempt.number < last:
                wait = self.patience.wait(attempt.number, retry_after)
                attempt.number += 1
                timer = threading.Timer(
                    wait, self._queue.put, args=((hook, body, ticket_id, attempt),)
                )
                timer.daemon = True
                with self._lock:
                    self._timers = [t for t in self._timers if t.is_alive()] + [timer]
                timer.start()
                return True
            time.sleep(0.05 * attempt.number)
            attempt.number += 1
        return False

    def _attempt(
        self,
        hook: _Webhook,
        raw: bytes,
        body: Mapping[str, Any],
        ticket_id: int,
        attempt: _Attempt,
    ) -> tuple[bool, str | None]:
        """One POST; (answered 2xx, the answer's Retry-After if any)."""
        timestamp = iso(self._clock())
        mac = hmac.new(hook.secret.encode(), timestamp.encode() + raw, hashlib.sha256)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": "22129848",
            "X-Zendesk-Webhook-Id": hook.webhook_id,
            "X-Zendesk-Webhook-Invocation-Id": attempt.invocation,
            "X-Zendesk-Webhook-Signature": base64.b64encode(mac.digest()).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
        record: dict[str, Any] = {
            "invocation_id": attempt.invocation,
            "webhook_id": hook.webhook_id,
            "ticket_id": ticket_id,
            "attempt": attempt.number,
            "body": dict(body),
            "status_code": None,
            "error": None,
        }
        ok, retry_after = False, None
        try:
            answer = requests.post(hook.url, data=raw, headers=headers, timeout=10)
            record["status_code"] = answer.status_code
            ok = 200 <= answer.status_code < 300
            retry_after = answer.headers.get("Retry-After")
        except requests.RequestException as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._deliveries.append(record)
        return ok, retry_after


@dataclass
class _Attempt:
    """One delivery's invocation id (kept across its retries) and its attempt number."""

    invocation: str = field(default_factory=lambda: str(uuid.uuid4().int)[:18])
    number: int = 1


_Item = tuple[_Webhook, dict[str, Any], int, _Attempt]
