"""Polling MantisBT: `GET /issues` newest update first, paged until older than the mark.

MantisBT has no webhooks, so this is how the bridge learns of vendor changes. The default filter
sorts by last update, newest first, and the answer has no total count (api-facts 3.4/3.5), so a
walk stops at the first issue older than `since`, at an empty page, at a short page, or when a
server that ignores `page` sends the same page again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.errors import ConfigError
from bridge.models import Event, EventKind, SystemRef
from connectors.http import HttpClient
from connectors.mantis.parse import parse_time

POLL_SELECT = "id,updated_at,status,priority"


def pages(
    http: HttpClient, params: Mapping[str, Any], page_size: int, what: str
) -> Iterator[list[dict[str, Any]]]:
    """Non-empty pages of `GET /issues` with `params`, until the list is exhausted."""
    page = 1
    previous: list[Any] | None = None
    while True:
        data = http.json(
            "GET", "issues", what, params={**params, "page": page, "page_size": page_size}
        )
        issues = data.get("issues") if isinstance(data, Mapping) else None
        if not isinstance(issues, list) or not issues:
            return
        ids = [issue.get("id") for issue in issues if isinstance(issue, Mapping)]
        if ids == previous:
            return  # the server ignores `page`: everything after this is a repeat
        previous = ids
        yield [issue for issue in issues if isinstance(issue, dict)]
        if len(issues) < page_size:
            return
        page += 1


def updated_since(
    http: HttpClient,
    params: Mapping[str, Any],
    since: datetime,
    page_size: int,
    what: str,
) -> list[dict[str, Any]]:
    """Raw issues updated at or after `since`, newest first.

    Equal timestamps are kept: Mantis has second granularity and callers dedupe on
    `(id, updated_at)`. An issue without a readable `updated_at` is skipped, not fatal.
    """
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    found: list[dict[str, Any]] = []
    for issues in pages(http, params, page_size, what):
        for issue in issues:
            updated = parse_time(issue.get("updated_at"))
            if updated is None:
                continue
            if updated < since:
                return found
            found.append(issue)
    return found


def created_from(http: HttpClient, source_url: str, since: datetime, page_size: int) -> str | None:
    """The id of the issue the bridge user reported from `source_url` after `since`, if any.

    `filter_id=reported` lists the token user's own issues, newest update first; the source
    URL is in `additional_information`.
    """
    params = {
        "filter_id": "reported",
        "select": "id,updated_at,additional_information,description",
    }
    issues = updated_since(http, params, since, page_size, "look for an issue the bridge created")
    for issue in issues:
        text = f"{issue.get('additional_information', '')}\n{issue.get('description', '')}"
        if source_url in text:
            return str(issue["id"])
    return None


def project_ids(value: Any, system: str) -> list[int]:
    """`options.projects` as project ids; names would need a lookup the bridge does not do."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    ids = []
    for item in items:
        text = str(item).strip()
        if not text.isdigit():
            raise ConfigError(
                f"system {system!r}: options.projects must list MantisBT project ids, got {item!r}"
            )
        ids.append(int(text))
    return ids


def changes_since(
    http: HttpClient,
    system: str,
    since: datetime,
    projects: list[int],
    page_size: int = 50,
    with_history: bool = False,
) -> list[Event]:
    """TICKET_UPDATED events for issues updated at or after `since`, oldest first.

    Without `projects` one walk covers every project the bridge user can see (Mantis's
    "All Projects"). `actor_id` is the user of the newest history entry only when
    `with_history` is set: history is the most expensive part of an issue to render, so by
    default the actor stays None and the job's re-read (which has `updated_by`) decides.
    """
    select = POLL_SELECT + (",history" if with_history else "")
    scopes: list[dict[str, Any]] = [{"project_id": p} for p in projects] or [{}]
    events: dict[str, Event] = {}
    for scope in scopes:
        label = f"poll MantisBT project {scope['project_id']}" if scope else "poll MantisBT"
        params = {**scope, "select": select}
        for issue in updated_since(http, params, since, page_size, label):
            event = _event(issue, system)
            if event.delivery_id is not None:
                events[event.delivery_id] = event
    return sorted(events.values(), key=_order)


def _event(issue: Mapping[str, Any], system: str) -> Event:
    updated = parse_time(issue.get("updated_at"))
    assert updated is not None  # updated_since only returns issues with a readable time
    issue_id = str(issue["id"])
    data: dict[str, Any] = {"updated_at": updated.isoformat()}
    for key in ("status", "priority"):
        value = issue.get(key)
        if isinstance(value, Mapping) and value.get("name"):
            data[key] = str(value["name"])
    actor = None
    history = issue.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], Mapping):
        user = history[-1].get("user")
        if isinstance(user, Mapping) and user.get("id") is not None:
            actor = str(user["id"])
    return Event(
        ref=SystemRef(system, issue_id),
        kind=EventKind.TICKET_UPDATED,
        delivery_id=f"poll:{issue_id}:{updated.isoformat()}",
        actor_id=actor,
        occurred_at=updated,
        data=data,
    )


def _order(event: Event) -> tuple[datetime, str]:
    return event.occurred_at or datetime.min.replace(tzinfo=UTC), event.ref.id
