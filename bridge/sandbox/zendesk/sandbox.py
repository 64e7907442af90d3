"""A small, stateful Zendesk Support sandbox (Flask) for the demo and cross-process tests.

It answers under `/api/v2` with the shapes of api-facts.md section 1 (tickets, comments with
cursor pagination, users, uploads and downloads, the cursor-based incremental ticket export,
RecordInvalid/RecordNotFound errors) and sends signed webhooks like a trigger or an event
subscription would, including retries with one invocation id. State is readable directly
(`ticket()`, `comments()`, `deliveries`, `request_log`), so tests check what really happened
instead of trusting the bridge.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bridge.sandbox.zendesk.common import MAX_UPLOAD_BYTES, FieldValues, field_list
from bridge.sandbox.zendesk.files import store_upload
from bridge.sandbox.zendesk.routes import build_app
from bridge.sandbox.zendesk.store import ZendeskStore
from bridge.sandbox.zendesk.webhooks import Patience


class ZendeskSandbox(ZendeskStore):
    """In-memory Zendesk account. All state sits behind one lock; `.app` is the Flask app.

    Knobs: `max_upload_bytes` (uploads above it get 413), `export_lag` (incremental exports
    leave out changes younger than this, default one minute like Zendesk; set
    `timedelta(0)` in tests that cannot wait) and `export_rate_limit` (export requests per
    minute, None = unlimited; Zendesk allows 10).
    """

    def __init__(
        self,
        clock: Callable[[], datetime] | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        super().__init__(clock)
        self.max_upload_bytes = max_upload_bytes
        self.app = build_app(self)

    # ------------------------------------------------------------ seed / inspect

    def add_field(self, field_id: int, title: str, type: str = "text") -> None:
        """A custom ticket field as `GET /ticket_fields` lists it (tickets take any id)."""
        with self._lock:
            self._fields[field_id] = {
                "id": field_id,
                "type": type,
                "title": title,
                "active": True,
                "removable": True,
                "custom_field_options": [],
            }

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
            body["custom_fields"] = field_list(custom_fields)
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
        uploads: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Update a ticket as `user_id` (e.g. the customer replying, an agent solving);
        `uploads` are tokens from `upload()`, attached to the comment."""
        body: dict[str, Any] = {}
        if custom_fields is not None:
            body["custom_fields"] = field_list(custom_fields)
        if status is not None:
            body["status"] = status
        if priority is not None:
            body["priority"] = priority
        if comment is not None:
            body["comment"] = {"body": comment, "public": public, "uploads": list(uploads)}
        ticket, _ = self._update(user_id, int(ticket_id), body)
        return ticket

    def upload(self, filename: str, content: bytes, host_url: str) -> str:
        """Stage a file as `POST /uploads` does; `host_url` is where this sandbox is served
        (its download links point there). Returns the upload token."""
        stored = store_upload(self, None, filename, "application/octet-stream", content, host_url)
        assert stored is not None  # a new token always stores
        return stored[0]

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
        return self._webhooks.deliveries

    def fail_next(self, n: int, status: int = 503, retry_after: float | None = None) -> None:
        """Make the next `n` API requests fail with `status` (and Retry-After when given)."""
        with self._lock:
            self._fail.extend([(status, retry_after)] * n)

    def set_delivery_patience(self, patience: Patience | None) -> None:
        """Retry unanswered webhooks patiently (see Patience); None: three quick tries."""
        self._webhooks.patience = patience

    def trickle_next(self, n: int, every: float = 0.3) -> None:
        """Answer the next `n` API requests in full, but their bodies a byte per `every`
        seconds (bridge.sandbox.faults.trickle): only a client's total deadline ends them."""
        with self._lock:
            self._trickle.extend([every] * n)

    # ------------------------------------------------------------------ webhooks

    def touch(self, ticket_id: int | str) -> None:
        """A system-side change: `generated_timestamp` moves, `updated_at` does not.

        This is why Zendesk's incremental export returns tickets whose `updated_at` is older
        than the requested `start_time`.
        """
        with self._lock:
            ticket = self._tickets[int(ticket_id)]
            ticket["generated_timestamp"] = int(self._clock().timestamp())

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
        self._webhooks.configure(url, secret, exclude_user_id, style)

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until no webhook is queued or in flight; False if `timeout` ran out first."""
        return self._webhooks.wait_for_deliveries(timeout)

    def close(self) -> None:
        """Stop the delivery thread (pending deliveries are dropped)."""
        self._webhooks.close()
