"""The typed `options` of each system type: every key the code reads, with its type.

A system's `options` used to be a free-form mapping: a typo (`requests_per_minuite`) silently
switched the request budget off and `poll_interval: "1m"` crashed `bridge cron` at its first
`int()`. Each type now has a schema listing every option the bridge and that type's connector
read; unknown keys, wrong types and unparseable durations are config errors that name the file,
the line and the key (bridge.config reports them through the YAML loader's line table).

The validated options replace the raw ones in SystemSettings, so readers get numbers: a
duration is always seconds (float), whatever unit the file used.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from bridge.retry import parse_duration


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


class _ProjectIds(fields.Field):
    """MantisBT project ids: one id or a list of them (names would need a lookup)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[int]:
        items = value if isinstance(value, list | tuple) else [value]
        ids = []
        for item in items:
            text = str(item).strip()
            if isinstance(item, bool) or not text.isdigit():
                raise ValidationError(f"list MantisBT project ids (numbers), got {item!r}")
            ids.append(int(text))
        return ids


def _user_ref(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValidationError("give the e-mail or the id of a user")


def _name() -> fields.String:
    return fields.String(validate=validate.Length(min=1))


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


class ZendeskOptions(CommonOptions):
    """Zendesk reads no options of its own."""


class MantisOptions(CommonOptions):
    # connectors.mantis.connector
    external_id_field = _name()  # a custom field holding the helpdesk reference
    projects = _ProjectIds()  # projects polled (default: every project the user sees)
    poll_history = fields.Boolean()
    poll_page_size = WholeNumber(validate=validate.Range(min=1, max=1000))
    project = _name()  # fallbacks when the route's mapping names none
    category = _name()
    severity = _name()


class ZammadOptions(CommonOptions):
    # connectors.zammad.connector
    external_id_field = _name()  # the ticket attribute holding the other side's reference
    customer = fields.Raw(validate=_user_ref)  # e-mail or id of the customer user
    group = _name()
    pending_hours = fields.Float(validate=validate.Range(min=0, min_inclusive=False))


SCHEMAS: dict[str, type[CommonOptions]] = {
    "zendesk": ZendeskOptions,
    "mantis": MantisOptions,
    "zammad": ZammadOptions,
}


def _unknown(schema: Schema, options: Mapping[str, Any]) -> dict[str, list[str]]:
    known = sorted(schema.fields)
    errors: dict[str, list[str]] = {}
    for key in options:
        if key in schema.fields:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        errors[str(key)] = [f"unknown option ({hint})"]
    return errors


def load_options(system_type: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The typed options; ValidationError keyed by option name for every bad one at once."""
    cls = SCHEMAS.get(system_type)
    if cls is None:  # the type itself is reported by the config schema
        return dict(options)
    schema = cls()
    errors = _unknown(schema, options)
    loaded: dict[str, Any] = {}
    try:
        loaded = schema.load({k: v for k, v in options.items() if k in schema.fields})
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        errors.update({str(k): v for k, v in messages.items()})
    if errors:
        raise ValidationError(errors)
    return loaded


def option_keys(system_type: str) -> frozenset[str]:
    """Every option a system of this type may set."""
    cls = SCHEMAS.get(system_type)
    return frozenset(cls().fields) if cls is not None else frozenset()
