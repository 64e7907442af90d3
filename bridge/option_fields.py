"""The building blocks connectors declare their `auth` and `options` schemas with.

A system's `options` used to be a free-form mapping: a typo (`requests_per_minuite`) silently
switched the request budget off and `poll_interval: "1m"` crashed `bridge cron` at its first
`int()`. Every connector class now names an options schema (`options_schema`) that extends
CommonOptions below with the keys its own code reads; bridge.system_options validates a system's
options with it, so unknown keys, wrong types and unparseable durations are config errors that
name the file, the line and the key. The validated options replace the raw ones in
SystemSettings, so readers get numbers: a duration is always seconds (float), whatever unit the
file used.

Kept free of config, registry and connector imports: connectors depend on it like on
bridge.models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.durations import parse_duration


class Duration(fields.Field):
    """Seconds, given as a number or with a unit (90, "90s", "15m", "24h", "2d")."""

    def __init__(self, *, positive: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positive = positive

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ValidationError(f"{value!r} is not a duration: {exc}") from exc
        if self.positive and seconds <= 0:
            raise ValidationError("must be more than 0 seconds")
        return seconds


class WholeNumber(fields.Integer):
    """An integer, also from a string (a `${VAR}` gives one); 1.5 is refused, not cut to 1."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def name_field() -> fields.String:
    """A non-empty name (a project, a group, a field)."""
    return fields.String(validate=validate.Length(min=1))


def secret_field() -> fields.String:
    """A credential: a non-empty string (`${VAR}` interpolation happens before validation)."""
    return fields.String(validate=validate.Length(min=1))


class AuthSchema(Schema):
    """A type's `auth` block: its credential fields, and the one statement of which of them
    let the bridge in (`ways_in`), read both by the check at config load and by the connector
    choosing its credentials (connectors.access), so the rule is never written twice."""

    # Each way is a set of keys that together authenticate; the first complete one is used.
    ways_in: ClassVar[tuple[tuple[str, ...], ...]] = ()
    # What the type needs, in the words of the config error ("mantis needs auth.token (...)").
    needs: ClassVar[str] = ""

    @validates_schema
    def _a_way_in(self, data: dict[str, Any], **_: Any) -> None:
        if self.way_in(data) is None:
            raise ValidationError(self.needs)

    @classmethod
    def way_in(cls, auth: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The first way in whose keys `auth` all has, None when none is complete."""
        return next((way for way in cls.ways_in if all(auth.get(k) for k in way)), None)

    @classmethod
    def summary(cls) -> str:
        """The ways in, short: "`email` + `token` or `oauth_token`"."""
        return " or ".join(" + ".join(f"`{key}`" for key in way) for way in cls.ways_in)


class CommonOptions(Schema):
    """Options every system type understands (read by bridge/ and connectors/http.py)."""

    # bridge.registry: a request budget shared by all workers through Redis.
    requests_per_minute = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    burst = WholeNumber(validate=validate.Range(min=1))
    # bridge.polling: 0 switches polling (or the webhook sweep) off.
    poll_interval = Duration(positive=False)
    poll_overlap = Duration(positive=False)
    # bridge.ops.inspect: how long the system may stay silent before the console warns.
    silence_alert = Duration()
    # bridge.attachments: the largest file the bridge copies into this system.
    max_attachment_bytes = WholeNumber(validate=validate.Range(min=1))
    # connectors.http: the total time one call (or one file transfer) may take.
    request_deadline = Duration()
    file_deadline = Duration()
