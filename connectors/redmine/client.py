"""Builds the HttpClient the Redmine connector talks through.

Redmine's REST API lives at the installation's root (`/issues.json`), authenticated by the user's
API key in `X-Redmine-API-Key` (never in the query, where it would land in access logs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bridge.errors import ConfigError
from bridge.protocol import Hooks, SystemSettings
from connectors.http import HttpClient


def api_base(settings: SystemSettings) -> str:
    """The installation's URL (also a sub-path such as `https://host/redmine`)."""
    return settings.url.rstrip("/")


def build_http_client(
    settings: SystemSettings,
    *,
    attempts: int = 3,
    wait_max: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
    hooks: Hooks | None = None,
) -> HttpClient:
    """An HttpClient that authenticates as the bridge's Redmine user.

    Content-Type is not set here: writes pass `json=` (application/json, as Redmine requires)
    and uploads set application/octet-stream themselves.
    """
    key = (settings.auth or {}).get("api_key")
    if not key:
        raise ConfigError(f"system {settings.name!r}: Redmine needs auth.api_key (an API key)")
    return HttpClient.for_system(
        settings,
        api_base(settings),
        headers={"X-Redmine-API-Key": key},
        attempts=attempts,
        wait_max=wait_max,
        monotonic=monotonic,
        hooks=hooks,
    )


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
