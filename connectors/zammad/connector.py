"""The Zammad connector: translates between Zammad REST v1 JSON and the neutral model.

All HTTP goes through connectors.http.HttpClient, so failures already arrive as the bridge's
error tree. This module adds what is Zammad-specific: instance-defined states and priorities
resolved by name, articles as comments (inline base64 attachments), custom attributes as
top-level ticket keys, Elasticsearch-backed search for polling and lost-create recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from bridge.errors import PermanentError
from bridge.findings import Finding, Usage
from bridge.models import (
    Attachment,
    Comment,
    Event,
    NewComment,
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
from connectors.zammad import articles, check, parse, search, webhook
from connectors.zammad.client import REST
from connectors.zammad.config import ZammadAuth, ZammadOptions
from connectors.zammad.lookups import Lookups

log = logging.getLogger(__name__)


class ZammadConnector:
    """One configured Zammad instance, usable on either side of a route."""

    kind = "zammad"
    title = "Zammad"
    capabilities = frozenset(
        {
            Capability.WEBHOOKS,
            Capability.POLLING,
            Capability.ATTACHMENTS,
            Capability.FIND_CREATED,
        }
    )
    auth_schema = ZammadAuth
    options_schema = ZammadOptions
    # Zammad takes larger files; 5 MiB keeps inline base64 articles of a sane size.
    limits = Limits(max_attachment_bytes=5 * 1024 * 1024)
    # A fresh Zammad's states; Zammad has no "waiting on a third party" state, so `open`.
    statuses = SideStatuses(
        None, frozenset({"pending reminder", "pending close"}), "open", "pending reminder", "open"
    )
    hooks = frozenset({Hook.BEFORE_REQUEST, Hook.OBSERVE_REQUEST})
    sandbox = "bridge.sandbox.zammad_driver:ZammadDriver"

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
        self.api_url = REST.base_url(settings)
        options = settings.options or {}
        ext = options.get("external_id_field")
        self.external_id_field: str | None = str(ext) if ext else None
        self.lookups = Lookups(self.http, settings.name)

    @property
    def max_attachment_bytes(self) -> int:
        return attachment_limit(self.settings, self.limits)

    # ----------------------------------------------------------------- identity, check

    def whoami(self) -> Identity:
        data = self.http.json("GET", "users/me", "check zammad credentials")
        me = data if isinstance(data, dict) else {}
        name = " ".join(str(me.get(k) or "") for k in ("firstname", "lastname")).strip()
        label = name or str(me.get("login") or "")
        return Identity(None if me.get("id") is None else str(me["id"]), label)

    def check_usage(self, usage: Usage, enums_only: bool = False) -> list[Finding]:
        return check.check(self, usage, enums_only)

    # ----------------------------------------------------------------- webhooks

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        webhook.verify_signature(
            headers, raw_body, self.settings.webhook_secret, self.settings.name
        )

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        return webhook.parse_events(headers, raw_body, self.settings.name)

    # ------------------------------------------------------------------ reading

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.settings.url.rstrip('/')}/#ticket/zoom/{ticket_id}"

    def get_ticket(self, ticket_id: str) -> Ticket:
        """`expand=true` gives state and priority names next to their ids; the description
        (the first article alone, see _description), the customer's email/name and the tags
        each cost one more call."""
        return self._read(ticket_id)[1]

    def stored_text(self, text: str) -> str:
        """The text as this system gives it back (see the protocol)."""
        return text  # Zammad keeps any UTF-8

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        """All articles, oldest first, the first one (the description) included.

        Zammad has no paging on this endpoint: one request carries every article. `since`
        filters on `created_at` (exclusive), before the older articles are parsed any further.
        """
        since = parse.utc(since) if since is not None else None
        number = str(parse.ticket_number(ticket_id))
        comments = []
        for article in articles.articles(self.http, ticket_id):
            if since is not None:
                created = parse.time_of(article.get("created_at"))
                if created is None or created <= since:
                    continue
            comments.append(parse.parse_article(article, self.api_url, number))
        return comments

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        """Newest first (one request carries every article, so stopping early saves only the
        parsing)."""
        number = str(parse.ticket_number(ticket_id))
        for article in reversed(articles.articles(self.http, ticket_id)):
            yield parse.parse_article(article, self.api_url, number)

    def changes_since(self, since: datetime) -> list[Event]:
        """Tickets updated at or after `since`, newest first, as TICKET_UPDATED events."""
        return search.changes_since(self.http, self.settings.name, since)

    def find_created(self, source_url: str, since: datetime) -> Ticket | None:
        """The ticket the bridge user created from `source_url` after `since`, if any.

        Used after a create whose answer never came (see search.created_from).
        """
        bridge_user = str(self.settings.bridge_user or "").strip()
        found = search.created_from(self.http, source_url, since, bridge_user)
        return None if found is None else self.get_ticket(found)

    def fetch_attachment(self, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
        """Stream an article attachment into `dest`, refusing files over `max_bytes`.

        Only URLs on the configured host get the token, and Zammad serves its files itself, so
        another host is refused: a webhook payload's attachment URL is built from Zammad's
        `fqdn` setting and could name any host.
        """
        if not attachment.url:
            raise PermanentError(f"attachment {attachment.filename!r} has no download URL")
        what = f"download zammad attachment {attachment.filename!r}"
        return self.http.download(attachment.url, dest, max_bytes, what, size=attachment.size)

    # ------------------------------------------------------------------ writing

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        """`POST /tickets` with the first article; never retried after a lost answer.

        The group is the draft's `project` (Zammad's nearest counterpart) or `options.group`
        (default "Users"); the customer is `options.customer`, the e-mail or id of the user the
        ticket is for. The article is an external note (`type: note`, never
        `email`, which would mail the customer), carrying the source URL so find_created works.
        """
        options = self.settings.options or {}
        customer = options.get("customer")
        if not customer:
            raise PermanentError(
                f"cannot create a zammad ticket on {self.settings.name!r}: options.customer "
                "(e-mail or id of the customer user) is not set"
            )
        attributes = _custom_attributes(draft.fields)
        body_text = draft.description
        if draft.source_url and draft.source_url not in body_text:
            body_text = f"{body_text.rstrip()}\n\nEscalated from {draft.source_url}".lstrip()
        article: dict[str, Any] = {
            "subject": draft.subject,
            "body": body_text,
            "type": "note",
            "internal": False,
            "content_type": "text/plain",
        }
        files = parse.encode_attachments(draft.attachments)
        if files:
            article["attachments"] = files
        body: dict[str, Any] = {
            "title": draft.subject,
            "group": str(draft.project or options.get("group") or "Users"),
            "state_id": self.lookups.id_of("state", "new"),
            "article": article,
        }
        if str(customer).strip().isdigit():
            body["customer_id"] = int(str(customer).strip())
        else:
            body["customer"] = str(customer).strip()
        if draft.priority:
            body["priority_id"] = self.lookups.id_of("priority", draft.priority)
        body.update(attributes)
        if draft.tags:
            body["tags"] = ",".join(draft.tags)
        data = self.http.json(
            "POST", "tickets", "create zammad ticket", params={"expand": "true"}, json=body
        )
        raw = parse.object_with_id(data, "create ticket")
        self._warn_dropped(str(raw.get("id")), attributes, raw)
        return self._ticket(raw, description=body_text, tags=tuple(draft.tags))

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        """Re-read, then `PUT` only what differs (or nothing at all).

        Every PUT runs the instance's triggers and adds history, so writes that are already true
        are skipped. Pending states need a `pending_time` (else 422); one is set
        `options.pending_hours` (default 24) ahead when the ticket has none in the future.
        """
        raw, current = self._read(ticket_id)
        body: dict[str, Any] = {}
        if changes.status is not None and changes.status.strip().lower() != current.status:
            state = self.lookups.find("state", changes.status)
            body["state_id"] = state["id"]
            if str(state.get("name", "")).lower().startswith("pending"):
                pending = parse.time_of(raw.get("pending_time"))
                if pending is None or pending <= self.clock():
                    hours = float((self.settings.options or {}).get("pending_hours", 24))
                    body["pending_time"] = parse.iso(self.clock() + timedelta(hours=hours))
        if changes.priority is not None and changes.priority.strip().lower() != current.priority:
            body["priority_id"] = self.lookups.id_of("priority", changes.priority)
        wanted = _custom_attributes(changes.fields)
        if changes.external_id is not None:
            if self.external_id_field:
                wanted[self.external_id_field] = changes.external_id
            else:
                log.debug("zammad: no external_id_field configured; external_id not written")
        for key, value in wanted.items():
            if not parse.same_value(raw.get(key), value):
                body[key] = value
        if not body:
            return current
        data = self.http.json(
            "PUT",
            f"tickets/{parse.ticket_number(ticket_id)}",
            f"update zammad ticket {ticket_id}",
            params={"expand": "true"},
            json=body,
        )
        answer = parse.object_with_id(data, f"update ticket {ticket_id}")
        self._warn_dropped(ticket_id, body, answer)
        updated = self._ticket(answer)
        return replace(
            updated,
            description=current.description,
            requester_email=current.requester_email,
            requester_name=current.requester_name,
            tags=current.tags,
        )

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        """`POST /ticket_articles` as a note; `internal` is always sent explicitly.

        Not retried inline after a lost answer (POST is not idempotent in HttpClient), so a
        comment is never written twice by this call.
        """
        body: dict[str, Any] = {
            "ticket_id": parse.ticket_number(ticket_id),
            "body": comment.body,
            "type": "note",
            "internal": not comment.public,
            "content_type": "text/plain",
        }
        files = parse.encode_attachments(comment.attachments)
        if files:
            body["attachments"] = files
        data = self.http.json(
            "POST", "ticket_articles", f"add article to zammad ticket {ticket_id}", json=body
        )
        article = parse.object_with_id(data, f"add article to ticket {ticket_id}")
        return str(article["id"])

    # ------------------------------------------------------------------ helpers

    def _read(self, ticket_id: str) -> tuple[dict[str, Any], Ticket]:
        """The raw expanded ticket (for comparing attributes) and the Ticket built from it."""
        data = self.http.json(
            "GET",
            f"tickets/{parse.ticket_number(ticket_id)}",
            f"get zammad ticket {ticket_id}",
            params={"expand": "true"},
        )
        raw = parse.object_with_id(data, f"get ticket {ticket_id}")
        ticket = self._ticket(
            raw,
            description=articles.description(self.http, ticket_id, raw),
            requester=self._user(raw.get("customer_id")),
            tags=self._tags(ticket_id),
        )
        return raw, ticket

    def _warn_dropped(
        self, ticket_id: str, sent: Mapping[str, Any], answer: Mapping[str, Any]
    ) -> None:
        """Zammad drops an attribute it does not know from a write without an error; the
        answer, which carries every attribute of the ticket, shows which ones."""
        for key in sent:
            if key in parse.CORE_TICKET_KEYS or key in answer:
                continue
            what = "link attribute" if key == self.external_id_field else "attribute"
            log.warning(
                "zammad %s: ticket %s has no %s %r (create it under Admin > Objects > "
                "Ticket); the value was not stored",
                self.settings.name,
                ticket_id,
                what,
                key,
            )

    def _user(self, user_id: Any) -> dict[str, Any] | None:
        """The customer; a user we may not read (403, deleted) must not hide the ticket."""
        if user_id in (None, ""):
            return None
        try:
            data = self.http.json("GET", f"users/{int(user_id)}", f"get zammad user {user_id}")
        except PermanentError:
            return None
        return data if isinstance(data, dict) else None

    def _tags(self, ticket_id: str) -> tuple[str, ...]:
        """The ticket's tags; a refused tag read is "no tags" with a warning.

        Tags only feed the escalation rules, so a token without tag rights (or a tag
        endpoint a proxy blocks) must not park every sync of the ticket. A passing fault
        (RetryableError) still propagates: the job retries and reads them then.
        """
        try:
            data = self.http.json(
                "GET",
                "tags",
                f"get tags of zammad ticket {ticket_id}",
                params={"object": "Ticket", "o_id": parse.ticket_number(ticket_id)},
            )
        except PermanentError as exc:
            log.warning(
                "zammad %s: tags of ticket %s not readable, going on without tags: %s",
                self.settings.name,
                ticket_id,
                exc,
            )
            return ()
        tags = data.get("tags") if isinstance(data, Mapping) else None
        return tuple(str(t) for t in tags or ())

    def _ticket(
        self,
        raw: Mapping[str, Any],
        *,
        description: str = "",
        requester: Mapping[str, Any] | None = None,
        tags: tuple[str, ...] = (),
    ) -> Ticket:
        return parse.parse_ticket(
            raw,
            system=self.settings.name,
            url=self.ticket_url(str(raw.get("id"))),
            description=description,
            requester=requester,
            tags=tags,
            external_id_field=self.external_id_field,
        )


def _custom_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Custom attributes are top-level ticket keys, so a core name would overwrite a column."""
    for key in fields:
        if str(key) in parse.CORE_TICKET_KEYS:
            raise PermanentError(f"custom field {key!r} is a core zammad ticket attribute")
    return {str(k): v for k, v in fields.items()}
