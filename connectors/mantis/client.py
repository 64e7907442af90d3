"""HTTP client set-up for the MantisBT REST API.

Kept apart from the connector so the auth quirk (a *bare* token in `Authorization`; released 2.x
versions reject `Bearer <token>`) lives in one place, and tests can build the same client with
retries and waiting turned off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.errors import ConfigError
from bridge.protocol import Hooks, SystemSettings
from connectors.http import HttpClient


def api_base(settings: SystemSettings) -> str:
    """`{url}/api/rest`: the REST API lives below the Mantis installation path."""
    return f"{settings.url.rstrip('/')}/api/rest"


def build_http_client(
    settings: SystemSettings,
    attempts: int = 3,
    wait_max: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
    hooks: Hooks | None = None,
) -> HttpClient:
    """An HttpClient that authenticates as the bridge's MantisBT user.

    Content-Type is not set here: the connector sends bodies with `json=`, which sets
    `application/json` on writes only, so GETs stay free of a misleading content type.
    """
    token = (settings.auth or {}).get("token")
    if not token:
        raise ConfigError(f"system {settings.name!r}: MantisBT needs auth.token (an API token)")
    return HttpClient.for_system(
        settings,
        api_base(settings),
        headers={"Authorization": token},
        attempts=attempts,
        wait_max=wait_max,
        monotonic=monotonic,
        hooks=hooks,
    )
