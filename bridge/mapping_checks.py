"""Checks of a loaded mapping that need more than its schema: status names and placeholders.

A status no system has, or a `{domian}` that renders empty, would only show up as a failed
write or a strange text in a customer's ticket days later; here they fail `check-config` with
the file, the line and the key. Statuses are checked where a system's list is fixed (Zendesk);
site-configurable lists (MantisBT, Zammad) need the live system (`check-config --online`).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bridge.errors import ConfigError
from bridge.protocol import SideStatuses
from bridge.registry import kinds, statuses_of, title_of
from bridge.yamlfile import KeyPath, LocatedYaml


class _Sides(Mapping[str, SideStatuses]):
    """Each registered type's statuses (its connector class's `statuses`), looked up lazily."""

    def __getitem__(self, kind: str) -> SideStatuses:
        side = statuses_of(kind)
        if side is None:
            raise KeyError(kind)
        return side

    def __iter__(self) -> Iterator[str]:
        return iter(kinds())

    def __len__(self) -> int:
        return len(kinds())


SIDES: Mapping[str, SideStatuses] = _Sides()

# What each template may use: the values the engine renders it with.
DRAFT_VALUES = (
    "required_block",
    "subject",
    "description",
    "source_url",
    "source_id",
    "source_system",
    "requester_email",
    "requester_name",
    "priority",
)
MESSAGE_VALUES: Mapping[str, tuple[str, ...]] = {
    "missing_data": ("missing",),
    "link_note": ("target_system", "target_id", "target_url"),
    "comment_header": ("author", "system"),
}
LINK_FORMAT_VALUES = ("system", "id")

Problem = tuple[KeyPath, str]


def resolve_statuses(m: dict[str, Any], raw: Mapping[str, Any], first_type: str | None) -> None:
    """Fill statuses the file leaves unset with the first level's defaults (null stays null)."""
    side = SIDES.get(first_type or "")
    raw_missing = raw.get("missing_data")
    given = isinstance(raw_missing, dict) and "status" in raw_missing
    if not given:
        missing = m["missing_data"]
        wanted = side and (side.ask_requester if missing["public"] else side.ask_agent)
        missing["status"] = wanted or None
    if "escalated_status" not in raw:
        m["escalated_status"] = side.escalated if side else None


def check_mapping(
    doc: LocatedYaml,
    m: Mapping[str, Any],
    first_type: str | None,
    second_type: str | None,
    required_fields: Iterable[str],
) -> None:
    """Every status and placeholder problem of the file at once, each with its line."""
    problems = [
        *_status_problems(m, first_type, second_type),
        *_placeholder_problems(m, (*required_fields, *DRAFT_VALUES)),
    ]
    if problems:
        raise ConfigError("\n".join(str(doc.error(path, msg)) for path, msg in problems))


def _status_problems(
    m: Mapping[str, Any], first_type: str | None, second_type: str | None
) -> list[Problem]:
    status = m["sync"]["status"]
    first: list[tuple[KeyPath, str | None]] = [
        (("missing_data", "status"), m["missing_data"]["status"]),
        (("escalated_status",), m["escalated_status"]),
        *((("sync", "status", "to_second", k), k) for k in status["to_second"]),
        *((("sync", "status", "to_first", k), v) for k, v in status["to_first"].items()),
    ]
    second: list[tuple[KeyPath, str | None]] = [
        *((("sync", "status", "to_second", k), v) for k, v in status["to_second"].items()),
        *((("sync", "status", "to_first", k), k) for k in status["to_first"]),
    ]
    problems: list[Problem] = []
    for kind, used in ((first_type, first), (second_type, second)):
        side = SIDES.get(kind or "")
        if side is None or side.fixed is None:
            continue
        title = title_of(kind or "") or kind
        for path, name in used:
            if name is not None and name.lower() not in side.fixed:
                problems.append(
                    (path, f"{name!r} is not a {title} status; use one of {', '.join(side.fixed)}")
                )
    problems.extend(_request_problems(m["missing_data"], SIDES.get(first_type or "")))
    return problems


def _request_problems(missing: Mapping[str, Any], side: SideStatuses | None) -> list[Problem]:
    """The request for data and the status it leaves the ticket in must tell the same story:
    an internal note asks the agent (the ticket is being worked on), a public comment asks the
    requester (the ticket waits on them)."""
    status, public = missing["status"], missing["public"]
    if side is None or status is None:
        return []
    path: KeyPath = ("missing_data", "status")
    waits = status.lower() in side.waiting_on_requester
    if not public and waits:
        return [
            (path, f"{status!r} waits on the requester, but the request is an internal note for "
                   f"the agent: use {side.ask_agent!r}, or set public: true")
        ]  # fmt: skip
    if public and not waits and side.fixed is not None:
        return [
            (path, f"a public request waits on the requester: use {side.ask_requester!r}, or "
                   f"set public: false with {side.ask_agent!r}")
        ]  # fmt: skip
    return []


def _placeholder_problems(m: Mapping[str, Any], draft: tuple[str, ...]) -> list[Problem]:
    target = m["target"]
    templates: list[tuple[KeyPath, str, tuple[str, ...]]] = [
        (("target", "project"), target["project"], draft),
        *((("target", "custom_fields", k), v, draft) for k, v in target["custom_fields"].items()),
        (("link", "format"), m["link"]["format"], LINK_FORMAT_VALUES),
    ]
    if target.get("project_by"):
        templates.extend(
            (("target", "project_by", "map", k), v, draft)
            for k, v in target["project_by"]["map"].items()
        )
    for lang, texts in m["messages"].items():
        for key in ("summary", "description"):
            templates.append((("messages", lang, key), texts[key], draft))
        for key, allowed in MESSAGE_VALUES.items():
            templates.append((("messages", lang, key), texts[key], allowed))
    problems: list[Problem] = []
    for path, text, allowed in templates:
        problems.extend((path, msg) for msg in placeholder_problems(text, allowed))
    return problems


def placeholder_problems(template: str, allowed: Iterable[str]) -> list[str]:
    """What is wrong with a template's `{name}` placeholders, in words ([] when nothing)."""
    known = tuple(allowed)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"broken placeholder ({exc}); write {{{{ or }}}} for a literal brace"]
    problems: list[str] = []
    for _, name, _, _ in parts:
        if name is None:
            continue
        if not name.isidentifier():
            problems.append(f"placeholder {{{name}}} is not a plain name like {{subject}}")
        elif name not in known:
            listed = ", ".join(f"{{{k}}}" for k in known)
            problems.append(f"unknown placeholder {{{name}}}; known here: {listed}")
    return problems
