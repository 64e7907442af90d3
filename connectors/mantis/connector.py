"""MantisBT as a ticket system the bridge can read and write.

MantisBT has no webhooks, so it is polled (`changes_since`), and the webhook half of the
protocol refuses politely. Writes re-read first and send only what differs, because every PATCH
adds history entries that vendor developers see and that the next poll would read as a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from bridge.errors import BridgeError, PayloadError, PermanentError
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
from connectors.mantis import check, files, guards, poll
from connectors.mantis.bodies import body_with_files, field_value, object_ref
from connectors.mantis.client import REST
from connectors.mantis.config import MantisAuth, MantisOptions
from connectors.mantis.enums import EnumKind, MantisEnums, load_enums
from connectors.mantis.parse import (
    custom_field_ids,
    custom_field_values,
    identity_of,
    notes_of,
    parse_issue,
)

log = logging.getLogger(__name__)

NO_WEBHOOKS = "MantisBT has no webhooks; it is polled"
# How far back to look for an issue the server created before refusing its file: the
# server's clock and ours may differ a little.
FIND_CREATED_SLACK = timedelta(minutes=10)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MantisConnector:
    """The `bridge.protocol.Connector` for MantisBT's REST API (2.x)."""

    kind = "mantis"
    title = "MantisBT"
    capabilities = frozenset(
        {
            Capability.POLLING,
            Capability.ATTACHMENTS,
            Capability.FIND_CREATED,
            Capability.READS_TOGETHER,
        }
    )
    auth_schema = MantisAuth
    options_schema = MantisOptions
    # A stock PHP's upload_max_filesize; the site's max_file_size narrows it further.
    limits = Limits(max_attachment_bytes=guards.DEFAULT_MAX_ATTACHMENT_BYTES)
    # `feedback`: the developer asked the reporter. MantisBT stands on the second level only.
    statuses = SideStatuses(None, frozenset({"feedback"}), None, "feedback", None)
    hooks = frozenset({Hook.BEFORE_REQUEST, Hook.OBSERVE_REQUEST})
    sandbox = "bridge.sandbox.drivers:MantisDriver"

    def __init__(
        self,
        settings: SystemSettings,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] = _utc_now,
        enums: MantisEnums | None = None,
        *,
        hooks: Hooks | None = None,
    ) -> None:
        """`enums` may be given (tests, a check that read them already); otherwise they are
        read from the site on first use."""
        self.settings = settings
        self.clock = clock
        self._enums: MantisEnums | None = enums
        self.http = http if http is not None else REST.client(settings, hooks=hooks)
        self.api_url = REST.base_url(settings)
        options = settings.options or {}
        ext = options.get("external_id_field")
        self.external_id_field: str | None = str(ext) if ext else None
        self.poll_projects = poll.project_ids(options.get("projects"), settings.name)
        self.poll_history = bool(options.get("poll_history", False))
        self.poll_page_size = int(options.get("poll_page_size", 50))

    # -- identity and the online check ----------------------------------------------------

    def whoami(self) -> Identity:
        return identity_of(self.http.json("GET", "users/me", "check mantis credentials"))

    def check_usage(self, usage: Usage, enums_only: bool = False) -> list[Finding]:
        return check.check(self, usage, enums_only)

    # -- the site's own lists and limits -------------------------------------------------

    def enums(self) -> MantisEnums:
        """The site's enums and `max_file_size`, read once per connector on first use."""
        if self._enums is None:
            project = str((self.settings.options or {}).get("project") or "")
            self._enums = load_enums(self.http, int(project) if project.isdigit() else None)
        return self._enums

    @property
    def max_attachment_bytes(self) -> int:
        """The largest file this MantisBT takes: `options.max_attachment_bytes` (default 2 MiB,
        a stock PHP's upload_max_filesize), never above the site's `max_file_size`."""
        limit = attachment_limit(self.settings, self.limits)
        try:
            site = self.enums().max_file_size
        except BridgeError as exc:
            # Asked while the *source's* files are fetched: a failure here must not be taken
            # for the source's. The write itself reads the enums again and fails as this system.
            log.warning(
                "mantis: %s: file limit without max_file_size (%s)", self.settings.name, exc
            )
            return limit
        return min(limit, site) if site else limit

    def _check_enum(self, kind: EnumKind, ref: Mapping[str, Any]) -> None:
        """A name the site does not have is never sent (MantisBT would store it as @0@)."""
        self.enums().check(kind, ref, self.settings.name)

    def _bridge_id(self) -> str | None:
        return str(self.settings.bridge_user) if self.settings.bridge_user else None

    # -- webhooks: none ------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        """Anything posted to a Mantis webhook URL is not from Mantis: refuse it."""
        raise PayloadError(NO_WEBHOOKS)

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        raise PayloadError(NO_WEBHOOKS)

    # -- reading -------------------------------------------------------------------------

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.settings.url.rstrip('/')}/view.php?id={ticket_id}"

    def _fetch_issue(self, ticket_id: str, select: str | None = None) -> dict[str, Any]:
        """One raw issue. `GET /issues/{id}` answers with a list even for one id."""
        params = {"select": select} if select else None
        data = self.http.json(
            "GET", f"issues/{ticket_id}", f"get MantisBT issue {ticket_id}", params=params
        )
        issues = data.get("issues") if isinstance(data, Mapping) else None
        if not issues:
            raise PermanentError(f"MantisBT issue {ticket_id} not found", status=404)
        issue: dict[str, Any] = issues[0]
        return issue

    def _ticket(self, issue: Mapping[str, Any]) -> Ticket:
        return parse_issue(issue, self.settings.name, self.settings.url, self.external_id_field)

    def get_ticket(self, ticket_id: str) -> Ticket:
        return self._ticket(self._fetch_issue(ticket_id))

    def stored_text(self, text: str) -> str:
        """The text as this system gives it back (see the protocol)."""
        return guards.stored_form(text)

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        """Notes of type "note" (timelog and reminder entries are not conversation).

        Mantis has no notes endpoint; `select=id,notes` keeps the issue read cheap.
        """
        return notes_of(
            self._fetch_issue(ticket_id, select="id,notes"), self.api_url, ticket_id, since
        )

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        """Newest first; the one issue read carries every note, so nothing is saved by
        stopping early but the parsing."""
        return reversed(self.list_comments(ticket_id))

    def get_ticket_and_comments(
        self, ticket_id: str, since: datetime | None = None
    ) -> tuple[Ticket, list[Comment]]:
        """The full issue carries its notes: one GET instead of two per sync."""
        issue = self._fetch_issue(ticket_id)
        return self._ticket(issue), notes_of(issue, self.api_url, ticket_id, since)

    def changes_since(self, since: datetime) -> list[Event]:
        """Issues updated at or after `since` in `options.projects` (default: all visible).

        `options.poll_history: true` also selects history, to fill `actor_id` (costly);
        `options.poll_page_size` sets `page_size` (default 50, Mantis's own default)."""
        return poll.changes_since(
            self.http,
            self.settings.name,
            since,
            self.poll_projects,
            page_size=self.poll_page_size,
            with_history=self.poll_history,
        )

    def fetch_attachment(self, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
        """Download a file via `GET /issues/{id}/files/{file_id}` (base64 JSON) into `dest`."""
        return files.fetch(self.http, attachment, dest, max_bytes)

    def find_created(self, source_url: str, since: datetime, page_size: int = 50) -> Ticket | None:
        """The issue the bridge user reported from `source_url` after `since`, if any.

        Used after a create whose answer never came (timeout, 502): the issue may exist, and
        creating it again would duplicate it (see poll.created_from).
        """
        found = poll.created_from(self.http, source_url, since, page_size)
        return None if found is None else self.get_ticket(found)

    # -- writing -------------------------------------------------------------------------

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        """`POST /issues`; project/category/severity fall back to the system's options."""
        options = self.settings.options or {}
        project = draft.project or options.get("project")
        if not project:
            raise PermanentError(
                f"cannot create a MantisBT issue on {self.settings.name!r}: no project given "
                "(set the route's project or options.project)"
            )
        body: dict[str, Any] = {
            "summary": draft.subject,
            "description": draft.description,
            "project": object_ref(project),
        }
        category = draft.category or options.get("category")
        if category:
            body["category"] = object_ref(category)
        if draft.priority:
            body["priority"] = {"name": draft.priority}
            self._check_enum(EnumKind.PRIORITY, body["priority"])
        if options.get("severity"):
            body["severity"] = object_ref(options["severity"])
            self._check_enum(EnumKind.SEVERITY, body["severity"])
        if draft.source_url:
            # Mantis has no external-link field; the first-level URL goes where developers look.
            body["additional_information"] = f"Escalated from {draft.source_url}"
        if draft.fields:
            body["custom_fields"] = [
                {"field": object_ref(name), "value": field_value(value)}
                for name, value in draft.fields.items()
            ]
        if draft.tags:
            body["tags"] = [{"name": tag} for tag in draft.tags]
        attachments = draft.attachments
        if attachments:
            attachments, notices = guards.within_limit(attachments, self.max_attachment_bytes)
            if notices:
                body["description"] = draft.description + "\n\n" + "\n".join(notices)
        started = self.clock()
        try:
            response = self.http.request(
                "POST", "issues", "create MantisBT issue", **body_with_files(body, attachments)
            )
        except PermanentError as exc:
            name = guards.too_big_refusal(exc)
            if name is None or not draft.source_url:
                raise
            found = self.find_created(draft.source_url, started - FIND_CREATED_SLACK)
            if found is None:
                raise
            log.warning(
                "mantis: %s refused file %s as too big after creating issue %s; the issue "
                "is kept without it (lower options.max_attachment_bytes)",
                self.settings.name,
                name,
                found.ref.id,
            )
            return found
        if response.status_code == 202:
            raise PermanentError(
                "MantisBT accepted the issue for moderation instead of creating it; the bridge "
                "user must not be moderated (give it a higher access level)",
                status=202,
            )
        data = response.json() if response.content else {}
        issue = data.get("issue") if isinstance(data, Mapping) else None
        if not issue:
            raise PermanentError(
                f"create MantisBT issue: {response.status_code} without an issue in the answer",
                status=response.status_code,
            )
        guards.refuse_unknown_values(issue, body, "create MantisBT issue", str(issue.get("id")))
        return self._ticket(issue)

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        """Re-read, then PATCH only the fields that differ (or nothing at all).

        MantisBT has no external id; `external_id` is written to the custom field named in
        `options.external_id_field`, or ignored when that option is not set.
        """
        if changes.status is not None:
            self._check_enum(EnumKind.STATUS, {"name": changes.status})
        if changes.priority is not None:
            self._check_enum(EnumKind.PRIORITY, {"name": changes.priority})
        issue = self._fetch_issue(ticket_id)
        current = self._ticket(issue)
        patch: dict[str, Any] = {}
        if changes.status is not None and changes.status != current.status:
            patch["status"] = {"name": changes.status}
        if changes.priority is not None and changes.priority != current.priority:
            patch["priority"] = {"name": changes.priority}

        wanted: dict[str, Any] = dict(changes.fields)
        if changes.external_id is not None:
            if self.external_id_field:
                wanted[self.external_id_field] = changes.external_id
            else:
                log.debug("mantis: no external_id_field configured; external_id not written")
        values = custom_field_values(issue)
        names_by_id = custom_field_ids(issue)
        custom_fields = []
        for key, value in wanted.items():
            name = names_by_id.get(str(key), str(key))
            if values.get(name) == field_value(value):
                continue
            custom_fields.append({"field": object_ref(key), "value": field_value(value)})
        if custom_fields:
            patch["custom_fields"] = custom_fields

        if not patch:
            return current
        what = f"update MantisBT issue {ticket_id}"
        try:
            data = self.http.json("PATCH", f"issues/{ticket_id}", what, json=patch)
        except PermanentError as exc:
            if guards.read_only_refusal(exc):
                raise guards.explain_read_only(self.http, ticket_id, issue) from exc
            raise
        issues = data.get("issues") if isinstance(data, Mapping) else None
        if issues:
            guards.refuse_unknown_values(issues[0], patch, what, ticket_id)
            return self._ticket(issues[0])
        return self.get_ticket(ticket_id)

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        """`POST /issues/{id}/notes`; returns the note id the bridge remembers (no echo)."""
        text = comment.body
        attachments = comment.attachments
        if attachments:
            attachments, notices = guards.within_limit(attachments, self.max_attachment_bytes)
            if notices:
                text = text + "\n\n" + "\n".join(notices)
        body: dict[str, Any] = {
            "text": text,
            "view_state": {"name": "public" if comment.public else "private"},
        }
        try:
            data = self.http.json(
                "POST",
                f"issues/{ticket_id}/notes",
                f"add note to MantisBT issue {ticket_id}",
                **body_with_files(body, attachments),
            )
        except PermanentError as exc:
            if guards.read_only_refusal(exc):
                raise guards.explain_read_only(self.http, ticket_id, None) from exc
            name = guards.too_big_refusal(exc)
            if name is None:
                raise
            issue = self._fetch_issue(ticket_id, select="id,notes")
            guards.note_kept_without_file(
                issue, ticket_id, text, name, exc, self._bridge_id(), self.settings.name
            )
        note = data.get("note") if isinstance(data, Mapping) else None
        if not isinstance(note, Mapping) or note.get("id") is None:
            raise PermanentError(f"add note to MantisBT issue {ticket_id}: no note id returned")
        return str(note["id"])
