"""Builds the HttpClient the Zammad connector talks through.

Auth and base URL live here so the connector only speaks paths and payloads, and so tests can
hand the connector a client built the same way but with retries and sleeping turned off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.errors import ConfigError
from bridge.protocol import Hooks, SystemSettings
from connectors.http import HttpClient

API_PREFIX = "/api/v1"


def api_base(settings: SystemSettings) -> str:
    """`https://{fqdn}/api/v1`; tolerant of a trailing slash in the config."""
    return settings.url.rstrip("/") + API_PREFIX


def auth_headers(settings: SystemSettings) -> dict[str, str]:
    """The Authorization header from `settings.auth`.

    A personal access token goes into `Token token=<token>` (api-facts 2.1); an OAuth2 access
    token into `Bearer`. Basic auth with a password is deliberately unsupported: admins can turn
    it off (`api_password_access`) and a token can be scoped to what the bridge needs.
    """
    auth = settings.auth or {}
    token, oauth = auth.get("token"), auth.get("oauth_token")
    if token:
        return {"Authorization": f"Token token={token}"}
    if oauth:
        return {"Authorization": f"Bearer {oauth}"}
    raise ConfigError(
        f"system {settings.name!r} (zammad): auth needs `token` (access token) or "
        f"`oauth_token`; got keys {sorted(auth)}"
    )


def build_http_client(
    settings: SystemSettings,
    *,
    attempts: int = 3,
    wait_max: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
    hooks: Hooks | None = None,
) -> HttpClient:
    """An HttpClient for one Zammad instance.

    Content-Type is not set here: writes pass `json=`, which sets `application/json` on writes
    only, and attachment downloads must not carry a misleading content type.
    """
    return HttpClient.for_system(
        settings,
        api_base(settings),
        headers=auth_headers(settings),
        attempts=attempts,
        wait_max=wait_max,
        monotonic=monotonic,
        hooks=hooks,
    )
