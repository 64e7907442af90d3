"""The escalation gate: is a ticket technical, and does it carry the required data?

Pure functions over the neutral Ticket and a RouteMapping. The required data is checked with a
marshmallow schema built from the mapping, so "missing" and "present but invalid" come back with
a reason a first-level agent can act on.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from bridge.mapping import Condition, RequiredField, RouteMapping
from bridge.models import Ticket

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]{0,62}$", re.IGNORECASE
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USER = re.compile(r"^[\w.\-@+ ]{2,}$")


def source_value(ticket: Ticket, source: str) -> Any:
    """Read one source (see mapping.SOURCE) from a ticket; None or "" when absent."""
    if source.startswith("field:"):
        return ticket.fields.get(source.removeprefix("field:"))
    if source.startswith("tag_prefix:"):
        prefix = source.removeprefix("tag_prefix:")
        for tag in ticket.tags:
            if tag.startswith(prefix) and len(tag) > len(prefix):
                return tag[len(prefix) :]
        return None
    if source == "tags":
        return list(ticket.tags)
    return getattr(ticket, source, None)


def _first_present(ticket: Ticket, sources: tuple[str, ...]) -> Any:
    for source in sources:
        value = source_value(ticket, source)
        # An unchecked Zendesk checkbox is False and says nothing; a yes/no question needs a
        # dropdown (or an explicit text) so "not answered" and "no" stay distinguishable.
        if value not in (None, "", [], False):
            return value
    return None


def _matches(ticket: Ticket, cond: Condition) -> bool:
    value = source_value(ticket, cond.source)
    values = [str(v).lower() for v in value] if isinstance(value, list) else [str(value).lower()]
    if value is None:
        return False
    if cond.in_ is not None:
        return any(v in cond.in_ for v in values)
    return cond.contains is not None and cond.contains.lower() in values


@dataclass(frozen=True)
class TechnicalVerdict:
    technical: bool
    reason: str


def is_technical(ticket: Ticket, mapping: RouteMapping) -> TechnicalVerdict:
    """Technical when any `any` rule matches and no `none` rule does; the reason says which."""
    for cond in mapping.technical_none:
        if _matches(ticket, cond):
            return TechnicalVerdict(False, f"excluded by rule {_describe(cond)}")
    for cond in mapping.technical_any:
        if _matches(ticket, cond):
            return TechnicalVerdict(True, f"matched rule {_describe(cond)}")
    seen = ", ".join(
        f"{c.source}={source_value(ticket, c.source)!r}" for c in mapping.technical_any
    )
    return TechnicalVerdict(False, f"no technical rule matched ({seen or 'no rules configured'})")


def _describe(cond: Condition) -> str:
    test = f"in {list(cond.in_)}" if cond.in_ is not None else f"contains {cond.contains!r}"
    return f"{cond.source} {test}"


class YesNo(fields.Field):
    """A yes/no answer written in the first level's words (dropdown tags, checkbox, text)."""

    def __init__(self, yes: tuple[str, ...], no: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.yes, self.no = yes, no

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.yes:
            return True
        if text in self.no:
            return False
        raise ValidationError(f"{value!r} is neither yes ({'/'.join(self.yes)}) nor no")


def _field_for(spec: RequiredField) -> fields.Field:
    if spec.kind == "yes_no":
        return YesNo(spec.yes, spec.no, required=True)
    checks: list[Any] = [validate.Length(min=spec.min_length)]
    if spec.kind == "domain":
        checks.append(validate.Regexp(_DOMAIN, error="is not a domain name like example.com"))
    elif spec.kind == "email":
        checks.append(validate.Regexp(_EMAIL, error="is not an e-mail address"))
    elif spec.kind == "email_or_user":
        checks.append(validate.Regexp(_USER, error="is neither an e-mail address nor a user name"))
    if spec.pattern:
        checks.append(validate.Regexp(spec.pattern, error="does not match {regex}"))
    return fields.String(required=True, validate=validate.And(*checks))


def _normalise(value: Any, spec: RequiredField) -> Any:
    if spec.kind == "yes_no":
        return value
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    if spec.kind == "domain" and isinstance(value, str):
        value = re.sub(r"^[a-z]+://", "", value.strip(), flags=re.IGNORECASE).split("/")[0]
    return str(value).strip()


@dataclass(frozen=True)
class GateResult:
    """`values` holds the cleaned data; `problems` maps field -> reason ("missing" or why)."""

    values: Mapping[str, Any]
    problems: Mapping[str, str]

    @property
    def complete(self) -> bool:
        return not self.problems


def check_required(ticket: Ticket, mapping: RouteMapping) -> GateResult:
    """Collect every required datum and validate it in one marshmallow pass."""
    raw: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, spec in mapping.required.items():
        value = _first_present(ticket, spec.sources)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[name] = "missing"
        else:
            raw[name] = _normalise(value, spec)
    schema_cls = Schema.from_dict(
        {name: _field_for(spec) for name, spec in mapping.required.items() if name in raw}
    )
    try:
        values = schema_cls().load(raw)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        for name, msg in messages.items():
            text = " ".join(msg) if isinstance(msg, list) else str(msg)
            problems[name] = f"{raw.get(name)!r}: {text}" if "length" not in text else "missing"
        values = {k: v for k, v in raw.items() if k not in problems}
    ordered = {n: problems[n] for n in mapping.required if n in problems}
    return GateResult(values=values, problems=ordered)


def map_priority(value: str | None, mapping: RouteMapping) -> str:
    """First-level priority -> second-level name; no priority means the default (normal)."""
    if not value:
        return mapping.priority_default
    return mapping.priority_map.get(value.lower(), mapping.priority_default)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill `{name}` placeholders; unknown names render empty rather than crash a job."""
    return string.Formatter().vformat(template, (), _Blank(values))
