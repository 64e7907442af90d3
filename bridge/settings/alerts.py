"""The optional `alerts` config section: where the bridge sends a notification, and when.

```yaml
alerts:
  webhook_url: https://chat.example.com/hooks/abc   # POST {"text": ..., "alerts": [...]}
  smtp:
    host: smtp.example.com
    port: 587
    from: bridge@example.com
    to: [oncall@example.com]
    starttls: true
    user: bridge
    password_env: BRIDGE_SMTP_PASSWORD   # the password is read from this variable
  events: [failure_group, silent, queue]   # the default: all three
  cooldown: 1h          # one message per failure group, system or queue within this time
  queue_threshold: 1000 # jobs waiting on the queue
  check_every: 60s
  resolved: true        # also tell when a condition that was told ends
```

Validated with marshmallow like the rest of the config: an unknown key is an error naming the
file, the line and the key (with the closest known key), so `smpt:` or `stattls:` is caught at
start-up instead of silently sending nothing. The SMTP password is never in the file: only the
name of the variable that holds it.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from bridge.option_fields import Duration

DEFAULT_COOLDOWN = 3600.0
DEFAULT_CHECK_EVERY = 60.0
DEFAULT_QUEUE_THRESHOLD = 1000
DEFAULT_TIMEOUT = 10.0


class AlertKind(enum.Enum):
    """What a notification is about; `alerts.events` picks which are sent."""

    FAILURE_GROUP = "failure_group"  # a new entry in the failure inbox
    SILENT = "silent"  # a system with no good poll or webhook for its alert time
    QUEUE = "queue"  # more jobs waiting than queue_threshold


class _Strict(Schema):
    """Unknown keys are errors with a hint, not silently ignored (marshmallow's own message
    would only say "Unknown field.")."""

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _no_unknown_keys(self, data: Any, original: Any, **_: Any) -> None:
        if not isinstance(original, Mapping):
            return
        known = sorted(f.data_key or name for name, f in self.fields.items())
        errors: dict[str, list[str]] = {}
        for key in original:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
            errors[str(key)] = [f"unknown key ({hint})"]
        if errors:
            raise ValidationError(errors)


class _Addresses(fields.Field):
    """One e-mail address or a list of them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValidationError("give at least one address")
        check = fields.Email()
        return [str(check.deserialize(item)) for item in items]


class SmtpSchema(_Strict):
    host = fields.String(required=True, validate=validate.Length(min=1))
    port = fields.Integer(load_default=587, validate=validate.Range(min=1, max=65535))
    from_ = fields.Email(required=True, data_key="from")
    to = _Addresses(required=True)
    starttls = fields.Boolean(load_default=True)
    user = fields.String(load_default=None, allow_none=True)
    password_env = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$", error="the name of a variable"),
    )
    ca_file = fields.String(load_default=None, allow_none=True)  # a private CA for STARTTLS
    timeout = Duration(load_default=DEFAULT_TIMEOUT)

    @validates_schema
    def _login(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("user")) != bool(data.get("password_env")):
            raise ValidationError("set both user and password_env, or neither", "password_env")


class AlertsSchema(_Strict):
    webhook_url = fields.Url(
        load_default=None, allow_none=True, require_tld=False, schemes={"http", "https"}
    )
    smtp = fields.Nested(SmtpSchema, load_default=None, allow_none=True)
    events = fields.List(
        fields.String(validate=validate.OneOf([k.value for k in AlertKind])),
        load_default=lambda: [k.value for k in AlertKind],
    )
    cooldown = Duration(load_default=DEFAULT_COOLDOWN)
    check_every = Duration(load_default=DEFAULT_CHECK_EVERY)
    queue_threshold = fields.Integer(
        load_default=DEFAULT_QUEUE_THRESHOLD, validate=validate.Range(min=1)
    )
    timeout = Duration(load_default=DEFAULT_TIMEOUT)  # of the webhook's POST
    console_url = fields.Url(load_default=None, allow_none=True, require_tld=False)
    resolved = fields.Boolean(load_default=True)

    @validates_schema
    def _somewhere(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("webhook_url") and not data.get("smtp"):
            raise ValidationError("give webhook_url, smtp, or both", "webhook_url")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = True
    user: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class AlertSettings:
    """`webhook_url` is excluded from repr: chat hooks carry their secret in the URL."""

    webhook_url: str | None = field(default=None, repr=False)
    smtp: SmtpSettings | None = None
    events: frozenset[AlertKind] = frozenset(AlertKind)
    cooldown: float = DEFAULT_COOLDOWN
    check_every: float = DEFAULT_CHECK_EVERY
    queue_threshold: int = DEFAULT_QUEUE_THRESHOLD
    timeout: float = DEFAULT_TIMEOUT
    console_url: str = ""
    resolved: bool = True  # a condition that was told gets a message when it ends


def alert_settings(loaded: Mapping[str, Any] | None) -> AlertSettings | None:
    """None (no notifications) when the config has no `alerts` section."""
    if not loaded:
        return None
    smtp = loaded.get("smtp")
    return AlertSettings(
        webhook_url=loaded.get("webhook_url") or None,
        smtp=None
        if not smtp
        else SmtpSettings(
            host=smtp["host"],
            port=int(smtp["port"]),
            sender=smtp["from_"],
            to=tuple(smtp["to"]),
            starttls=bool(smtp["starttls"]),
            user=smtp.get("user") or None,
            password_env=smtp.get("password_env") or None,
            ca_file=smtp.get("ca_file") or None,
            timeout=float(smtp["timeout"]),
        ),
        events=frozenset(AlertKind(k) for k in loaded["events"]),
        cooldown=float(loaded["cooldown"]),
        check_every=float(loaded["check_every"]),
        queue_threshold=int(loaded["queue_threshold"]),
        timeout=float(loaded["timeout"]),
        console_url=(loaded.get("console_url") or "").rstrip("/"),
        resolved=bool(loaded["resolved"]),
    )
