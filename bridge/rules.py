"""The escalation gate: is a ticket technical, and does it carry the required data?

Pure functions over the neutral Ticket and a RouteMapping. The required data is checked with a
marshmallow schema built from the mapping, so "missing" and "present but invalid" come back with
a reason a first-level agent can act on.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields

from bridge.mapping import Condition, RequiredField, RouteMapping
from bridge.models import Ticket
from bridge.texts import Language, text

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

    def __init__(
        self, yes: tuple[str, ...], no: tuple[str, ...], lang: Language, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.yes, self.no, self.lang = yes, no, lang

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        answer = str(value).strip().lower()
        if answer in self.yes:
            return True
        if answer in self.no:
            return False
        raise ValidationError(f"{value!r} {text(self.lang, 'yes_no')}")


_KIND_CHECKS = {"domain": _DOMAIN, "email": _EMAIL, "email_or_user": _USER}


def _matching(regex: re.Pattern[str] | str, words: str) -> Callable[[str], None]:
    """A check that says what is wrong in the agent's words, never with the expression: the
    message names the value and what a valid one is (a mapping's `hint`, or a general one)."""
    compiled = re.compile(regex)

    def check(value: str) -> None:
        if not compiled.match(value):
            raise ValidationError(f"{value!r} {words}")

    return check


def _long_enough(n: int, lang: Language) -> Callable[[str], None]:
    def check(value: str) -> None:
        if len(value) < n:
            raise ValidationError(text(lang, "min_length", n=n))

    return check


def _field_for(spec: RequiredField, lang: Language) -> fields.Field:
    if spec.kind == "yes_no":
        return YesNo(spec.yes, spec.no, lang, required=True)
    checks: list[Callable[[str], None]] = [_long_enough(spec.min_length, lang)]
    kind_check = _KIND_CHECKS.get(spec.kind)
    if kind_check is not None:
        checks.append(_matching(kind_check, text(lang, spec.kind)))
    if spec.pattern:
        checks.append(_matching(spec.pattern, spec.hint.get(lang) or text(lang, "pattern")))
    return fields.String(required=True, validate=_first_failure(checks))


def _first_failure(checks: list[Callable[[str], None]]) -> Callable[[str], None]:
    """Only the first problem: "too short" and "wrong format" at once say the same twice."""

    def check(value: str) -> None:
        for one in checks:
            one(value)

    return check


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


def check_required(
    ticket: Ticket, mapping: RouteMapping, lang: Language = Language.EN
) -> GateResult:
    """Collect every required datum and validate it in one marshmallow pass; the reasons are
    written in `lang` (the language of the team that has to fix them)."""
    raw: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, spec in mapping.required.items():
        value = _first_present(ticket, spec.sources)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems[name] = "missing"
        else:
            raw[name] = _normalise(value, spec)
    schema_cls = Schema.from_dict(
        {name: _field_for(spec, lang) for name, spec in mapping.required.items() if name in raw}
    )
    try:
        values = schema_cls().load(raw)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        for name, msg in messages.items():
            problems[name] = " ".join(msg) if isinstance(msg, list) else str(msg)
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
    """Fill `{name}` placeholders. Mappings are checked at load time (mapping_checks), so an
    unknown name cannot reach here from a file; should one slip through, it renders empty
    rather than crash a job."""
    return string.Formatter().vformat(template, (), _Blank(values))
