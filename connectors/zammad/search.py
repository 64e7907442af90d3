"""Zammad's ticket search (`GET /tickets/search`): polling and lost-create recovery.

Both need Elasticsearch (Zammad's DB fallback search ignores field queries) and page the same
way, newest first, so they live together, apart from the per-ticket reads and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bridge.models import Event, EventKind, SystemRef
from connectors.http import HttpClient
from connectors.zammad import parse
from connectors.zammad.articles import articles

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # tickets/search allows up to 200; 100 keeps answers small
MAX_PAGES = 100  # Elasticsearch refuses offsets past 10 000 anyway
FIND_CREATED_LIMIT = 50  # candidates whose articles are read when recovering a lost create


def changes_since(http: HttpClient, system: str, since: datetime) -> list[Event]:
    """Tickets updated at or after `since`, newest first, as TICKET_UPDATED events.

    The bracket range is used because `updated_at:>=...` needs the colons of the time escaped.
    """
    since = parse.utc(since)
    events: list[Event] = []
    query = f"updated_at:[{parse.iso(since)} TO *]"
    for raw in hits(http, query, "updated_at", "poll zammad for changed tickets"):
        updated = parse.time_of(raw.get("updated_at"))
        if updated is None:
            continue
        if updated < since:
            break
        ticket_id = str(raw["id"])
        actor = raw.get("updated_by_id")
        data: dict[str, Any] = {}
        for key, name in (("status", raw.get("state")), ("priority", raw.get("priority"))):
            if parse.lower_name(name) is not None:
                data[key] = parse.lower_name(name)
        events.append(
            Event(
                ref=SystemRef(system, ticket_id),
                kind=EventKind.TICKET_UPDATED,
                delivery_id=f"poll:{ticket_id}:{updated.isoformat()}",
                actor_id=str(actor) if actor is not None else None,
                occurred_at=updated,
                data=data,
            )
        )
    return events


def created_from(
    http: HttpClient, source_url: str, since: datetime, bridge_user: str
) -> str | None:
    """The id of the ticket the bridge user created from `source_url` after `since`, if any.

    Searching by creator and time narrows the candidates, and the first article (where
    create_ticket writes the source URL) decides.
    """
    since = parse.utc(since)
    query = f"created_at:[{parse.iso(since)} TO *]"
    if bridge_user.isdigit():
        query += f" AND created_by_id:{int(bridge_user)}"
    found = hits(http, query, "created_at", "look for a ticket the bridge created")
    for checked, raw in enumerate(found, start=1):
        created = parse.time_of(raw.get("created_at"))
        if created is not None and created < since:
            return None
        first = articles(http, str(raw["id"]))
        if first and source_url in str(first[0].get("body") or ""):
            return str(raw["id"])
        if checked >= FIND_CREATED_LIMIT:
            return None
    return None


def hits(http: HttpClient, query: str, sort_by: str, what: str) -> Iterable[dict[str, Any]]:
    """Expanded search hits, newest `sort_by` first, page by page until a short page."""
    for page in range(1, MAX_PAGES + 1):
        data = http.json(
            "GET",
            "tickets/search",
            what,
            params={
                "query": query,
                "sort_by": sort_by,
                "order_by": "desc",
                "expand": "true",
                "page": page,
                "per_page": PAGE_SIZE,
            },
        )
        page_hits = parse.search_hits(data)
        yield from page_hits
        if len(page_hits) < PAGE_SIZE:
            return
    log.warning("zammad search %r stopped after %d pages", query, MAX_PAGES)
