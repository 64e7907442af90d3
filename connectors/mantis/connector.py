"""MantisBT as a ticket system the bridge can read and write.

MantisBT has no webhooks, so it is polled (`changes_since`), and the webhook half of the
protocol refuses politely. Writes re-read first and send only what differs, because every PATCH
adds history entries that vendor developers see and that the next poll would read as a change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, BinaryIO

from bridge.errors import PayloadError, PermanentError
from bridge.models import (
    Attachment,
    Comment,
    Event,
    NewComment,
    Ticket,
    TicketChanges,
    TicketDraft,
)
from bridge.protocol import Capability, SystemSettings
from connectors.http import HttpClient
from connectors.mantis import files, poll
from connectors.mantis.client import api_base, build_http_client
from connectors.mantis.files import JsonWithFiles, encode_files, sendable
from connectors.mantis.parse import (
    custom_field_ids,
    custom_field_values,
    parse_issue,
    parse_note,
    parse_time,
)

log = logging.getLogger(__name__)

NO_WEBHOOKS = "MantisBT has no webhooks; it is polled"


def object_ref(value: Any) -> dict[str, Any]:
    """`{"id": n}` for ids (ints or all-digit strings), `{"name": s}` otherwise.

    Settings may also give a ready object such as `{"name": "major"}`, passed through as is.
    """
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return {"id": value}
    text = str(value).strip()
    if text.isdigit():
        return {"id": int(text)}
    return {"name": text}


def field_value(value: Any) -> str:
    """Mantis custom field values are strings; lists are `|`-joined, None clears the field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple | set | frozenset):
        return "|".join(str(v) for v in value)
    return str(value)


def body_with_files(body: Mapping[str, Any], attachments: Iterable[Attachment]) -> dict[str, Any]:
    """requests keyword arguments for a JSON body with inline `files`.

    Files in memory go into a plain `json=` body; as soon as one comes from a local `path`, the
    body is streamed (`JsonWithFiles`) so the file is never read into memory whole.
    """
    kept = sendable(attachments)
    if any(a.content is None for a in kept):
        return {"data": JsonWithFiles(body, kept), "headers": {"Content-Type": "application/json"}}
    files = encode_files(kept)
    return {"json": {**body, "files": files} if files else dict(body)}


class MantisConnector:
    """The `bridge.protocol.Connector` for MantisBT's REST API (2.x)."""

    kind = "mantis"
    capabilities = frozenset(
        {
            Capability.POLLING,
            Capability.ATTACHMENTS,
            Capability.FIND_CREATED,
            Capability.READS_TOGETHER,
        }
    )

    def __init__(self, settings: SystemSettings, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.http = http if http is not None else build_http_client(settings)
        self.api_url = api_base(settings)
        options = settings.options or {}
        ext = options.get("external_id_field")
        self.external_id_field: str | None = str(ext) if ext else None
        self.poll_projects = poll.project_ids(options.get("projects"), settings.name)
        self.poll_history = bool(options.get("poll_history", False))
        self.poll_page_size = int(options.get("poll_page_size", 50))

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

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        """Notes of type "note" (timelog and reminder entries are not conversation).

        Mantis has no notes endpoint; `select=id,notes` keeps the issue read cheap.
        """
        return self._notes(self._fetch_issue(ticket_id, select="id,notes"), ticket_id, since)

    def get_ticket_and_comments(self, ticket_id: str) -> tuple[Ticket, list[Comment]]:
        """The full issue carries its notes: one GET instead of two per sync."""
        issue = self._fetch_issue(ticket_id)
        return self._ticket(issue), self._notes(issue, ticket_id)

    def _notes(
        self, issue: Mapping[str, Any], ticket_id: str, since: datetime | None = None
    ) -> list[Comment]:
        comments = []
        for note in issue.get("notes") or ():
            if note.get("type", "note") != "note":
                continue
            comment = parse_note(note, self.api_url, str(ticket_id))
            if since is not None and (comment.created_at is None or comment.created_at <= since):
                continue
            comments.append(comment)
        comments.sort(key=lambda c: (c.created_at is None, c.created_at, _int_or_str(c.id)))
        return comments

    def list_changed(
        self, project_id: int | str, since: datetime, page_size: int = 50
    ) -> list[tuple[str, datetime]]:
        """`(issue id, updated_at)` of one project's issues updated at or after `since`,
        newest first (see `connectors.mantis.poll` for when the walk stops)."""
        params = {"project_id": project_id, "select": "id,updated_at"}
        issues = poll.updated_since(
            self.http, params, since, page_size, f"list MantisBT issues of project {project_id}"
        )
        changed = []
        for issue in issues:
            updated = parse_time(issue.get("updated_at"))
            if updated is not None:
                changed.append((str(issue["id"]), updated))
        return changed

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
        creating it again would duplicate it. `filter_id=reported` lists the token user's own
        issues, newest update first; the source URL is in `additional_information`.
        """
        params = {
            "filter_id": "reported",
            "select": "id,updated_at,additional_information,description",
        }
        issues = poll.updated_since(
            self.http, params, since, page_size, "look for an issue the bridge created"
        )
        for issue in issues:
            text = f"{issue.get('additional_information', '')}\n{issue.get('description', '')}"
            if source_url in text:
                return self.get_ticket(str(issue["id"]))
        return None

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
        if options.get("severity"):
            body["severity"] = object_ref(options["severity"])
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
        response = self.http.request(
            "POST", "issues", "create MantisBT issue", **body_with_files(body, draft.attachments)
        )
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
        return self._ticket(issue)

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        """Re-read, then PATCH only the fields that differ (or nothing at all).

        MantisBT has no external id; `external_id` is written to the custom field named in
        `options.external_id_field`, or ignored when that option is not set.
        """
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
        data = self.http.json(
            "PATCH", f"issues/{ticket_id}", f"update MantisBT issue {ticket_id}", json=patch
        )
        issues = data.get("issues") if isinstance(data, Mapping) else None
        if issues:
            return self._ticket(issues[0])
        return self.get_ticket(ticket_id)

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        """`POST /issues/{id}/notes`; returns the note id the bridge remembers (no echo)."""
        body: dict[str, Any] = {
            "text": comment.body,
            "view_state": {"name": "public" if comment.public else "private"},
        }
        data = self.http.json(
            "POST",
            f"issues/{ticket_id}/notes",
            f"add note to MantisBT issue {ticket_id}",
            **body_with_files(body, comment.attachments),
        )
        note = data.get("note") if isinstance(data, Mapping) else None
        if not isinstance(note, Mapping) or note.get("id") is None:
            raise PermanentError(f"add note to MantisBT issue {ticket_id}: no note id returned")
        return str(note["id"])


def _int_or_str(value: str) -> tuple[int, str]:
    """Sort key: numeric ids numerically, anything else after them by text."""
    return (int(value), "") if value.isdigit() else (1 << 62, value)
