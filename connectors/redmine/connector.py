"""Redmine (5.x) as a ticket system the bridge can read and write, through its REST API.

Issues are tickets, journals with notes are comments (`private_notes` ones are internal),
statuses, priorities, trackers and projects are site data resolved by name, custom fields are
written by id. Redmine has no webhooks, so it is polled by `updated_on`. What a real Redmine does
that the bridge must decide explicitly (tests/redmine runs against one):

* Writes answer 204 with no body: a note's journal id is read back from the issue.
* A status the workflow does not allow the bridge user's role, or an unknown id, is dropped
  without an error (still 204): the status is read back and a refusal says what to allow.
* `private_notes` is dropped without an error when the role may not set notes private, and the
  note is then public: an internal note is refused before it is written instead.
* A tracker the project does not have is replaced by the project's default one: the tracker is
  checked against the project's before the issue is created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

from bridge.errors import PayloadError, PermanentError, RetryableError
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
from connectors.redmine import check, files, poll
from connectors.redmine.client import PAGE_SIZE, REST
from connectors.redmine.config import RedmineAuth, RedmineOptions
from connectors.redmine.lookups import Kind, Lookups
from connectors.redmine.parse import comments_of, custom_fields, identity_of, parse_issue

log = logging.getLogger(__name__)

NO_WEBHOOKS = "Redmine has no webhooks; it is polled"
READ = {"include": "journals,attachments"}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RedmineConnector:
    """The `bridge.protocol.Connector` for Redmine's REST API (JSON)."""

    kind = "redmine"
    title = "Redmine"
    capabilities = frozenset(
        {
            Capability.POLLING,
            Capability.ATTACHMENTS,
            Capability.FIND_CREATED,
            Capability.READS_TOGETHER,  # an issue read with include=journals has its comments
        }
    )
    auth_schema = RedmineAuth
    options_schema = RedmineOptions
    # Redmine's default attachment_max_size (5120 KB); a site that allows more or less says so
    # in options.max_attachment_bytes (the setting is not readable through the API).
    limits = Limits(max_attachment_bytes=5 * 1024 * 1024)
    # A fresh Redmine's "Feedback" waits on the reporter. Redmine stands on the second level.
    statuses = SideStatuses(None, frozenset({"feedback"}), None, "feedback", None)
    hooks = frozenset({Hook.BEFORE_REQUEST, Hook.OBSERVE_REQUEST})
    sandbox = None  # tested against a real Redmine from Debian's packages (tests/redmine)

    def __init__(
        self,
        settings: SystemSettings,
        http: HttpClient | None = None,
        clock: Callable[[], datetime] = _utc_now,
        *,
        hooks: Hooks | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.http = http if http is not None else REST.client(settings, hooks=hooks)
        self.base = REST.base_url(settings)
        options = settings.options or {}
        ext = options.get("external_id_field")
        self.external_id_field: str | None = str(ext) if ext else None
        self.poll_projects = [str(p) for p in options.get("projects") or []]
        self.poll_page_size = int(options.get("poll_page_size", PAGE_SIZE))
        self.lookups = Lookups(self.http, settings.name)

    @property
    def max_attachment_bytes(self) -> int:
        return attachment_limit(self.settings, self.limits)

    # -- identity and the online check ----------------------------------------------------

    def whoami(self) -> Identity:
        return identity_of(self.http.json("GET", "users/current.json", "check redmine key"))

    def check_usage(self, usage: Usage, enums_only: bool = False) -> list[Finding]:
        return check.check(self, usage, enums_only)

    # -- webhooks: none --------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        """Anything posted to a Redmine webhook URL is not from Redmine: refuse it."""
        raise PayloadError(NO_WEBHOOKS)

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        raise PayloadError(NO_WEBHOOKS)

    # -- reading ---------------------------------------------------------------------------

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.base}/issues/{ticket_id}"

    def _issue(self, ticket_id: str) -> dict[str, Any]:
        data = self.http.json(
            "GET", f"issues/{ticket_id}.json", f"read redmine issue {ticket_id}", params=READ
        )
        issue = data.get("issue") if isinstance(data, Mapping) else None
        if not isinstance(issue, dict):
            raise PermanentError(f"read redmine issue {ticket_id}: no issue in the answer")
        return issue

    def _ticket(self, issue: Mapping[str, Any]) -> Ticket:
        issue_id = str(issue.get("id"))
        return parse_issue(
            issue, self.settings.name, self.ticket_url(issue_id), self.external_id_field
        )

    def get_ticket(self, ticket_id: str) -> Ticket:
        return self._ticket(self._issue(ticket_id))

    def get_ticket_and_comments(
        self, ticket_id: str, since: datetime | None = None
    ) -> tuple[Ticket, list[Comment]]:
        issue = self._issue(ticket_id)
        return self._ticket(issue), comments_of(issue, self.base, since)

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        """Journals with notes or files, oldest first; `since` is exclusive. Redmine does not
        page journals: one issue read carries them all."""
        return comments_of(self._issue(ticket_id), self.base, since)

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        """Newest first (one issue read carries every journal, so stopping early saves only
        the parsing)."""
        return reversed(self.list_comments(ticket_id))

    def stored_text(self, text: str) -> str:
        """Redmine keeps notes as sent (line ends and trailing space included)."""
        return text

    def changes_since(self, since: datetime) -> list[Event]:
        """Issues updated at or after `since` in `options.projects` (default: all visible)."""
        return poll.changes_since(
            self.http, self.settings.name, since, self.poll_projects, self.poll_page_size
        )

    def fetch_attachment(self, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
        return files.fetch(self.http, attachment, dest, max_bytes)

    def find_created(self, source_url: str, since: datetime) -> Ticket | None:
        """The issue the bridge user created from `source_url` after `since`, if any: after a
        create whose answer never came, creating it again would duplicate it."""
        for issue in poll.created_by_me(self.http, since, self.poll_page_size):
            if poll.links_to(str(issue.get("description") or ""), source_url):
                return self.get_ticket(str(issue["id"]))
        return None

    # -- writing ---------------------------------------------------------------------------

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        """`POST /issues.json` into the route's project (else `options.project`); the mapping's
        category is the tracker (else `options.tracker`, else the project's first)."""
        options = self.settings.options or {}
        project = draft.project or options.get("project")
        if not project:
            raise PermanentError(
                f"cannot create a Redmine issue on {self.settings.name!r}: no project given "
                "(set the route's target.project or options.project)"
            )
        project_id = self.lookups.id_of(Kind.PROJECT, str(project))
        body: dict[str, Any] = {
            "project_id": project_id,
            "subject": draft.subject,
            "description": draft.description,
        }
        tracker = draft.category or options.get("tracker")
        if tracker:
            body["tracker_id"] = self.lookups.tracker_in(project_id, str(tracker))
        if draft.priority:
            body["priority_id"] = self.lookups.id_of(Kind.PRIORITY, draft.priority)
        if draft.fields:
            body["custom_fields"] = [
                {"id": _field_id(key), "value": value} for key, value in draft.fields.items()
            ]
        if draft.tags:
            log.debug("redmine: issues have no tags; %s not written", ", ".join(draft.tags))
        uploads = files.upload_all(self.http, draft.attachments)
        if uploads:
            body["uploads"] = uploads
        data = self.http.json("POST", "issues.json", "create redmine issue", json={"issue": body})
        issue = data.get("issue") if isinstance(data, Mapping) else None
        if not isinstance(issue, dict) or issue.get("id") is None:
            raise PermanentError("create redmine issue: no issue in the answer")
        return self._ticket(issue)

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        """Re-read, then `PUT` only what differs (every PUT is a journal developers see), then
        read back: Redmine answers 204 even when its workflow dropped the status."""
        issue = self._issue(ticket_id)
        current = self._ticket(issue)
        body: dict[str, Any] = {}
        if changes.status is not None and changes.status.lower() != current.status:
            body["status_id"] = self.lookups.id_of(Kind.STATUS, changes.status)
        if changes.priority is not None and changes.priority.lower() != current.priority:
            body["priority_id"] = self.lookups.id_of(Kind.PRIORITY, changes.priority)
        wanted: dict[str, Any] = dict(changes.fields)
        if changes.external_id is not None:
            if self.external_id_field:
                wanted[self.external_id_field] = changes.external_id
            else:
                log.debug("redmine: no external_id_field configured; external_id not written")
        values = custom_fields(issue)
        fields = [
            {"id": _field_id(key), "value": value}
            for key, value in wanted.items()
            if not _same(values.get(str(key).strip()), value)
        ]
        if fields:
            body["custom_fields"] = fields
        if not body:
            return current
        what = f"update redmine issue {ticket_id}"
        self.http.json("PUT", f"issues/{ticket_id}.json", what, json={"issue": body})
        after = self.get_ticket(ticket_id)
        asked = (
            ("status", "status_id", after.status, changes.status),
            ("priority", "priority_id", after.priority, changes.priority),
        )
        for attr, key, got, name in asked:
            if key in body and name is not None and got != name.lower():
                raise PermanentError(
                    f"{what}: Redmine kept {attr} {got!r} instead of {name!r}: its workflow "
                    "does not let the bridge user's role make this change (Administration > "
                    "Workflow, for the issue's tracker)",
                    status=422,
                )
        return after

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        """A journal with the note (private unless public) and its files; returns the journal
        id, read back from the issue (Redmine's answer is an empty 204)."""
        what = f"add note to redmine issue {ticket_id}"
        if not comment.public:
            project = self._issue(ticket_id).get("project")
            project_id = str(project.get("id")) if isinstance(project, Mapping) else ""
            if not self.lookups.may_write_private(project_id):
                raise PermanentError(
                    f"{what}: the bridge user's role may not set notes private in this project, "
                    "so Redmine would publish this internal note: grant the role 'Set notes as "
                    "private' (Administration > Roles and permissions)",
                    status=403,
                )
        body: dict[str, Any] = {"notes": comment.body, "private_notes": not comment.public}
        uploads = files.upload_all(self.http, comment.attachments)
        if uploads:
            body["uploads"] = uploads
        self.http.json(
            "PUT", f"issues/{ticket_id}.json", what, idempotent=False, json={"issue": body}
        )
        found = self._own_journal(ticket_id, comment.body)
        if found is None:
            # The write was accepted; only its id is unknown. The caller looks for the note
            # before writing it again.
            raise RetryableError(f"{what}: written, but no such note found on reading back",
                                 maybe_applied=True)  # fmt: skip
        return found

    def _own_journal(self, ticket_id: str, text: str) -> str | None:
        """The newest journal of the bridge user with exactly this note."""
        wanted = self.stored_text(text)
        mine = self.settings.bridge_user
        for comment in reversed(comments_of(self._issue(ticket_id), self.base)):
            if comment.body == wanted and (not mine or comment.author_id == str(mine)):
                return comment.id
        return None


def _field_id(key: Any) -> int:
    text = str(key).strip()
    if not text.isdigit():
        raise PermanentError(
            f"redmine custom fields are written by id; {key!r} is not one (the field's id is in "
            "Administration > Custom fields, in the link of the field)",
            status=422,
        )
    return int(text)


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(current, list) or isinstance(wanted, list):
        as_list = [current] if not isinstance(current, list) else current
        wanted_list = [wanted] if not isinstance(wanted, list) else wanted
        return sorted(map(str, as_list)) == sorted(map(str, wanted_list))
    return ("" if current is None else str(current)) == ("" if wanted is None else str(wanted))
