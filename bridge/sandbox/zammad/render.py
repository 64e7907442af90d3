"""How the Zammad sandbox renders its records: plain, `expand=true`, webhook payloads, search.

Kept apart from the model so the shapes the connector depends on sit in one readable place:
flat tickets with `_id`s (plain), plus association names (expand), plus whole association
objects with sorted keys (the default trigger payload of `TriggerWebhookJob::RecordPayload`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.zammad.model import (
    ARTICLE_TYPES,
    SENDERS,
    ApiError,
    ZammadModel,
    iso,
)

USER_BLACKLIST = frozenset(
    {
        "last_login",
        "login_failed",
        "password",
        "preferences",
        "group_ids",
        "groups",
        "authorization_ids",
        "authorizations",
    }
)
TYPE_NAMES = {v: k for k, v in ARTICLE_TYPES.items()}
SENDER_NAMES = {v: k for k, v in SENDERS.items()}
RANGE = re.compile(r"^([\w.]+):([\[{])(\S+) TO (\S+)([\]}])$")
COMPARE = re.compile(r"^([\w.]+):(>=|<=|>|<)(\S+)$")
EQUALS = re.compile(r"^([\w.]+):(\S+)$")


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def user(model: ZammadModel, user_id: int | None, *, payload: bool = False) -> dict[str, Any]:
    if user_id is None or user_id not in model.users:
        return {}
    row = {k: _plain(v) for k, v in model.users[user_id].items() if k != "role"}
    if payload:
        row = {k: v for k, v in row.items() if k not in USER_BLACKLIST}
    return row


def login(model: ZammadModel, user_id: int | None) -> str | None:
    return str(model.users[user_id]["login"]) if user_id in model.users else None


def ticket(model: ZammadModel, row: Mapping[str, Any], expand: bool = False) -> dict[str, Any]:
    """`attributes_with_association_ids` (plain) or `..._names` (expand)."""
    out = {k: _plain(v) for k, v in row.items()}
    out["article_ids"] = [a["id"] for a in model.articles.get(int(row["id"]), ())]
    out["ticket_time_accounting_ids"] = []
    if expand:
        out["group"] = model.group_name(row["group_id"])
        out["state"] = model.state(row["state_id"])["name"]
        out["priority"] = model.priority(row["priority_id"])["name"]
        out["organization"] = None
        for key in ("owner", "customer", "created_by", "updated_by"):
            out[key] = login(model, row[f"{key}_id"])
        out["create_article_type"] = TYPE_NAMES.get(row["create_article_type_id"] or 0)
        out["create_article_sender"] = SENDER_NAMES.get(row["create_article_sender_id"] or 0)
    return out


def article(model: ZammadModel, row: Mapping[str, Any], base_url: str | None = None) -> Any:
    """An article with association names (what `by_ticket` and `POST` answer).

    With `base_url`, attachments get the authenticated download `url` webhook payloads carry.
    """
    out = {k: _plain(v) for k, v in row.items()}
    out["type"] = TYPE_NAMES[row["type_id"]]
    out["sender"] = SENDER_NAMES[row["sender_id"]]
    out["created_by"] = login(model, row["created_by_id"])
    out["updated_by"] = login(model, row["updated_by_id"])
    out["origin_by"] = login(model, row["origin_by_id"])
    out["time_unit"] = None
    out["attachments"] = [dict(a, preferences=dict(a["preferences"])) for a in row["attachments"]]
    if base_url is not None:
        for attachment in out["attachments"]:
            attachment["url"] = (
                f"{base_url}/api/v1/ticket_attachment/{row['ticket_id']}/{row['id']}/"
                f"{attachment['id']}"
            )
    return out


def webhook_payload(
    model: ZammadModel, ticket_id: int, article_id: int | None, base_url: str
) -> dict[str, Any] | None:
    """The default trigger payload, rebuilt from current state like the job does when it runs.

    None when the ticket is gone (the real job is discarded then).
    """
    row = model.tickets.get(ticket_id)
    if row is None:
        return None
    out = ticket(model, row, expand=True)
    for key in ("owner", "customer", "created_by", "updated_by"):
        out[key] = user(model, row[f"{key}_id"], payload=True)
    out["organization"] = {}
    out["priority"] = dict(model.priority(row["priority_id"]))
    out["group"] = {"id": row["group_id"], "name": model.group_name(row["group_id"])}
    out["group"] |= {"active": True, "follow_up_possible": "yes", "note": None}
    article_out: dict[str, Any] = {}
    found = [a for a in model.articles[ticket_id] if a["id"] == article_id]
    if found:
        article_out = article(model, found[0], base_url)
        article_out["created_by"] = user(model, found[0]["created_by_id"], payload=True)
        article_out["updated_by"] = user(model, found[0]["updated_by_id"], payload=True)
        article_out["accounted_time"] = 0
        article_out = dict(sorted(article_out.items()))
    return {"ticket": dict(sorted(out.items())), "article": article_out}


# -------------------------------------------------------------------------- search


def _field_value(model: ZammadModel, row: Mapping[str, Any], field: str) -> Any:
    if field in ("state", "state.name"):
        return model.state(row["state_id"])["name"]
    if field in ("priority", "priority.name"):
        return model.priority(row["priority_id"])["name"]
    if field in ("group", "group.name"):
        return model.group_name(row["group_id"])
    return row.get(field)


def parse_time(text: str) -> datetime:
    """A query bound: ISO-8601, `Z` or offset; bare times are UTC here (the instance zone)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _compare(value: Any, bound: str) -> int:
    """-1/0/1 of a ticket value against a query bound (times, numbers or text)."""
    if isinstance(value, datetime):
        try:
            other: Any = parse_time(bound)
        except ValueError as exc:
            raise ApiError(422, f"cannot parse date {bound!r}") from exc
    elif isinstance(value, (int, float)):
        other = float(bound)
    else:
        value, other = str(value), bound
    return (value > other) - (value < other)


def _matches(model: ZammadModel, row: Mapping[str, Any], clause: str) -> bool:
    """One clause of the small query_string subset the sandbox understands."""
    if clause == "*":
        return True
    if found := RANGE.match(clause):
        field, left, low, high, right = found.groups()
        value = _field_value(model, row, field)
        if value is None:
            return False
        low_ok = low == "*" or _compare(value, low) >= (0 if left == "[" else 1)
        high_ok = high == "*" or _compare(value, high) <= (0 if right == "]" else -1)
        return low_ok and high_ok
    if found := COMPARE.match(clause):
        field, op, bound = found.groups()
        value = _field_value(model, row, field)
        if value is None:
            return False
        result = _compare(value, bound)
        return {">=": result >= 0, "<=": result <= 0, ">": result > 0, "<": result < 0}[op]
    if found := EQUALS.match(clause):
        field, wanted = found.groups()
        return str(_field_value(model, row, field)).lower() == wanted.strip('"').lower()
    text = clause.strip('"').lower()
    return text in str(row["title"]).lower() or text in str(row["number"])


def search(
    model: ZammadModel, user_id: int, query: str, sort_by: str, order_by: str
) -> list[dict[str, Any]]:
    """Tickets the user may see that match every ` AND `-joined clause, sorted."""
    if not query.strip():
        return []
    clauses = [c.strip() for c in query.split(" AND ") if c.strip()]
    if sort_by not in ("updated_at", "created_at", "id", "number", "title"):
        raise ApiError(422, f"unsupported sort_by {sort_by!r}")
    rows = [
        row
        for row in model.tickets.values()
        if (model.is_agent(user_id) or row["customer_id"] == user_id)
        and all(_matches(model, row, clause) for clause in clauses)
    ]
    rows.sort(key=lambda r: (r[sort_by], r["id"]), reverse=order_by.lower() != "asc")
    return rows
