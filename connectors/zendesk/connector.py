"""The Zendesk Support connector: translates between Zendesk REST v2 JSON and the neutral model.

All HTTP goes through connectors.http.HttpClient, so failures already arrive as the bridge's
error tree (401/403/404/422 permanent, 409/5xx/timeouts retryable, 429 rate limited). This module
adds only what is Zendesk-specific: paths, payload shapes, the two-step attachment upload, cursor
pagination and write-only-what-differs updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

from bridge.errors import PermanentError
from bridge.findings import Finding, Usage
from bridge.models import (
    Attachment,
    Comment,
    Event,
    NewComment,
    SystemRef,
    Ticket,
    TicketChanges,
    TicketDraft,
)
from bridge.protocol import (
    Capability,
    Hook,
    Hooks,
    Identity,
    Limits,
    SideStatuses,
    SystemSettings,
    attachment_limit,
)
from connectors.http import HttpClient
from connectors.zendesk import check, comments, files, poll, webhook
from connectors.zendesk.client import REST, ticket_path
from connectors.zendesk.comments import comment_order, time_of
from connectors.zendesk.config import ZendeskAuth, ZendeskOptions

# Zendesk's API names (on-hold is `hold`); custom statuses are categories of these.
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


class ZendeskConnector:
    """One configured Zendesk account, usable on either side of a route."""

    kind = "zendesk"
    title = "Zendesk"
    # POLLING: the reconciler sweeps the incremental export for webhooks that never came.
    capabilities = frozenset({Capability.WEBHOOKS, Capability.POLLING, Capability.ATTACHMENTS})
    auth_schema = ZendeskAuth
    options_schema = ZendeskOptions
    # Zendesk takes files up to 50 MB per upload.
    limits = Limits(max_attachment_bytes=50 * 1024 * 1024)
    # While the bridge asks for data in an internal note the agent works on it (`open`); a
    # public question waits on the requester (`pending`); escalated, it waits on a third party.
    statuses = SideStatuses(STATUSES, frozenset({"pending"}), "open", "pending", "hold")
    hooks = frozenset({Hook.BEFORE_REQUEST, Hook.OBSERVE_REQUEST})
    sandbox = "bridge.sandbox.drivers:ZendeskDriver"

    def __init__(
        self,
        settings: SystemSettings,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] | None = None,
        *,
        hooks: Hooks | None = None,
    ) -> None:
        """`http` and `clock` are injectable so tests run without retries, sleeps or real time."""
        self.settings = settings
        self.http = http if http is not None else REST.client(settings, hooks=hooks)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    @property
    def max_attachment_bytes(self) -> int:
        return attachment_limit(self.settings, self.limits)

    # ----------------------------------------------------------------- identity, check

    def whoami(self) -> Identity:
        data = self.http.json("GET", "users/me", "check zendesk credentials")
        user = data.get("user") if isinstance(data, dict) else None
        user = user if isinstance(user, dict) else {}
        label = str(user.get("name") or user.get("email") or "")
        return Identity(None if user.get("id") is None else str(user["id"]), label)

    def check_usage(self, usage: Usage, enums_only: bool = False) -> list[Finding]:
        return check.check(self, usage, enums_only)

    # ----------------------------------------------------------------- webhooks

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        webhook.verify_signature(
            headers, raw_body, self.settings.webhook_secret, self.clock(), self.settings.name
        )

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        return webhook.parse_events(headers, raw_body, self.settings.name)

    # ------------------------------------------------------------------ tickets

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.settings.url.rstrip('/')}/agent/tickets/{ticket_id}"

    def get_ticket(self, ticket_id: str) -> Ticket:
        raw, users = self._read(ticket_id)
        return self._to_ticket(raw, users)

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        """Create with the description as the first, public comment (that is what Zendesk's
        `description` is). `draft.project`/`category` have no Zendesk counterpart and are unused.
        """
        comment: dict[str, Any] = {"body": draft.description, "public": True}
        token = files.upload_all(self.http, draft.attachments)
        if token:
            comment["uploads"] = [token]
        body: dict[str, Any] = {"subject": draft.subject, "comment": comment}
        if draft.priority:
            body["priority"] = draft.priority.lower()
        if draft.tags:
            body["tags"] = list(draft.tags)
        if draft.fields:
            body["custom_fields"] = [
                {"id": _field_id(key), "value": value} for key, value in draft.fields.items()
            ]
        data = self.http.json("POST", "tickets", "create zendesk ticket", json={"ticket": body})
        return self._to_ticket(_ticket_of(data, "create ticket"), _users_of(data))

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        """Re-read, then send only the attributes that differ.

        Skipping writes that are already true keeps the bridge from creating empty audits, from
        firing the customer's triggers for nothing and from echoing changes back and forth.
        """
        raw, users = self._read(ticket_id)
        body: dict[str, Any] = {}
        if changes.status is not None and changes.status.lower() != _lower(raw.get("status")):
            body["status"] = changes.status.lower()
        if changes.priority is not None and changes.priority.lower() != _lower(raw.get("priority")):
            body["priority"] = changes.priority.lower()
        if changes.external_id is not None and changes.external_id != raw.get("external_id"):
            body["external_id"] = changes.external_id
        current = _custom_fields(raw)
        fields = [
            {"id": _field_id(key), "value": value}
            for key, value in changes.fields.items()
            if not _same_value(current.get(str(key).strip()), value)
        ]
        if fields:
            body["custom_fields"] = fields
        if not body:
            return self._to_ticket(raw, users)
        data = self.http.json(
            "PUT",
            ticket_path(ticket_id),
            f"update zendesk ticket {ticket_id}",
            json={"ticket": body},
        )
        return self._to_ticket(_ticket_of(data, "update ticket"), users)

    # ----------------------------------------------------------------- comments

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        """Add a public comment or internal note and return its id.

        `public` is always sent: Zendesk's default depends on the author and channel, and an
        internal note leaking to a customer is the one mistake a bridge must never make.
        Attachments with neither `content` nor `path` are skipped: the caller downloads them
        first.
        """
        path = ticket_path(ticket_id)
        payload: dict[str, Any] = {"body": comment.body, "public": bool(comment.public)}
        token = files.upload_all(self.http, comment.attachments)
        if token:
            payload["uploads"] = [token]
        data = self.http.json(
            "PUT",
            path,
            f"add comment to zendesk ticket {ticket_id}",
            idempotent=False,  # a PUT that appends a comment: repeating it duplicates the comment
            json={"ticket": {"comment": payload}},
        )
        audit = data.get("audit") if isinstance(data, Mapping) else None
        events = audit.get("events") if isinstance(audit, Mapping) else None
        for event in events or ():
            if isinstance(event, Mapping) and event.get("type") == "Comment" and "id" in event:
                return str(event["id"])
        # No audit in the answer (some proxies and older API versions strip it): the comment we
        # just wrote is the newest one on the ticket.
        on_ticket = self.list_comments(ticket_id)
        if not on_ticket:
            raise PermanentError(
                f"zendesk ticket {ticket_id}: comment was sent but no comment id came back"
            )
        newest = max(on_ticket, key=comment_order)
        return newest.id

    def stored_text(self, text: str) -> str:
        """The text as this system gives it back (see the protocol)."""
        return text  # Zendesk keeps the plain body as sent

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        """Comments oldest first: all of them, or those created after `since`."""
        return comments.list_comments(self.http, self.settings.url, ticket_id, since)

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        """Comments newest first, one page at a time (see comments.recent_comments)."""
        return comments.recent_comments(self.http, self.settings.url, ticket_id)

    # ----------------------------------------------------- polling, attachments

    def changes_since(self, since: datetime) -> list[Event]:
        """Tickets updated at or after `since`, from the cursor-based incremental export."""
        return poll.changes_since(self.http, self.settings.name, since, self.clock())

    def fetch_attachment(self, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
        """Stream an attachment's `content_url` into `dest` (credentials only to our host)."""
        return files.fetch(self.http, attachment, dest, max_bytes)

    # ------------------------------------------------------------------ helpers

    def _read(self, ticket_id: str) -> tuple[dict[str, Any], list[Any]]:
        data = self.http.json(
            "GET",
            ticket_path(ticket_id),
            f"get zendesk ticket {ticket_id}",
            params={"include": "users"},
        )
        return _ticket_of(data, f"get ticket {ticket_id}"), _users_of(data)

    def _to_ticket(self, raw: Mapping[str, Any], users: Iterable[Any]) -> Ticket:
        ticket_id = str(raw.get("id"))
        email, name = self._requester(raw.get("requester_id"), users)
        return Ticket(
            ref=SystemRef(self.settings.name, ticket_id),
            subject=str(raw.get("subject") or ""),
            description=str(raw.get("description") or ""),
            status=_lower(raw.get("status")),
            priority=_lower(raw.get("priority")),
            type=_lower(raw.get("type")),
            tags=tuple(str(t) for t in raw.get("tags") or ()),
            fields=_custom_fields(raw),
            requester_email=email,
            requester_name=name,
            external_id=raw.get("external_id"),
            requester_id=_id_or_none(raw.get("requester_id")),
            url=self.ticket_url(ticket_id),
            created_at=time_of(raw.get("created_at")),
            updated_at=time_of(raw.get("updated_at")),
        )

    def _requester(self, requester_id: Any, users: Iterable[Any]) -> tuple[str | None, str | None]:
        """Email and name from sideloaded users; one extra GET only if the sideload lacks them.

        A requester we may not read (deleted, or a 403 for restricted agents) must not make the
        whole ticket unreadable, so a permanent failure of that lookup gives (None, None).
        """
        if requester_id is None:
            return None, None
        for user in users:
            if isinstance(user, Mapping) and str(user.get("id")) == str(requester_id):
                return user.get("email"), user.get("name")
        try:
            data = self.http.json(
                "GET", f"users/{int(requester_id)}", f"get zendesk user {requester_id}"
            )
        except PermanentError:
            return None, None
        user = data.get("user") if isinstance(data, Mapping) else None
        if not isinstance(user, Mapping):
            return None, None
        return user.get("email"), user.get("name")


def _field_id(key: Any) -> int:
    text = str(key).strip()
    if not text.isdigit() or not text.isascii():
        raise PermanentError(f"custom field key {key!r} is not a Zendesk ticket field id")
    return int(text)


def _ticket_of(data: Any, what: str) -> dict[str, Any]:
    ticket = data.get("ticket") if isinstance(data, Mapping) else None
    if not isinstance(ticket, dict):
        raise PermanentError(f"zendesk {what}: answer has no `ticket` object")
    return ticket


def _users_of(data: Any) -> list[Any]:
    users = data.get("users") if isinstance(data, Mapping) else None
    return list(users) if isinstance(users, list) else []


def _custom_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(item["id"]): item.get("value")
        for item in raw.get("custom_fields") or ()
        if isinstance(item, Mapping) and "id" in item
    }


def _same_value(current: Any, wanted: Any) -> bool:
    """Zendesk returns numeric fields as numbers or strings; mappings produce strings."""
    if current == wanted:
        return True
    scalar = (str, int, float)
    return (
        isinstance(current, scalar)
        and isinstance(wanted, scalar)
        and not isinstance(current, bool)
        and not isinstance(wanted, bool)
        and str(current) == str(wanted)
    )


def _lower(value: Any) -> str | None:
    return str(value).lower() if value not in (None, "") else None


def _id_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None
