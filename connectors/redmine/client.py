"""How the Redmine connector reaches Redmine, and how it pages through its lists.

Redmine's REST API lives at the installation's root (`/issues.json`), authenticated by the user's
API key in `X-Redmine-API-Key` (never in the query, where it would land in access logs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from connectors.access import Api, Credentials
from connectors.http import HttpClient
from connectors.redmine.config import RedmineAuth


def credentials(auth: Mapping[str, str]) -> Credentials:
    return Credentials(headers={"X-Redmine-API-Key": auth["api_key"]})


# At the installation's URL itself (also a sub-path such as `https://host/redmine`).
REST = Api("", RedmineAuth, credentials)


MAX_PAGES = 50
PAGE_SIZE = 100  # the most Redmine returns per request


def pages(
    http: HttpClient, path: str, key: str, what: str, page_size: int = PAGE_SIZE, **params: Any
) -> Iterator[list[Any]]:
    """The `offset`/`limit` pages of a Redmine list, until `total_count`, a short or empty page,
    or a page that repeats the last (a server ignoring `offset` must not make this loop)."""
    offset, previous = 0, None
    for _ in range(MAX_PAGES):
        query = {**params, "offset": offset, "limit": page_size}
        data = http.json("GET", path, what, params=query)
        items = data.get(key) if isinstance(data, Mapping) else None
        if not isinstance(items, list) or not items:
            return
        ids = [item.get("id") for item in items if isinstance(item, Mapping)]
        if ids == previous:
            return
        previous = ids
        yield items
        offset += len(items)
        total = data.get("total_count")
        if len(items) < page_size or not isinstance(total, int) or offset >= total:
            return
