"""Builds the HttpClient the Zendesk connector talks through.

Auth and base URL live here so the connector only speaks paths and payloads, and so tests can
hand the connector a client built the same way but with retries and sleeping turned off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.errors import ConfigError
from bridge.protocol import Hooks, SystemSettings
from connectors.http import HttpClient

API_PREFIX = "/api/v2"


def api_base(settings: SystemSettings) -> str:
    """`https://{subdomain}.zendesk.com/api/v2`; tolerant of a trailing slash in the config."""
    return settings.url.rstrip("/") + API_PREFIX


def auth_for(settings: SystemSettings) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """(basic auth tuple, extra headers) from `settings.auth`.

    API tokens use Basic auth with the username `{email}/token` (api-facts 1.1); an OAuth access
    token goes into a Bearer header. Password auth is deliberately unsupported: Zendesk blocks it
    for 2FA/SSO users and is phasing it out.
    """
    auth = settings.auth
    email, token, oauth = auth.get("email"), auth.get("token"), auth.get("oauth_token")
    if oauth:
        return None, {"Authorization": f"Bearer {oauth}"}
    if email and token:
        return (f"{email}/token", token), {}
    raise ConfigError(
        f"system {settings.name!r} (zendesk): auth needs `email` + `token` (API token) "
        f"or `oauth_token`; got keys {sorted(auth)}"
    )


def build_http_client(
    settings: SystemSettings,
    *,
    attempts: int = 3,
    wait_max: float = 2.0,
    monotonic: Callable[[], float] = time.monotonic,
    hooks: Hooks | None = None,
) -> HttpClient:
    """An HttpClient for one Zendesk account.

    Writes pass `json=` to requests, which sets `Content-Type: application/json` as Zendesk
    requires for POST/PUT; uploads set the file's own Content-Type per request.
    """
    basic, headers = auth_for(settings)
    return HttpClient.for_system(
        settings,
        api_base(settings),
        headers=headers,
        auth=basic,
        attempts=attempts,
        wait_max=wait_max,
        monotonic=monotonic,
        hooks=hooks,
    )
