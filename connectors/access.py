"""How a connector reaches its system: where the REST API lives below the configured URL and
which credentials go on the wire, turned into the one HttpClient by one helper for every type.

The auth block is checked by the type's auth schema (bridge.option_fields.AuthSchema) when the
config is loaded. The helper loads it through the same schema once more, so settings built by
hand (tests, tools) with a bad block fail as the same ConfigError, and each connector only maps
a valid block onto headers: no connector states the auth rule again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, ValidationError

from bridge.errors import ConfigError
from bridge.option_fields import AuthSchema
from bridge.protocol import Hooks, SystemSettings
from connectors.http import HttpClient


@dataclass(frozen=True)
class Credentials:
    """What authenticates every request: headers, or a Basic auth pair."""

    headers: Mapping[str, str] = field(default_factory=dict)
    basic: tuple[str, str] | None = None


@dataclass(frozen=True)
class Api:
    """One system type's REST API: its path below `settings.url` (`/api/v2`, "" at the root),
    its auth schema, and how a block the schema accepted becomes credentials."""

    path: str
    auth_schema: type[AuthSchema]
    credentials: Callable[[Mapping[str, str]], Credentials]

    def base_url(self, settings: SystemSettings) -> str:
        """The API's URL; tolerant of a trailing slash in the config."""
        return settings.url.rstrip("/") + self.path

    def client(
        self,
        settings: SystemSettings,
        attempts: int = 3,
        wait_max: float = 2.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        hooks: Hooks | None = None,
    ) -> HttpClient:
        """An HttpClient that authenticates as the bridge's user on this system.

        Content-Type is never set here: writes pass `json=`, which sets it on writes only, and
        uploads and downloads must not carry a misleading one. Tests pass `attempts=1,
        wait_max=0` to turn retries and waiting off.
        """
        credentials = self.credentials(valid_auth(settings, self.auth_schema))
        return HttpClient.for_system(
            settings,
            self.base_url(settings),
            headers=credentials.headers,
            auth=credentials.basic,
            attempts=attempts,
            wait_max=wait_max,
            monotonic=monotonic,
            hooks=hooks,
        )


def valid_auth(settings: SystemSettings, schema: type[AuthSchema]) -> dict[str, str]:
    """`settings.auth` as the schema loads it; a ConfigError naming the system when it fails.
    Unknown keys are left to the config check, which names each with the likely meant one."""
    try:
        loaded: dict[str, str] = schema().load(dict(settings.auth), unknown=EXCLUDE)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ConfigError(
            f"system {settings.name!r} ({settings.type}): auth needs {schema.summary()}, "
            f"got keys {sorted(settings.auth)}: {_said(messages)}"
        ) from exc
    return loaded


def _said(messages: Mapping[str, object]) -> str:
    parts = []
    for key, texts in messages.items():
        text = " ".join(map(str, texts if isinstance(texts, list) else [texts]))
        parts.append(text if key == "_schema" else f"{key}: {text}")
    return "; ".join(parts)
