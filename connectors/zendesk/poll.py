"""Polling Zendesk through the cursor-based incremental ticket export.

Zendesk has webhooks, but a webhook can be lost (receiver down longer than Zendesk retries,
trigger misconfigured). The reconciler therefore sweeps with `GET /incremental/tickets/cursor`
(api-facts 1.2): `start_time` first, then `cursor=<after_cursor>` until `end_of_stream`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.errors import PermanentError
from bridge.models import Event, EventKind, SystemRef
from connectors.http import HttpClient
from connectors.zendesk import webhook

EXPORT_PATH = "incremental/tickets/cursor"
# Zendesk refuses a start_time less than a minute old; one extra second absorbs clock skew.
MIN_AGE = timedelta(minutes=1, seconds=1)


def start_time(since: datetime, now: datetime) -> int:
    """Unix seconds for `start_time`, clamped to at least a minute in the past.

    Clamping only widens the window; tickets older than `since` are filtered out afterwards.
    """
    since = _aware(since)
    latest = _aware(now) - MIN_AGE
    return int(min(since, latest).timestamp())


def changes_since(http: HttpClient, system: str, since: datetime, now: datetime) -> list[Event]:
    """TICKET_UPDATED events for tickets whose `updated_at` >= `since`, oldest first.

    The export compares `start_time` with each ticket's `generated_timestamp`, which moves on
    system-side changes too, so tickets whose `updated_at` is older come back as well and are
    dropped here. Deleted tickets are skipped: there is nothing left to sync. A cursor that
    repeats is a broken stream and raises PermanentError rather than looping forever.
    """
    since = _aware(since)
    params: dict[str, Any] = {"start_time": start_time(since, now)}
    seen: set[str] = set()
    found: dict[str, Event] = {}
    while True:
        data = http.json("GET", EXPORT_PATH, "zendesk incremental ticket export", params=params)
        if not isinstance(data, Mapping):
            raise PermanentError("zendesk incremental export: answer is not a JSON object")
        for raw in data.get("tickets") or ():
            event = _event(raw, system, since)
            if event is not None and event.delivery_id is not None:
                found[event.delivery_id] = event
        if data.get("end_of_stream"):
            break
        cursor = data.get("after_cursor")
        if not cursor:
            break
        if str(cursor) in seen:
            raise PermanentError(f"zendesk incremental export repeats cursor {cursor!r}")
        seen.add(str(cursor))
        params = {"cursor": str(cursor)}
    return sorted(found.values(), key=_order)


def _event(raw: Any, system: str, since: datetime) -> Event | None:
    if not isinstance(raw, Mapping) or raw.get("id") is None:
        return None
    if raw.get("status") == "deleted":
        return None
    try:
        updated = webhook.parse_time(raw.get("updated_at"))
    except ValueError as exc:
        raise PermanentError(
            f"zendesk export: unreadable updated_at {raw.get('updated_at')!r}"
        ) from exc
    if updated is None or updated < since:
        return None
    ticket_id = str(raw["id"])
    data: dict[str, Any] = {"updated_at": updated.isoformat()}
    for key in ("status", "priority"):
        if raw.get(key):
            data[key] = str(raw[key]).lower()
    return Event(
        ref=SystemRef(system, ticket_id),
        kind=EventKind.TICKET_UPDATED,
        delivery_id=f"poll:{ticket_id}:{updated.isoformat()}",
        actor_id=None,  # the export does not say who made the last change
        occurred_at=updated,
        data=data,
    )


def _order(event: Event) -> tuple[datetime, str]:
    return event.occurred_at or datetime.min.replace(tzinfo=UTC), event.ref.id


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
