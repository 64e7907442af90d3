"""The one list of system types: connector classes found through an entry-point group.

A connector is a class that describes itself (bridge.protocol.Connector: kind, title,
capabilities, auth and options schemas, limits, statuses, hooks, sandbox). Packages register
their classes under the entry-point group `ticket_bridge.connectors`, the name being the type a
config file writes (`type: redmine`); this package registers its built-ins the same way in
pyproject.toml, so a third party ships a connector as its own distribution and nothing here
changes. Config validation, the online check, the texts, the CLI and the sandbox world all ask
this module; none keeps a list of its own.

Entry points are read from the installed distributions' metadata (`pip install -e .` in a
checkout); a class is imported only when its type is asked for, so a deployment loads the
vendors it configures.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from marshmallow import Schema

from bridge.errors import ConfigError
from bridge.protocol import (
    Capability,
    Connector,
    Hook,
    Hooks,
    Limits,
    SideStatuses,
    SystemSettings,
)

if TYPE_CHECKING:
    from redis import Redis

GROUP = "ticket_bridge.connectors"
# A type name is a config value and one half of a shipped mapping's file name (`zendesk-redmine`).
KIND = re.compile(r"^[a-z][a-z0-9_]*$")

# Every member a connector class must declare, with the type its value must have; methods are
# checked by name (bridge.protocol documents their signatures).
_DECLARED: Mapping[str, type | tuple[type, ...]] = {
    "kind": str,
    "title": str,
    "capabilities": frozenset,
    "limits": Limits,
    "statuses": SideStatuses,
    "hooks": frozenset,
    "sandbox": (str, type(None)),
}
_MISSING = object()
_METHODS = (
    "whoami",
    "check_usage",
    "verify_webhook",
    "parse_webhook",
    "get_ticket",
    "create_ticket",
    "update_ticket",
    "add_comment",
    "list_comments",
    "stored_text",
    "ticket_url",
)
# What each capability promises beyond the base protocol (bridge.protocol's small protocols).
_CAPABILITY_METHODS: Mapping[Capability, str] = {
    Capability.POLLING: "changes_since",
    Capability.ATTACHMENTS: "fetch_attachment",
    Capability.FIND_CREATED: "find_created",
    Capability.READS_TOGETHER: "get_ticket_and_comments",
}


class Registry:
    """Connector classes by type name, from entry points (tests pass their own)."""

    def __init__(self, points: Iterable[EntryPoint]) -> None:
        self._points: dict[str, EntryPoint] = {}
        self._classes: dict[str, type[Connector]] = {}
        twice: dict[str, list[str]] = {}
        for point in points:
            if point.name in self._points and self._points[point.name].value != point.value:
                twice.setdefault(point.name, [self._points[point.name].value]).append(point.value)
            self._points[point.name] = point
        if twice:
            lines = "; ".join(f"{name}: {', '.join(values)}" for name, values in twice.items())
            raise ConfigError(f"more than one connector registers the same type ({lines})")

    def kinds(self) -> tuple[str, ...]:
        """Every registered type name, sorted (nothing is imported)."""
        return tuple(sorted(self._points))

    def connector_class(self, kind: str) -> type[Connector]:
        """The class registered for `kind`, imported and checked once."""
        if kind in self._classes:
            return self._classes[kind]
        point = self._points.get(kind)
        if point is None:
            known = ", ".join(self.kinds()) or "none (is the package installed? pip install -e .)"
            raise ConfigError(f"no connector for type {kind!r} (known: {known})")
        try:
            loaded = point.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"connector type {kind!r}: cannot load {point.value} (entry point of group "
                f"{GROUP}): {type(exc).__name__}: {exc}"
            ) from exc
        cls = _checked(kind, point.value, loaded)
        self._classes[kind] = cls
        return cls

    def build(self, settings: SystemSettings, redis: Redis | None = None) -> Connector:
        """A system's connector; with Redis, its requests share the system's request budget
        and are counted and timed in the metrics (bridge.telemetry.metrics).

        `options.requests_per_minute` (e.g. the Zendesk plan limit, minus a margin for other
        integrations) is enforced across all workers through Redis, by the BEFORE_REQUEST hook.
        """
        cls = self.connector_class(settings.type)
        before_request = None
        per_minute = settings.options.get("requests_per_minute")
        if redis is not None and per_minute:
            if Hook.BEFORE_REQUEST not in cls.hooks:
                raise ConfigError(
                    f"system {settings.name}: options.requests_per_minute needs a connector that "
                    f"takes the {Hook.BEFORE_REQUEST.value} hook; {settings.type} does not"
                )
            # Imported here, not above: the type facts this module answers (titles, statuses,
            # schemas) are read by texts and mapping checks, which must not load Redis code.
            from bridge.budget import RequestBudget

            budget = RequestBudget(
                redis, settings.name, float(per_minute), int(settings.options.get("burst", 1))
            )
            before_request = budget.acquire
        observe = None
        if redis is not None and Hook.OBSERVE_REQUEST in cls.hooks:
            # Imported here for the same reason: the metrics live in Redis.
            from bridge.telemetry.metrics import request_recorder

            observe = request_recorder(redis)
        return cls(settings, hooks=Hooks(before_request=before_request, observe=observe))


def _checked(kind: str, target: str, loaded: Any) -> type[Connector]:
    """The loaded object if it is a connector class that declares everything; else a
    ConfigError listing what is missing, so a third-party package fails at start, not mid-sync."""
    if not inspect.isclass(loaded):
        raise ConfigError(f"connector type {kind!r}: {target} is not a class")
    declared: Any = loaded  # what it declares is what is checked below
    problems = []
    if not KIND.match(kind):
        problems.append(f"type name {kind!r} must be lower-case letters, digits and _")
    for name, wanted in _DECLARED.items():
        value = getattr(loaded, name, _MISSING)
        if value is _MISSING or not isinstance(value, wanted):
            problems.append(f"{name} (a {_names(wanted)})")
    if not all(isinstance(c, Capability) for c in getattr(loaded, "capabilities", ())):
        problems.append("capabilities (members of bridge.protocol.Capability)")
    if not all(isinstance(h, Hook) for h in getattr(loaded, "hooks", ())):
        problems.append("hooks (members of bridge.protocol.Hook)")
    for name in ("auth_schema", "options_schema"):
        value = getattr(loaded, name, None)
        if not (inspect.isclass(value) and issubclass(value, Schema)):
            problems.append(f"{name} (a marshmallow Schema class)")
    capabilities: Any = getattr(loaded, "capabilities", frozenset())
    if isinstance(capabilities, frozenset):
        methods = [*_METHODS, *(_CAPABILITY_METHODS.get(c, "") for c in capabilities)]
    else:
        methods = list(_METHODS)
    problems += [f"{m}()" for m in methods if m and not callable(getattr(loaded, m, None))]
    if not problems and declared.kind != kind:
        problems.append(f"kind = {kind!r} (it says {declared.kind!r})")
    if problems:
        raise ConfigError(
            f"connector type {kind!r} ({target}) does not declare: {', '.join(problems)}"
        )
    cls: type[Connector] = declared
    return cls


def _names(wanted: type | tuple[type, ...]) -> str:
    types = wanted if isinstance(wanted, tuple) else (wanted,)
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


@cache
def registry() -> Registry:
    """The installed connectors (read once per process)."""
    return Registry(entry_points(group=GROUP))


def kinds() -> tuple[str, ...]:
    return registry().kinds()


def connector_class(kind: str) -> type[Connector]:
    return registry().connector_class(kind)


def build_connector(settings: SystemSettings, redis: Redis | None = None) -> Connector:
    """Build a system's connector; see Registry.build."""
    return registry().build(settings, redis)


def title_of(kind: str) -> str | None:
    """What people call a type's product ("MantisBT"); None for an unknown type."""
    return connector_class(kind).title if kind in kinds() else None


def statuses_of(kind: str) -> SideStatuses | None:
    """How a type's statuses say who a ticket waits on; None for an unknown type."""
    return connector_class(kind).statuses if kind in kinds() else None
