"""The optional `ops` config section and the per-system `options.silence_alert` key.

Kept apart from bridge.config so the console's access rules live next to the console; the
config module only hooks these in. Secrets are excluded from repr, so a logged or printed
settings object never shows them.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.errors import ConfigError

DEFAULT_WEBHOOK_SILENCE = 3600  # seconds a webhook system may stay quiet before the console warns
POLL_SILENCE_FACTOR = 3  # a polled system warns after this many missed poll intervals

MIN_SECRET_KEY = 32  # characters; the key makes the session fingerprints unguessable offline
SECRET_KEY_FILE = "ops-secret-key"  # in data_dir, when ops.secret_key is not configured
# Failed logins allowed per client address and per user name within the window, then 429.
DEFAULT_LOGIN_ATTEMPTS = 10
DEFAULT_LOGIN_WINDOW = 900  # seconds
DEFAULT_SESSION_LIFETIME = 12 * 3600  # seconds without a request before a console session ends

log = logging.getLogger(__name__)


class CookieSecure(enum.Enum):
    """When the console's session cookie carries the `Secure` flag."""

    AUTO = "auto"  # when the request came over https (see ops.trusted_proxies behind a proxy)
    ALWAYS = "true"
    NEVER = "false"


def _secret_or_empty(value: str) -> None:
    """An empty value means "not set" (`${VAR:-}` in the README's example), else 32+ chars."""
    if value and len(value) < MIN_SECRET_KEY:
        raise ValidationError(
            f"use {MIN_SECRET_KEY}+ characters, or leave it unset: a strong key is then "
            f"generated and kept in data_dir/{SECRET_KEY_FILE}"
        )


class _CookieSecureField(fields.Field):
    """`auto`, `true` or `false`; YAML gives the latter two as booleans."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> CookieSecure:
        text = str(value).lower() if isinstance(value, bool | str) else ""
        try:
            return CookieSecure(text)
        except ValueError:
            raise ValidationError("use auto, true or false") from None


class OpsSchema(Schema):
    token = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=16, error="use 16+ chars")
    )
    username = fields.String(load_default=None, allow_none=True)
    password = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=8, error="use 8+ chars")
    )
    secret_key = fields.String(load_default=None, allow_none=True, validate=_secret_or_empty)
    protect_metrics = fields.Boolean(load_default=False)
    metrics_token = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=16, error="use 16+ chars")
    )
    cookie_secure = _CookieSecureField(load_default=CookieSecure.AUTO)
    trusted_proxies = fields.Integer(
        load_default=0, validate=validate.Range(min=0, max=5, error="use 0 to 5 proxy hops")
    )
    login_attempts = fields.Integer(
        load_default=DEFAULT_LOGIN_ATTEMPTS, validate=validate.Range(min=1)
    )
    login_window = fields.Integer(load_default=DEFAULT_LOGIN_WINDOW, validate=validate.Range(min=1))
    session_lifetime = fields.Integer(
        load_default=DEFAULT_SESSION_LIFETIME, validate=validate.Range(min=60)
    )

    @validates_schema
    def _credentials(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("username")) != bool(data.get("password")):
            raise ValidationError("set both username and password, or neither", "password")
        if not data.get("token") and not data.get("username"):
            raise ValidationError("the console needs a token, or a username + password", "token")


@dataclass(frozen=True)
class OpsSettings:
    """Who may open the console, and how its sessions and login attempts are kept.

    `secret_key` is None when not configured: the web process then uses the generated key
    from `session_secret`, so a missing key is never replaced by a guessable one.
    """

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    protect_metrics: bool = False
    metrics_token: str | None = field(default=None, repr=False)
    cookie_secure: CookieSecure = CookieSecure.AUTO
    trusted_proxies: int = 0
    login_attempts: int = DEFAULT_LOGIN_ATTEMPTS
    login_window: int = DEFAULT_LOGIN_WINDOW
    session_lifetime: int = DEFAULT_SESSION_LIFETIME

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.password, self.secret_key, self.metrics_token) if s]

    def fingerprint(self, key: str) -> str:
        """Changes whenever a credential (or the key) changes, so old sessions stop working.

        Keyed, so someone who can read Redis cannot test password guesses against it.
        """
        material = f"{self.token or ''}\0{self.username or ''}\0{self.password or ''}"
        return hmac.new(key.encode(), material.encode(), hashlib.sha256).hexdigest()


def ops_settings(loaded: Mapping[str, Any] | None) -> OpsSettings | None:
    """None (console disabled) when the config has no `ops` section."""
    if not loaded:
        return None
    defaults = OpsSettings()
    cookie_secure = loaded.get("cookie_secure", defaults.cookie_secure)
    return OpsSettings(
        token=loaded.get("token") or None,
        username=loaded.get("username") or None,
        password=loaded.get("password") or None,
        secret_key=loaded.get("secret_key") or None,
        protect_metrics=bool(loaded.get("protect_metrics")),
        metrics_token=loaded.get("metrics_token") or None,
        cookie_secure=CookieSecure(cookie_secure),
        trusted_proxies=int(loaded.get("trusted_proxies", defaults.trusted_proxies)),
        login_attempts=int(loaded.get("login_attempts", defaults.login_attempts)),
        login_window=int(loaded.get("login_window", defaults.login_window)),
        session_lifetime=int(loaded.get("session_lifetime", defaults.session_lifetime)),
    )


def session_secret(ops: OpsSettings, data_dir: Path) -> str:
    """The configured `ops.secret_key`, or the generated one kept in data_dir (made once).

    Every process that shares data_dir (gunicorn's workers, a restart) reads the same key.
    Replicas on other machines need the same `ops.secret_key` configured instead.
    """
    if ops.secret_key:
        return ops.secret_key
    path = Path(data_dir) / SECRET_KEY_FILE
    try:
        if not path.exists():
            _create_secret_file(path)
        key = path.read_text(encoding="utf-8").strip()
        if path.stat().st_mode & 0o077:
            log.warning("%s can be read by other users; it should be mode 0600", path)
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the console's session key in {path} ({exc.strerror or exc}): "
            "make data_dir writable or set ops.secret_key"
        ) from exc
    if len(key) < MIN_SECRET_KEY:
        raise ConfigError(
            f"{path} holds a key shorter than {MIN_SECRET_KEY} characters: delete the file "
            "(a new one is generated, every console session ends) or set ops.secret_key"
        )
    return key


def _create_secret_file(path: Path) -> None:
    """Write the key to a private temp file, then link it into place.

    A hard link fails if the name exists, so when several processes start at once exactly
    one key wins, and nobody ever reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
