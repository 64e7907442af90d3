"""The typed `options` and `auth` of each system type, validated with the schemas its connector
class declares (bridge.registry finds the class; bridge.option_fields has the building blocks).

Unknown keys, wrong types and unparseable durations are reported all at once, keyed by the
option's name, so bridge.config can name the file, the line and the key of each.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from marshmallow import Schema, ValidationError

from bridge import registry


class _Schemas(Mapping[str, type[Schema]]):
    """Options schema per registered type, imported only when a type is looked up."""

    def __getitem__(self, kind: str) -> type[Schema]:
        if kind not in registry.kinds():
            raise KeyError(kind)
        return registry.connector_class(kind).options_schema

    def __iter__(self) -> Iterator[str]:
        return iter(registry.kinds())

    def __len__(self) -> int:
        return len(registry.kinds())


SCHEMAS: Mapping[str, type[Schema]] = _Schemas()


def _unknown(schema: Schema, given: Mapping[str, Any], what: str) -> dict[str, list[str]]:
    known = sorted(schema.fields)
    errors: dict[str, list[str]] = {}
    for key in given:
        if key in schema.fields:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        errors[str(key)] = [f"unknown {what} ({hint})"]
    return errors


def _load(schema: Schema, given: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Every bad key at once: unknown ones with the likely meant one, then the schema's own."""
    errors: dict[str, Any] = _unknown(schema, given, what)
    loaded: dict[str, Any] = {}
    try:
        loaded = schema.load({k: v for k, v in given.items() if k in schema.fields})
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        errors.update({str(k): v for k, v in messages.items()})
    if errors:
        raise ValidationError(errors)
    return loaded


def load_options(system_type: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The typed options; ValidationError keyed by option name for every bad one at once."""
    if system_type not in registry.kinds():  # the type itself is reported by the config schema
        return dict(options)
    return _load(SCHEMAS[system_type](), options, "option")


def check_auth(system_type: str, auth: Mapping[str, Any]) -> None:
    """ValidationError unless `auth` has what the type's connector needs; a rule about the
    whole block ("email + token, or oauth_token") comes as the only message, keyed nowhere."""
    if system_type not in registry.kinds():
        return
    try:
        _load(registry.connector_class(system_type).auth_schema(), auth, "auth key")
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        whole = messages.pop("_schema", None)
        if whole and not messages:
            raise ValidationError(whole) from None
        if whole:
            messages["_schema"] = whole
        raise ValidationError(messages) from None


def option_keys(system_type: str) -> frozenset[str]:
    """Every option a system of this type may set."""
    if system_type not in registry.kinds():
        return frozenset()
    return frozenset(SCHEMAS[system_type]().fields)
