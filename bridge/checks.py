"""Online checks of the config against the live systems, for `check-config --online` and
worker start.

This side knows the mappings: it collects, per system, every name the routes use there
(statuses, priorities, projects, categories, fields, the link attribute) into a neutral
`Usage`. The vendor side is each connector's `check_usage()` (bridge.protocol), which reads its
live system and answers with findings.
"""

from __future__ import annotations

from collections.abc import Collection

from bridge.config import Config, Route
from bridge.errors import BridgeError
from bridge.findings import Finding, Level, Usage
from bridge.registry import build_connector

FIELD = "field:"


def _field(source: str) -> str | None:
    return source[len(FIELD) :] if source.startswith(FIELD) else None


def _first_level(usage: Usage, route: Route) -> None:
    """What the route reads from and writes to its first-level (helpdesk) system."""
    m, at = route.mapping, f"route {route.name} ({route.mapping.path.name})"
    for name in m.sync.status_to_first.values():
        usage.add(usage.statuses, name, f"{at}: sync.status.to_first")
    for name in m.sync.status_to_second:
        usage.add(usage.statuses, name, f"{at}: sync.status.to_second")
    usage.add(usage.statuses, m.missing_status, f"{at}: missing_data.status")
    usage.add(usage.statuses, m.escalated_status, f"{at}: escalated_status")
    for name in m.sync.priority_to_first.values():
        usage.add(usage.priorities, name, f"{at}: sync.priority.to_first")
    for name in [*m.sync.priority_to_second, *m.priority_map]:
        usage.add(usage.priorities, name, f"{at}: priority")
    for key, spec in m.required.items():
        for source in spec.sources:
            usage.add(usage.read_fields, _field(source), f"{at}: required.{key}.from")
    for condition in (*m.technical_any, *m.technical_none):
        usage.add(usage.read_fields, _field(condition.source), f"{at}: technical")
    usage.add(usage.link_attributes, _field(m.link_field), f"{at}: link.first_level_field")


def _second_level(usage: Usage, route: Route) -> None:
    """What the route writes to and reads from its second-level (vendor) system."""
    m, at = route.mapping, f"route {route.name} ({route.mapping.path.name})"
    for name in m.sync.status_to_second.values():
        usage.add(usage.statuses, name, f"{at}: sync.status.to_second")
    for name in m.sync.status_to_first:
        usage.add(usage.statuses, name, f"{at}: sync.status.to_first")
    for name in [*m.priority_map.values(), m.priority_default]:
        usage.add(usage.priorities, name, f"{at}: priority")
    for name in m.sync.priority_to_second.values():
        usage.add(usage.priorities, name, f"{at}: sync.priority.to_second")
    for name in m.sync.priority_to_first:
        usage.add(usage.priorities, name, f"{at}: sync.priority.to_first")
    # A name with a placeholder is only known per ticket; the check cannot verify it.
    for name in [m.project, *m.project_map.values()]:
        if "{" not in name:
            usage.add(usage.projects, name, f"{at}: target.project")
    if m.category and "{" not in m.category:
        usage.add(usage.categories, m.category, f"{at}: target.category")
    for name in m.custom_fields:
        usage.add(usage.custom_fields, name, f"{at}: target.custom_fields")


def usage_of(config: Config, system: str) -> Usage:
    """Every name the config's routes and the system's options use on `system`."""
    usage = Usage()
    for route in config.routes_from(system):
        _first_level(usage, route)
    for route in config.routes_to(system):
        _second_level(usage, route)
    options = config.systems[system].options
    where = f"systems.{system}.options"
    usage.add(usage.link_attributes, options.get("external_id_field"), f"{where}.external_id_field")
    usage.add(usage.severities, options.get("severity"), f"{where}.severity")
    usage.add(usage.categories, options.get("category"), f"{where}.category")
    usage.add(usage.projects, options.get("project") or options.get("group"), where)
    return usage


def check_system(config: Config, system: str, enums_only: bool = False) -> list[Finding]:
    """Findings for one system (its connector's check_usage); a BridgeError (unreachable,
    refused) propagates."""
    connector = build_connector(config.systems[system])
    return connector.check_usage(usage_of(config, system), enums_only)


def startup_warnings(config: Config, skip: Collection[str] = ()) -> list[str]:
    """The enum checks at worker start: one line per problem, never an exception.

    A system that cannot be reached is reported, not fatal: the worker still starts and
    retries its jobs when the system is back. Systems in `skip` (paused: nothing may be sent
    to them) are not asked.
    """
    lines: list[str] = [f"{name}: names not checked at start (paused)" for name in skip]
    for name in config.systems:
        if name in skip:
            continue
        try:
            findings = check_system(config, name, enums_only=True)
        except BridgeError as exc:
            lines.append(f"{name}: names not checked at start ({type(exc).__name__}: {exc})")
            continue
        lines += [f"{name}: {f.text}" for f in findings if f.level is not Level.OK]
    return lines
