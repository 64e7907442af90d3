"""MantisBT JSON -> neutral model.

Mantis drops null fields and empty arrays from the top level of an issue, localizes enum
`label`s and stamps times with the server's own offset; everything here therefore treats absent
keys as normal, maps enums on `name`, and turns every timestamp into aware UTC so comparisons
with other systems' times are meaningful.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.models import Attachment, Comment, SystemRef, Ticket
from bridge.protocol import Identity
from connectors.common import parse_utc

# Default MantisBT codes (core/constant_inc.php); only a fallback when an enum object arrives
# without `name` (never seen in 2.x, but cheap insurance against a partial `select`).
STATUS_NAMES = {
    10: "new",
    20: "feedback",
    30: "acknowledged",
    40: "confirmed",
    50: "assigned",
    80: "resolved",
    90: "closed",
}
PRIORITY_NAMES = {10: "none", 20: "low", 30: "normal", 40: "high", 50: "urgent", 60: "immediate"}


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 with any offset -> aware UTC; None for anything that is not a usable time
    (a value out of range once in UTC included: a record cannot be placed by it)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_utc(value)
    except ValueError:  # TimeOutOfRange is one
        return None


def enum_name(value: Any, fallback: Mapping[int, str] | None = None) -> str | None:
    """The configured `name` of an enum object (`label` is localized and must not be used)."""
    if not isinstance(value, Mapping):
        return None
    name = value.get("name")
    if name:
        return str(name)
    if fallback is not None and isinstance(value.get("id"), int):
        return fallback.get(value["id"])
    return None


def ref_name(value: Any) -> str | None:
    """`name` of a `{id, name}` reference such as category or project."""
    if isinstance(value, Mapping) and value.get("name") is not None:
        return str(value["name"])
    return None


def custom_field_values(issue: Mapping[str, Any]) -> dict[str, str]:
    """`{field name: value}`; Mantis values are strings already (multi-value joined by `|`)."""
    values: dict[str, str] = {}
    for entry in issue.get("custom_fields") or ():
        field = entry.get("field") or {}
        name = field.get("name")
        if name is None:
            continue
        value = entry.get("value")
        values[str(name)] = "" if value is None else str(value)
    return values


def custom_field_ids(issue: Mapping[str, Any]) -> dict[str, str]:
    """`{field id (as str): field name}`, so callers may address fields by id too."""
    ids: dict[str, str] = {}
    for entry in issue.get("custom_fields") or ():
        field = entry.get("field") or {}
        if field.get("id") is not None and field.get("name") is not None:
            ids[str(field["id"])] = str(field["name"])
    return ids


def parse_attachment(data: Mapping[str, Any], api_url: str, issue_id: str) -> Attachment:
    """A file as metadata; `url` is the REST download (needs the token, returns base64 JSON)."""
    file_id = data.get("id")
    size = data.get("size")
    return Attachment(
        filename=str(data.get("filename") or data.get("name") or f"file-{file_id}"),
        content_type=str(data.get("content_type") or "application/octet-stream"),
        size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        url=f"{api_url}/issues/{issue_id}/files/{file_id}" if file_id is not None else None,
        id=str(file_id) if file_id is not None else None,
    )


def parse_note(data: Mapping[str, Any], api_url: str, issue_id: str) -> Comment:
    """A note as a comment; `view_state.name == "public"` decides visibility."""
    reporter = data.get("reporter") or {}
    author_id = reporter.get("id")
    return Comment(
        id=str(data["id"]),
        body=str(data.get("text") or ""),
        public=enum_name(data.get("view_state"), {10: "public", 50: "private"}) != "private",
        author_id=str(author_id) if author_id is not None else None,
        author_name=reporter.get("real_name") or reporter.get("name"),
        created_at=parse_time(data.get("created_at")),
        attachments=tuple(
            parse_attachment(a, api_url, issue_id) for a in data.get("attachments") or ()
        ),
    )


def notes_of(
    issue: Mapping[str, Any], api_url: str, ticket_id: str, since: datetime | None = None
) -> list[Comment]:
    """The issue's notes, oldest first; with `since`, those created after it. The issue
    answer always carries every note, so the older ones are passed over on their time
    alone, before anything else of them is read."""
    comments = []
    for note in issue.get("notes") or ():
        if note.get("type", "note") != "note":
            continue
        if since is not None:
            created = parse_time(note.get("created_at"))
            if created is None or created <= since:
                continue
        comments.append(parse_note(note, api_url, str(ticket_id)))
    comments.sort(key=lambda c: (c.created_at is None, c.created_at, _int_or_str(c.id)))
    return comments


def parse_issue(
    issue: Mapping[str, Any],
    system: str,
    base_url: str,
    external_id_field: str | None = None,
) -> Ticket:
    """A full issue object -> Ticket.

    `updated_by` comes from the newest history entry when the issue carries history, which is
    how the engine can recognise the bridge's own changes on the next poll.
    """
    issue_id = str(issue["id"])
    reporter = issue.get("reporter") or {}
    fields = custom_field_values(issue)
    history = issue.get("history") or []
    last_user = (history[-1].get("user") or {}) if history else {}
    updated_by = last_user.get("id")
    status_changes = [h for h in history if (h.get("field") or {}).get("name") == "status"]
    changed_by = (status_changes[-1].get("user") or {}).get("id") if status_changes else None
    return Ticket(
        ref=SystemRef(system, issue_id),
        subject=str(issue.get("summary") or ""),
        description=str(issue.get("description") or ""),
        status=enum_name(issue.get("status"), STATUS_NAMES),
        priority=enum_name(issue.get("priority"), PRIORITY_NAMES),
        type=ref_name(issue.get("category")),
        tags=tuple(str(t["name"]) for t in issue.get("tags") or () if t.get("name")),
        fields=fields,
        requester_email=reporter.get("email") or None,
        requester_name=reporter.get("real_name") or reporter.get("name") or None,
        external_id=(fields.get(external_id_field) or None) if external_id_field else None,
        url=f"{base_url.rstrip('/')}/view.php?id={issue_id}",
        created_at=parse_time(issue.get("created_at")),
        updated_at=parse_time(issue.get("updated_at")),
        updated_by=str(updated_by) if updated_by is not None else None,
        status_changed_at=(
            parse_time(status_changes[-1].get("created_at")) if status_changes else None
        ),
        status_changed_by=str(changed_by) if changed_by is not None else None,
    )


def identity_of(data: Any) -> Identity:
    """Whom `GET /users/me` says the token belongs to."""
    me = data if isinstance(data, Mapping) else {}
    label = str(me.get("real_name") or me.get("name") or "")
    return Identity(None if me.get("id") is None else str(me["id"]), label)


def _int_or_str(value: str) -> tuple[int, str]:
    """Sort key: numeric ids numerically, anything else after them by text."""
    return (int(value), "") if value.isdigit() else (1 << 62, value)
