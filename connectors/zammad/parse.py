"""Zammad JSON -> neutral model.

Zammad tickets are flat: core columns, association ids (`state_id`), with `expand=true` the
association names next to them (`"state": "open"`, `"priority": "2 normal"`), and every custom
attribute as another top-level key. So custom fields are "every key that is not core", which is
why the core keys are listed here in one place.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.errors import PermanentError
from bridge.models import Attachment, Comment, SystemRef, Ticket
from connectors.common import parse_utc as parse_time

log = logging.getLogger(__name__)
B64_CHUNK = 3 * 16 * 1024  # a multiple of 3, so chunks encode without padding in between

# Ticket columns and association keys of Zammad 5.x-6.x (`attributes_with_association_names`),
# plus the few that newer versions add. Anything else on a ticket is a custom attribute.
CORE_TICKET_KEYS = frozenset(
    {
        "id",
        "number",
        "title",
        "group_id",
        "group",
        "priority_id",
        "priority",
        "state_id",
        "state",
        "organization_id",
        "organization",
        "owner_id",
        "owner",
        "customer_id",
        "customer",
        "created_by_id",
        "created_by",
        "updated_by_id",
        "updated_by",
        "note",
        "type",
        "time_unit",
        "preferences",
        "pending_time",
        "escalation_at",
        "first_response_at",
        "first_response_escalation_at",
        "first_response_in_min",
        "first_response_diff_in_min",
        "close_at",
        "close_escalation_at",
        "close_in_min",
        "close_diff_in_min",
        "update_escalation_at",
        "update_in_min",
        "update_diff_in_min",
        "last_close_at",
        "last_contact_at",
        "last_contact_agent_at",
        "last_contact_customer_at",
        "last_owner_update_at",
        "create_article_type_id",
        "create_article_type",
        "create_article_sender_id",
        "create_article_sender",
        "article_count",
        "article_ids",
        "ticket_time_accounting_ids",
        "ticket_time_accounting",
        "mention_ids",
        "checklist_id",
        "referencing_checklist_ids",
        "shared_draft_id",
        "tags",
        "created_at",
        "updated_at",
    }
)


def time_of(value: Any, what: str = "timestamp") -> datetime | None:
    """A Zammad timestamp as aware UTC; an unreadable one is a PermanentError, not a crash."""
    try:
        return parse_time(value)
    except (ValueError, TypeError) as exc:
        raise PermanentError(f"zammad sent an unreadable {what} {value!r}") from exc


def utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value is taken as UTC, the bridge's convention."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """UTC with an explicit `Z`: Zammad's search applies the instance time zone to bare times.

    Seconds only (rounded down), so a range starting here includes the moment itself.
    """
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def lower_name(value: Any) -> str | None:
    """`"Open"` or `{"name": "2 normal"}` -> lower-case name; None when absent."""
    if isinstance(value, Mapping):
        value = value.get("name")
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    return None


def custom_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Every non-core key, value as Zammad sent it (select -> key, multiselect -> list...)."""
    return {str(k): v for k, v in raw.items() if k not in CORE_TICKET_KEYS}


def user_name(user: Mapping[str, Any]) -> str | None:
    """ "Firstname Lastname" as Zammad displays it; login or email when both are empty."""
    parts = [str(user.get(k) or "").strip() for k in ("firstname", "lastname")]
    name = " ".join(p for p in parts if p)
    return name or user.get("email") or user.get("login") or None


def parse_ticket(
    raw: Mapping[str, Any],
    *,
    system: str,
    url: str,
    description: str = "",
    requester: Mapping[str, Any] | None = None,
    tags: tuple[str, ...] = (),
    external_id_field: str | None = None,
) -> Ticket:
    """An expanded ticket (`?expand=true`) -> Ticket.

    `description`, `requester` and `tags` come from separate calls (first article, customer
    user, tag list); the ticket itself carries only ids for them.
    """
    if raw.get("id") is None:
        raise PermanentError("zammad answer has no ticket id")
    ticket_id = str(raw["id"])
    fields = custom_fields(raw)
    external = fields.get(external_id_field) if external_id_field else None
    ticket_type = raw.get("type")
    updated_by = raw.get("updated_by_id")
    return Ticket(
        ref=SystemRef(system, ticket_id),
        subject=str(raw.get("title") or ""),
        description=description,
        status=lower_name(raw.get("state")),
        priority=lower_name(raw.get("priority")),
        type=str(ticket_type) if ticket_type not in (None, "") else None,
        tags=tags,
        fields=fields,
        requester_email=(requester or {}).get("email") or None,
        requester_name=user_name(requester) if requester else None,
        requester_id=str(raw["customer_id"]) if raw.get("customer_id") is not None else None,
        external_id=str(external) if external not in (None, "") else None,
        url=url,
        created_at=time_of(raw.get("created_at")),
        updated_at=time_of(raw.get("updated_at")),
        updated_by=str(updated_by) if updated_by is not None else None,
    )


def attachment_content_type(preferences: Any) -> str:
    """Article attachments keep their type in `preferences` as "Mime-Type" or "Content-Type"."""
    if isinstance(preferences, Mapping):
        for key in ("Mime-Type", "Content-Type", "mime-type", "content-type"):
            value = preferences.get(key)
            if isinstance(value, str) and value:
                return value.split(";")[0].strip()
    return "application/octet-stream"


def parse_attachment(
    data: Mapping[str, Any], api_url: str, ticket_id: str, article_id: str
) -> Attachment:
    """Metadata only; `url` is the authenticated `GET /ticket_attachment/{t}/{a}/{id}`."""
    attachment_id = data.get("id")
    size = data.get("size")
    return Attachment(
        filename=str(data.get("filename") or f"attachment-{attachment_id}"),
        content_type=attachment_content_type(data.get("preferences")),
        size=int(size) if isinstance(size, (int, str)) and str(size).isdigit() else None,
        url=(
            f"{api_url}/ticket_attachment/{ticket_id}/{article_id}/{attachment_id}"
            if attachment_id is not None
            else None
        ),
        id=str(attachment_id) if attachment_id is not None else None,
    )


def article_author_id(article: Mapping[str, Any]) -> str | None:
    """`origin_by_id` (written on behalf of someone) wins over the API user who created it."""
    for key in ("origin_by_id", "created_by_id"):
        value = article.get(key)
        if value not in (None, "", 0):
            return str(value)
    return None


def parse_article(article: Mapping[str, Any], api_url: str, ticket_id: str) -> Comment:
    """An article as a comment; `internal` decides visibility (missing = public)."""
    article_id = str(article["id"])
    name = article.get("from") or article.get("origin_by") or article.get("created_by")
    if isinstance(name, Mapping):
        name = user_name(name)
    return Comment(
        id=article_id,
        body=str(article.get("body") or ""),
        public=not bool(article.get("internal", False)),
        author_id=article_author_id(article),
        author_name=str(name) if name else None,
        created_at=time_of(article.get("created_at")),
        attachments=tuple(
            parse_attachment(a, api_url, ticket_id, article_id)
            for a in article.get("attachments") or ()
            if isinstance(a, Mapping)
        ),
    )


def same_value(current: Any, wanted: Any) -> bool:
    """Mappings produce strings; Zammad returns integers, booleans or lists for some types."""
    if current == wanted:
        return True
    if isinstance(current, bool) or isinstance(wanted, bool):
        return str(current).lower() == str(wanted).lower()
    scalar = (str, int, float)
    return (
        isinstance(current, scalar) and isinstance(wanted, scalar) and str(current) == str(wanted)
    )


def article_order(article: Mapping[str, Any]) -> tuple[str, int]:
    """Oldest first: creation time, then id (ISO strings in UTC sort correctly)."""
    article_id = article.get("id")
    return str(article.get("created_at") or ""), int(article_id) if isinstance(
        article_id, int
    ) else 0


def ticket_number(ticket_id: str) -> int:
    """Ticket ids are numbers; refusing anything else keeps odd ids out of the URL path."""
    text = str(ticket_id).strip()
    if not text.isdigit() or not text.isascii():
        raise PermanentError(f"zammad ticket id {ticket_id!r} is not a number")
    return int(text)


def object_with_id(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("id") is None:
        raise PermanentError(f"zammad {what}: answer is not an object with an id")
    return data


def search_hits(data: Any) -> list[dict[str, Any]]:
    """`expand=true` answers a list of tickets; older versions ignore it and answer
    `{"tickets": [ids], "assets": {"Ticket": {id: {...}}}}`, which is unpacked here."""
    if isinstance(data, list):
        return [t for t in data if isinstance(t, dict) and t.get("id") is not None]
    if isinstance(data, Mapping):
        assets = data.get("assets")
        by_id = assets.get("Ticket") if isinstance(assets, Mapping) else None
        by_id = by_id if isinstance(by_id, Mapping) else {}
        hits = []
        for ticket_id in data.get("tickets") or ():
            ticket = by_id.get(str(ticket_id))
            if isinstance(ticket, dict):
                hits.append(ticket)
        return hits
    raise PermanentError("zammad search: answer is neither a list nor a search result")


def encode_attachments(attachments: Iterable[Attachment]) -> list[dict[str, str]]:
    """Inline base64 `{filename, data, mime-type}`; files given by `path` are encoded in chunks.

    Attachments known only by URL are skipped: the bridge downloads them first.
    """
    files = []
    for attachment in attachments:
        if attachment.content is not None:
            data = base64.b64encode(attachment.content).decode("ascii")
        elif attachment.path:
            parts = []
            with open(attachment.path, "rb") as handle:
                while chunk := handle.read(B64_CHUNK):
                    parts.append(base64.b64encode(chunk).decode("ascii"))
            data = "".join(parts)
        else:
            log.info("zammad: skipping attachment %s without content", attachment.filename)
            continue
        files.append(
            {
                "filename": attachment.filename,
                "data": data,
                "mime-type": attachment.content_type or "application/octet-stream",
            }
        )
    return files
