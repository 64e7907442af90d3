"""The optional `ops` config section and the per-system `options.silence_alert` key.

Kept apart from bridge.config so the console's access rules live next to the console; the
config module only hooks these in. Secrets are excluded from repr, so a logged or printed
settings object never shows them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

DEFAULT_WEBHOOK_SILENCE = 3600  # seconds a webhook system may stay quiet before the console warns
POLL_SILENCE_FACTOR = 3  # a polled system warns after this many missed poll intervals


class OpsSchema(Schema):
    token = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=16, error="use 16+ chars")
    )
    username = fields.String(load_default=None, allow_none=True)
    password = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=8, error="use 8+ chars")
    )
    secret_key = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=16, error="use 16+ chars")
    )
    protect_metrics = fields.Boolean(load_default=False)

    @validates_schema
    def _credentials(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("username")) != bool(data.get("password")):
            raise ValidationError("set both username and password, or neither", "password")
        if not data.get("token") and not data.get("username"):
            raise ValidationError("the console needs a token, or a username + password", "token")


@dataclass(frozen=True)
class OpsSettings:
    """Who may open the console. `secret_key` signs the session cookie (CSRF token, login)."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    secret_key: str = field(default="", repr=False)
    protect_metrics: bool = False

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.password, self.secret_key) if s]

    def fingerprint(self) -> str:
        """Changes whenever a credential changes, so old console sessions stop working."""
        material = f"{self.token or ''}\0{self.username or ''}\0{self.password or ''}"
        return hmac.new(self.secret_key.encode(), material.encode(), hashlib.sha256).hexdigest()


def ops_settings(loaded: Mapping[str, Any] | None) -> OpsSettings | None:
    """None (console disabled) when the config has no `ops` section."""
    if not loaded:
        return None
    token, username, password = loaded.get("token"), loaded.get("username"), loaded.get("password")
    secret_key = loaded.get("secret_key")
    if not secret_key:
        # Derived, so a config with only a token still gets a stable, unguessable signing key.
        material = f"{token or ''}\0{username or ''}\0{password or ''}".encode()
        secret_key = hmac.new(material, b"ticket-bridge ops session", hashlib.sha256).hexdigest()
    return OpsSettings(
        token=token,
        username=username,
        password=password,
        secret_key=secret_key,
        protect_metrics=bool(loaded.get("protect_metrics")),
    )


def check_system_options(options: Mapping[str, Any]) -> None:
    """Validate the ops keys inside a system's free-form `options` mapping."""
    value = options.get("silence_alert")
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValidationError(
            "options.silence_alert must be a positive number of seconds", "options"
        )
