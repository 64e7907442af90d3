"""Polling Redmine: `GET /issues.json` filtered by `updated_on`, newest update first.

Redmine has no webhooks in its core, so this is how the bridge learns of vendor changes. The
filter needs `status_id=*` (the default lists open issues only, and a closed issue is a change
too) and takes a UTC time to the second, so `since` is rounded down: an issue updated in the
same second is read again, and the poller dedupes on `(id, updated_on)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.models import Event, EventKind, SystemRef
from connectors.http import HttpClient
from connectors.redmine.client import pages
from connectors.redmine.parse import name_of, parse_time


def stamp(moment: datetime) -> str:
    """Redmine's filter format, to the second, in UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def updated_since(
    http: HttpClient, since: datetime, projects: list[str], page_size: int, what: str
) -> list[dict[str, Any]]:
    """Raw issues updated at or after `since` (in `projects`, else every visible project)."""
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    scopes: list[dict[str, str]] = [{"project_id": p} for p in projects] or [{}]
    found: dict[str, dict[str, Any]] = {}
    for scope in scopes:
        params = {
            **scope,
            "status_id": "*",
            "updated_on": f">={stamp(since)}",
            "sort": "updated_on:desc,id:desc",
        }
        for items in pages(http, "issues.json", "issues", what, page_size, **params):
            for issue in items:
                updated = parse_time(issue.get("updated_on")) if isinstance(issue, dict) else None
                if updated is None or updated < since.replace(microsecond=0):
                    continue
                found[str(issue.get("id"))] = issue
    return list(found.values())


def changes_since(
    http: HttpClient, system: str, since: datetime, projects: list[str], page_size: int
) -> list[Event]:
    """TICKET_UPDATED events, oldest first. `actor_id` stays None: the issue list does not say
    who changed an issue, and the job's re-read (with its journals) does."""
    what = "poll redmine for changed issues"
    issues = updated_since(http, since, projects, page_size, what)
    events = [_event(issue, system) for issue in issues]
    return sorted(events, key=lambda e: (e.occurred_at or since, int(e.ref.id)))


def _event(issue: Mapping[str, Any], system: str) -> Event:
    updated = parse_time(issue.get("updated_on"))
    assert updated is not None  # updated_since keeps only issues with a readable time
    issue_id = str(issue["id"])
    data: dict[str, Any] = {"updated_at": updated.isoformat()}
    for key in ("status", "priority"):
        name = name_of(issue.get(key))
        if name:
            data[key] = name
    return Event(
        ref=SystemRef(system, issue_id),
        kind=EventKind.TICKET_UPDATED,
        delivery_id=f"poll:{issue_id}:{updated.isoformat()}",
        occurred_at=updated,
        data=data,
    )


def links_to(text: str, source_url: str) -> bool:
    """`text` names exactly `source_url` (ticket 1 is not ticket 10)."""
    return re.search(re.escape(source_url) + r"(?![\w/.-])", text) is not None


def created_by_me(http: HttpClient, since: datetime, page_size: int) -> list[dict[str, Any]]:
    """Issues the API key's user created at or after `since`, newest first."""
    params = {"author_id": "me", "status_id": "*", "created_on": f">={stamp(since)}",
              "sort": "id:desc"}  # fmt: skip
    what = "look for an issue the bridge created"
    return [
        issue
        for items in pages(http, "issues.json", "issues", what, page_size, **params)
        for issue in items
        if isinstance(issue, dict)
    ]
