"""Redmine JSON to the neutral model: issues with their journals, journals as comments.

Redmine answers with UTC times (`2025-03-04T10:15:00Z`), names objects as `{id, name}` and
keeps a comment's files on the issue: a journal names the files added with it in its
`details` (`property: attachment`, `name: <attachment id>`). A journal without notes and
without files is a field change (a status, a priority), not a comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bridge.models import Attachment, Comment, SystemRef, Ticket
from bridge.protocol import Identity
from connectors.common import parse_utc


def parse_time(value: Any) -> datetime | None:
    try:
        return parse_utc(value)
    except ValueError:
        return None


def name_of(value: Any) -> str | None:
    """The lower-case name of a `{id, name}` object (the vocabulary mappings use)."""
    if isinstance(value, Mapping) and value.get("name") is not None:
        return str(value["name"]).strip().lower()
    return None


def id_of(value: Any) -> str | None:
    if isinstance(value, Mapping) and value.get("id") is not None:
        return str(value["id"])
    return None


def custom_fields(issue: Mapping[str, Any]) -> dict[str, Any]:
    """Custom field values keyed by field id (as a string), as the mappings name them."""
    found: dict[str, Any] = {}
    for item in issue.get("custom_fields") or []:
        if isinstance(item, Mapping) and item.get("id") is not None:
            found[str(item["id"])] = item.get("value")
    return found


def download_url(base: str, attachment_id: Any, filename: str) -> str:
    """Where a file is downloaded from, built on the configured URL: Redmine's own
    `content_url` uses the host name the request came in by (or Setting.host_name), which
    behind a proxy may not be the host the bridge's credentials are meant for."""
    return f"{base}/attachments/download/{attachment_id}/{quote(filename)}"


def attachment_of(raw: Mapping[str, Any], base: str) -> Attachment:
    filename = str(raw.get("filename") or f"attachment-{raw.get('id')}")
    size = raw.get("filesize")
    return Attachment(
        filename=filename,
        content_type=str(raw.get("content_type") or "application/octet-stream"),
        size=int(size) if isinstance(size, int) else None,
        url=download_url(base, raw.get("id"), filename),
        id=str(raw.get("id")),
    )


def _journals(issue: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    journals = [j for j in issue.get("journals") or [] if isinstance(j, Mapping)]
    return sorted(journals, key=lambda j: int(j.get("id") or 0))


def _attachment_ids(journal: Mapping[str, Any]) -> list[str]:
    return [
        str(d.get("name"))
        for d in journal.get("details") or []
        if isinstance(d, Mapping) and d.get("property") == "attachment" and d.get("new_value")
    ]


def comments_of(
    issue: Mapping[str, Any], base: str, since: datetime | None = None
) -> list[Comment]:
    """The issue's journals that carry notes or files, oldest first (`include=journals,
    attachments`); `private_notes` journals are internal comments. With `since`, only those
    created after it: the older ones are passed over on their time alone."""
    files = {
        str(a.get("id")): attachment_of(a, base)
        for a in issue.get("attachments") or []
        if isinstance(a, Mapping)
    }
    comments = []
    for journal in _journals(issue):
        created = parse_time(journal.get("created_on"))
        if since is not None and (created is None or created <= since):
            continue
        notes = str(journal.get("notes") or "")
        attached = tuple(files[i] for i in _attachment_ids(journal) if i in files)
        if not notes and not attached:
            continue
        user = journal.get("user")
        comments.append(
            Comment(
                id=str(journal.get("id")),
                body=notes,
                public=not bool(journal.get("private_notes")),
                author_id=id_of(user),
                author_name=str(user.get("name")) if isinstance(user, Mapping) else None,
                created_at=created,
                attachments=attached,
            )
        )
    return comments


def _status_change(issue: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """When and by whom the status last changed: the newest journal with a status_id detail;
    with none, the status is the one the issue was created with."""
    for journal in reversed(_journals(issue)):
        for detail in journal.get("details") or []:
            if (
                isinstance(detail, Mapping)
                and detail.get("property") == "attr"
                and detail.get("name") == "status_id"
            ):
                return parse_time(journal.get("created_on")), id_of(journal.get("user"))
    return parse_time(issue.get("created_on")), id_of(issue.get("author"))


def parse_issue(
    issue: Mapping[str, Any],
    system: str,
    url: str,
    external_id_field: str | None,
) -> Ticket:
    """An issue read with `include=journals` (who changed it last, when its status moved)."""
    journals = _journals(issue)
    last_by = id_of(journals[-1].get("user")) if journals else id_of(issue.get("author"))
    fields = custom_fields(issue)
    external = fields.get(external_id_field) if external_id_field else None
    changed_at, changed_by = (None, None)
    if "journals" in issue:
        changed_at, changed_by = _status_change(issue)
    return Ticket(
        ref=SystemRef(system, str(issue.get("id"))),
        subject=str(issue.get("subject") or ""),
        description=str(issue.get("description") or ""),
        status=name_of(issue.get("status")),
        priority=name_of(issue.get("priority")),
        type=name_of(issue.get("tracker")),
        fields=fields,
        external_id=str(external) if external else None,
        url=url,
        created_at=parse_time(issue.get("created_on")),
        updated_at=parse_time(issue.get("updated_on")),
        updated_by=last_by if "journals" in issue else None,
        status_changed_at=changed_at,
        status_changed_by=changed_by,
    )


def identity_of(data: Any) -> Identity:
    """Whom `GET /users/current.json` says the API key belongs to."""
    user = data.get("user") if isinstance(data, Mapping) else None
    user = user if isinstance(user, Mapping) else {}
    name = " ".join(str(user.get(k) or "") for k in ("firstname", "lastname")).strip()
    label = name or str(user.get("login") or "")
    return Identity(None if user.get("id") is None else str(user["id"]), label)
