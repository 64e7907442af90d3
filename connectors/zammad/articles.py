"""Reading a Zammad ticket's articles: all of them, or the first one alone.

Kept apart from the connector because two callers need them: the ticket read (the description
is the first article) and the search that recovers a lost create (the source URL is in it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.errors import PermanentError
from connectors.http import HttpClient
from connectors.zammad import parse


def articles(http: HttpClient, ticket_id: str) -> list[dict[str, Any]]:
    path = f"ticket_articles/by_ticket/{parse.ticket_number(ticket_id)}"
    data = http.json("GET", path, f"list articles of zammad ticket {ticket_id}")
    if not isinstance(data, list):
        raise PermanentError(f"zammad ticket {ticket_id}: articles answer is not a list")
    found = [a for a in data if isinstance(a, dict) and a.get("id") is not None]
    return sorted(found, key=parse.article_order)


def description(http: HttpClient, ticket_id: str, raw: Mapping[str, Any]) -> str:
    """The first article's body, read alone by its id.

    Every sync reads the ticket, and `by_ticket` (no paging) answers with every article:
    read for the description, it made each sync cost the ticket's whole history once more
    besides the comment read. The expanded ticket lists its `article_ids`; ids grow with
    creation, so the smallest is the first article. A ticket without the list (a Zammad
    that leaves it out) is read the old way.
    """
    ids = raw.get("article_ids")
    if not isinstance(ids, list):
        every = articles(http, ticket_id)
        return str(every[0].get("body") or "") if every else ""
    numbers = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    if not numbers:
        return ""
    first = http.json(
        "GET",
        f"ticket_articles/{min(numbers)}",
        f"get zammad ticket {ticket_id}'s first article",
    )
    return str(first.get("body") or "") if isinstance(first, Mapping) else ""
