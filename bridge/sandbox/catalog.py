"""Which systems the sandbox world can fake, and so which routes `bridge demo` can play.

Both come from the registry: a connector class names its sandbox driver (`sandbox`, a
"module:Class" path, None when there is none), and a route is a shipped mapping file
`<first>-<second>.yaml` whose two types both have one. A new connector with a driver gets its
demo routes by shipping their mappings; one without (Redmine, tested against a real server)
simply has none. Light on purpose: `bridge --help` lists the routes without starting anything.
"""

from __future__ import annotations

import importlib
from importlib import resources
from typing import TYPE_CHECKING

from bridge import registry

if TYPE_CHECKING:
    from bridge.sandbox.drivers import Driver

MAPPINGS = "ticket_bridge_mappings"
DEFAULT_ROUTE = "zendesk-mantis"


def sandboxed() -> tuple[str, ...]:
    """The registered types that declare a sandbox driver."""
    return tuple(k for k in registry.kinds() if registry.connector_class(k).sandbox is not None)


def routes() -> dict[str, tuple[str, str]]:
    """Route name -> (first level, second level), the default route first, then by name; the
    name is also the shipped mapping the route uses."""
    faked = set(sandboxed())
    found: dict[str, tuple[str, str]] = {}
    names = sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files(MAPPINGS).iterdir()
        if entry.name.endswith(".yaml")
    )
    for name in names:
        first, _, second = name.partition("-")
        if first in faked and second in faked and first != second:
            found[name] = (first, second)
    return dict(sorted(found.items(), key=lambda item: item[0] != DEFAULT_ROUTE))


def driver_class(kind: str) -> type[Driver]:
    """The sandbox driver the type's connector names; ValueError when it names none."""
    target = registry.connector_class(kind).sandbox if kind in registry.kinds() else None
    if target is None:
        known = ", ".join(sandboxed())
        raise ValueError(f"no sandbox driver for {kind!r}; known: {known}")
    module, _, name = target.partition(":")
    cls: type[Driver] = getattr(importlib.import_module(module), name)
    return cls
