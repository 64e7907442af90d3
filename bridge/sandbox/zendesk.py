"""A small, stateful Zendesk Support sandbox (Flask) for the demo and cross-process tests.

It answers under `/api/v2` with the shapes of api-facts.md section 1 (tickets, comments with
cursor pagination, users, uploads, RecordInvalid/RecordNotFound errors) and sends signed webhooks
like a trigger or an event subscription would, including retries with one invocation id. State is
readable directly (`ticket()`, `comments()`, `deliveries`, `request_log`), so tests check what
really happened instead of trusting the bridge. Signatures are computed here independently of
the connector, so a connector bug cannot hide behind shared code.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Flask, Response, g, request

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
MAX_PAGE_SIZE = 100
DELIVERY_ATTEMPTS = 3

# Seed helpers take custom fields as {id: value} or as Zendesk's own [{"id", "value"}] list.
FieldValues = Mapping[int, Any] | Mapping[str, Any] | Iterable[Mapping[str, Any]]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, error: str, description: str, **extra: Any) -> Response:
    body = {"error": error, "description": description, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _ok(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=dict(headers or {})
    )


class _Invalid(Exception):
    """A validation failure answered as Zendesk's 422 RecordInvalid."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description

    def response(self) -> Response:
        details = {self.field: [{"description": self.description, "error": "InvalidValue"}]}
        return _error(422, "RecordInvalid", "Record validation errors", details=details)


@dataclass
class _Webhook:
    url: str
    secret: str
    exclude_user_id: int | None
    style: str
    webhook_id: str


class ZendeskSandbox:
    """In-memory Zendesk account. All state sits behind one lock; `.app` is the Flask app."""

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
        self._tokens: dict[str, tuple[int, str]] = {}  # email -> (user id, api token)
        self._tickets: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self._uploads: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[int, bytes] = {}
        self._log: list[dict[str, Any]] = []
        self._fail: list[tuple[int, float | None]] = []
        self._webhook: _Webhook | None = None
        self._deliveries: list[dict[str, Any]] = []
        self._queue: queue.Queue[tuple[_Webhook, dict[str, Any], int] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------ seed / inspect

    def add_user(
        self, name: str, email: str, role: str = "end-user", token: str | None = None
    ) -> int:
        """Create a user; agents with a token can call the API as `{email}/token:{token}`."""
        if role not in ("end-user", "agent", "admin"):
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            user_id = next(self._user_ids)
            now = _iso(self._clock())
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

    def create_ticket_as(
        self,
        user_id: int,
        subject: str,
        description: str,
        *,
        custom_fields: FieldValues | None = None,
        tags: Iterable[str] = (),
        type: str | None = None,
        priority: str | None = None,
    ) -> dict[str, Any]:
        """Create a ticket as if `user_id` submitted it (fires the webhook like the API does)."""
        body: dict[str, Any] = {
            "subject": subject,
            "comment": {"body": description, "public": True},
            "tags": list(tags),
        }
        if custom_fields is not None:
            body["custom_fields"] = _field_list(custom_fields)
        if type is not None:
            body["type"] = type
        if priority is not None:
            body["priority"] = priority
        ticket, _ = self._create(user_id, body)
        return ticket

    def update_ticket_as(
        self,
        user_id: int,
        ticket_id: int,
        *,
        custom_fields: FieldValues | None = None,
        status: str | None = None,
        priority: str | None = None,
        comment: str | None = None,
        public: bool = True,
    ) -> dict[str, Any]:
        """Update a ticket as `user_id` (e.g. the customer replying, an agent solving)."""
        body: dict[str, Any] = {}
        if custom_fields is not None:
            body["custom_fields"] = _field_list(custom_fields)
        if status is not None:
            body["status"] = status
        if priority is not None:
            body["priority"] = priority
        if comment is not None:
            body["comment"] = {"body": comment, "public": public}
        ticket, _ = self._update(user_id, int(ticket_id), body)
        return ticket

    def ticket(self, ticket_id: int | str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._tickets[int(ticket_id)])

    def comments(self, ticket_id: int | str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._comments[int(ticket_id)])

    def user(self, user_id: int | str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._users[int(user_id)])

    def file_content(self, attachment_id: int | str) -> bytes:
        """The bytes an upload stored, so tests can check the file arrived intact."""
        with self._lock:
            return self._files[int(attachment_id)]

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Every API request: method, path, query, user_id, status and the JSON body if any."""
        with self._lock:
            return copy.deepcopy(self._log)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook attempt: invocation_id, attempt, status_code (None if unreachable)."""
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def fail_next(self, n: int, status: int = 503, retry_after: float | None = None) -> None:
        """Make the next `n` API requests fail with `status` (and Retry-After when given)."""
        with self._lock:
            self._fail.extend([(status, retry_after)] * n)

    # ------------------------------------------------------------------ webhooks

    def configure_webhook(
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
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=5)

    # ----------------------------------------------------------------- the model

    def _create(self, actor: int, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        with self._lock:
            if actor not in self._users:
                raise _Invalid("submitter", "Submitter: not found")
            comment = body.get("comment")
            if not isinstance(comment, Mapping):
                raise _Invalid("description", "Description: cannot be blank")
            text = comment.get("body") or comment.get("html_body")
            if not text:
                raise _Invalid("description", "Description: cannot be blank")
            self._check_uploads(comment)
            subject = str(body.get("subject") or "")
            status = self._check(body, "status", STATUSES) or "new"
            priority = self._check(body, "priority", PRIORITIES)
            ticket_type = self._check(body, "type", TYPES)
            requester_id = self._requester(actor, body)
            now = _iso(self._clock())
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
                raise _Invalid("status", "Status: closed prevents ticket update")
            changes: dict[str, Any] = {}
            for name, allowed in (("status", STATUSES), ("priority", PRIORITIES), ("type", TYPES)):
                if name in body:
                    changes[name] = self._check(body, name, allowed)
            for name in ("subject", "external_id"):
                if name in body:
                    changes[name] = body[name]
            if "tags" in body:
                changes["tags"] = [str(t) for t in body.get("tags") or ()]
            now = _iso(self._clock())
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
            self._tickets[ticket_id] = ticket
            audit = self._audit(ticket, actor, now, events)
            if events:
                self._notify(actor, ticket, before, events)
            return copy.deepcopy(ticket), audit

    def _check_uploads(self, comment: Mapping[str, Any]) -> None:
        for token in comment.get("uploads") or ():
            if token not in self._uploads:
                raise _Invalid("uploads", f"Uploads: token {token!r} is unknown or expired")

    def _check(self, body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
        value = body.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value not in allowed:
            raise _Invalid(name, f"{name.capitalize()}: {value!r} is not a valid value")
        return value

    def _requester(self, actor: int, body: Mapping[str, Any]) -> int:
        if body.get("requester_id") is not None:
            try:
                requester_id = int(body["requester_id"])
            except (TypeError, ValueError):
                requester_id = -1
            if requester_id not in self._users:
                raise _Invalid("requester", "Requester: not found")
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
        now = _iso(self._clock())
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
            raise _Invalid("custom_fields", "Custom fields: must be a list of {id, value}")
        current = {int(item["id"]): item for item in ticket["custom_fields"]}
        for item in fields:
            if not isinstance(item, Mapping) or "id" not in item:
                raise _Invalid("custom_fields", "Custom fields: each entry needs an id")
            try:
                field_id = int(item["id"])
            except (TypeError, ValueError) as exc:
                raise _Invalid("custom_fields", f"Custom fields: bad id {item['id']!r}") from exc
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
            self._queue.put((hook, body, int(ticket["id"])))

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
                "time": _iso(self._clock()),
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
            hook, body, ticket_id = item
            try:
                self._deliver(hook, body, ticket_id)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, hook: _Webhook, body: Mapping[str, Any], ticket_id: int) -> None:
        """POST with Zendesk's headers; retries share the invocation id, as Zendesk's do."""
        raw = json.dumps(body).encode()
        invocation = str(uuid.uuid4().int)[:18]
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            timestamp = _iso(self._clock())
            mac = hmac.new(hook.secret.encode(), timestamp.encode() + raw, hashlib.sha256)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Account-Id": "22129848",
                "X-Zendesk-Webhook-Id": hook.webhook_id,
                "X-Zendesk-Webhook-Invocation-Id": invocation,
                "X-Zendesk-Webhook-Signature": base64.b64encode(mac.digest()).decode(),
                "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            }
            record: dict[str, Any] = {
                "invocation_id": invocation,
                "webhook_id": hook.webhook_id,
                "ticket_id": ticket_id,
                "attempt": attempt,
                "body": dict(body),
                "status_code": None,
                "error": None,
            }
            try:
                answer = requests.post(hook.url, data=raw, headers=headers, timeout=10)
                record["status_code"] = answer.status_code
                ok = 200 <= answer.status_code < 300
            except requests.RequestException as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            with self._lock:
                self._deliveries.append(record)
            if ok:
                return
            time.sleep(0.05 * attempt)

    # ------------------------------------------------------------------- the app

    def _build_app(self) -> Flask:
        app = Flask("zendesk_sandbox")
        app.url_map.strict_slashes = False

        def route(rule: str, methods: list[str]) -> Callable[[Callable[..., Response]], Any]:
            """Register `/api/v2<rule>` and `/api/v2<rule>.json`: the suffix is optional."""

            def register(view: Callable[..., Response]) -> Callable[..., Response]:
                app.add_url_rule(f"/api/v2{rule}", view.__name__, view, methods=methods)
                app.add_url_rule(
                    f"/api/v2{rule}.json", view.__name__ + "_json", view, methods=methods
                )
                return view

            return register

        @app.before_request
        def authenticate() -> Response | None:
            g.user_id = None
            g.json_body = None
            with self._lock:
                fault = self._fail.pop(0) if self._fail else None
            if fault is not None:
                status, retry_after = fault
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                return _ok({"error": "Injected fault", "description": "fail_next"}, status, headers)
            user_id = self._authenticate(request.headers.get("Authorization", ""))
            if user_id is None:
                return _ok({"error": "Couldn't authenticate you"}, 401)
            g.user_id = user_id
            return None

        @app.after_request
        def log(response: Response) -> Response:
            body: Any = None
            if request.mimetype == "application/json":
                body = request.get_json(silent=True)
            with self._lock:
                self._log.append(
                    {
                        "method": request.method,
                        "path": request.path,
                        "query": request.args.to_dict(flat=True),
                        "content_type": request.content_type,
                        "user_id": g.get("user_id"),
                        "status": response.status_code,
                        "json": body,
                        "size": request.content_length,
                    }
                )
            return response

        @route("/tickets/<int:ticket_id>", ["GET"])
        def show_ticket(ticket_id: int) -> Response:
            with self._lock:
                ticket = self._tickets.get(ticket_id)
                if ticket is None:
                    return _not_found()
                body: dict[str, Any] = {"ticket": copy.deepcopy(ticket)}
                if "users" in request.args.get("include", "").split(","):
                    ids = {ticket["requester_id"], ticket["submitter_id"], ticket["assignee_id"]}
                    body["users"] = [copy.deepcopy(self._users[i]) for i in ids if i in self._users]
            return _ok(body)

        @route("/tickets/<int:ticket_id>", ["PUT"])
        def update_ticket(ticket_id: int) -> Response:
            payload = _ticket_payload()
            if isinstance(payload, Response):
                return payload
            try:
                ticket, audit = self._update(int(g.user_id), ticket_id, payload)
            except KeyError:
                return _not_found()
            except _Invalid as exc:
                return exc.response()
            return _ok({"ticket": ticket, "audit": audit})

        @route("/tickets", ["POST"])
        def create_ticket() -> Response:
            payload = _ticket_payload()
            if isinstance(payload, Response):
                return payload
            try:
                ticket, audit = self._create(int(g.user_id), payload)
            except _Invalid as exc:
                return exc.response()
            location = f"{request.host_url}api/v2/tickets/{ticket['id']}.json"
            return _ok({"ticket": ticket, "audit": audit}, 201, {"Location": location})

        @route("/tickets/<int:ticket_id>/comments", ["GET"])
        def list_comments(ticket_id: int) -> Response:
            with self._lock:
                if ticket_id not in self._comments:
                    return _not_found()
                comments = copy.deepcopy(self._comments[ticket_id])
            if request.args.get("sort") == "-created_at":
                comments.reverse()
            size_text = request.args.get("page[size]")
            if size_text is None:
                return _ok(
                    {
                        "comments": comments,
                        "next_page": None,
                        "previous_page": None,
                        "count": len(comments),
                    }
                )
            try:
                size = int(size_text)
            except ValueError:
                size = 0
            if not 1 <= size <= MAX_PAGE_SIZE:
                return _error(
                    400, "InvalidPaginationParameter", f"page[size] must be 1..{MAX_PAGE_SIZE}"
                )
            start = 0
            after = request.args.get("page[after]")
            if after:
                try:
                    after_id = int(base64.urlsafe_b64decode(after.encode()).decode())
                except (ValueError, binascii.Error):
                    return _error(400, "InvalidPaginationParameter", "page[after] is invalid")
                ids = [c["id"] for c in comments]
                start = ids.index(after_id) + 1 if after_id in ids else len(ids)
            page = comments[start : start + size]
            has_more = start + size < len(comments)

            def cursor(comment: Mapping[str, Any]) -> str:
                return base64.urlsafe_b64encode(str(comment["id"]).encode()).decode()

            after_cursor = cursor(page[-1]) if page else None
            base = f"{request.base_url}?page[size]={size}"
            return _ok(
                {
                    "comments": page,
                    "meta": {
                        "has_more": has_more,
                        "after_cursor": after_cursor,
                        "before_cursor": cursor(page[0]) if page else None,
                    },
                    "links": {
                        "next": f"{base}&page[after]={after_cursor}" if has_more else None,
                        "prev": None,
                    },
                }
            )

        @route("/users/<int:user_id>", ["GET"])
        def show_user(user_id: int) -> Response:
            with self._lock:
                user = self._users.get(user_id)
                if user is None:
                    return _not_found()
                return _ok({"user": copy.deepcopy(user)})

        @route("/uploads", ["POST"])
        def upload() -> Response:
            filename = request.args.get("filename")
            if not filename:
                return _error(400, "InvalidParameter", "filename is required")
            content = request.get_data()
            content_type = request.content_type or "application/octet-stream"
            with self._lock:
                token = request.args.get("token") or uuid.uuid4().hex[:25]
                if request.args.get("token") and token not in self._uploads:
                    return _error(422, "RecordInvalid", f"upload token {token!r} is unknown")
                attachment_id = next(self._attachment_ids)
                self._files[attachment_id] = content
                attachment = {
                    "id": attachment_id,
                    "file_name": filename,
                    "content_url": f"{request.host_url}attachments/token/{token}/?name={filename}",
                    "mapped_content_url": None,
                    "content_type": content_type,
                    "size": len(content),
                    "inline": False,
                    "thumbnails": [],
                }
                attachments = self._uploads.setdefault(token, [])
                attachments.append(attachment)
                body = {
                    "upload": {
                        "token": token,
                        "attachment": copy.deepcopy(attachment),
                        "attachments": copy.deepcopy(attachments),
                    }
                }
            return _ok(body, 201)

        return app

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


def _not_found() -> Response:
    return _error(404, "RecordNotFound", "Not found")


def _ticket_payload() -> dict[str, Any] | Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("ticket"), dict):
        return _error(400, "InvalidEndpoint", 'expected a JSON body {"ticket": {...}}')
    return dict(payload["ticket"])


def _field_list(
    fields: FieldValues,
) -> list[dict[str, Any]]:
    if isinstance(fields, Mapping):
        return [{"id": int(k), "value": v} for k, v in fields.items()]
    return [dict(item) for item in fields]
