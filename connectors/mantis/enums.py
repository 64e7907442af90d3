"""The site's own status, priority, severity and resolution lists, read from `GET /config`.

MantisBT accepts any name on a write and stores an unknown one as id 0 (`@0@`), which corrupts
the issue without an error (observed on 2.28.4). So names are checked against the site's
lists before anything is sent, and every list is the site's own: enums are configurable
(`$g_status_enum_string` ...), so hard-coded defaults would refuse a site's extra statuses and
let its removed ones through. `load_enums` is the one public entry (also used by
`check-config --online`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.errors import ConfigError
from connectors.http import HttpClient

log = logging.getLogger(__name__)


class EnumKind(StrEnum):
    """The enums a bridge writes; the value is the issue field's name."""

    STATUS = "status"
    PRIORITY = "priority"
    SEVERITY = "severity"
    RESOLUTION = "resolution"

    @property
    def option(self) -> str:
        return f"{self.value}_enum_string"

    @property
    def plural(self) -> str:
        return {"status": "statuses", "priority": "priorities", "severity": "severities"}.get(
            self.value, f"{self.value}s"
        )


MAX_FILE_SIZE_OPTION = "max_file_size"


@dataclass(frozen=True)
class MantisEnums:
    """name -> id per kind, in the site's order; a kind missing from the answer (an option
    the server did not publish) is absent and not checked. `max_file_size` is
    `$g_max_file_size` when published."""

    values: Mapping[EnumKind, Mapping[str, int]] = field(default_factory=dict)
    max_file_size: int | None = None

    def names(self, kind: EnumKind) -> tuple[str, ...]:
        return tuple(self.values.get(kind, {}))

    def check(self, kind: EnumKind, ref: Mapping[str, Any], system: str = "") -> None:
        """ConfigError unless `ref` (`{"name"}` or `{"id"}`) is one of the site's values."""
        table = self.values.get(kind)
        if table is None:
            return
        if "name" in ref:
            if str(ref["name"]) in table:
                return
            shown = repr(str(ref["name"]))
        elif "id" in ref:
            if ref["id"] in table.values() or str(ref["id"]) in map(str, table.values()):
                return
            shown = f"id {ref['id']}"
        else:
            return
        where = f"system {system!r}: " if system else ""
        raise ConfigError(
            f"{where}{kind.value} {shown} is not one of this MantisBT's {kind.plural}: "
            + ", ".join(table)
        )


def stock_enums(max_file_size: int | None = 5 * 1024 * 1024) -> MantisEnums:
    """The lists of a stock 2.x (config_defaults_inc.php), for tests and examples; a running
    connector always reads the site's own with `load_enums`."""
    return MantisEnums(
        {
            EnumKind.STATUS: {
                "new": 10,
                "feedback": 20,
                "acknowledged": 30,
                "confirmed": 40,
                "assigned": 50,
                "resolved": 80,
                "closed": 90,
            },
            EnumKind.PRIORITY: {
                "none": 10,
                "low": 20,
                "normal": 30,
                "high": 40,
                "urgent": 50,
                "immediate": 60,
            },
            EnumKind.SEVERITY: {
                "feature": 10,
                "trivial": 20,
                "text": 30,
                "tweak": 40,
                "minor": 50,
                "major": 60,
                "crash": 70,
                "block": 80,
            },
            EnumKind.RESOLUTION: {
                "open": 10,
                "fixed": 20,
                "reopened": 30,
                "unable to duplicate": 40,
                "not fixable": 50,
                "duplicate": 60,
                "not a bug": 70,
                "suspended": 80,
                "wont fix": 90,
            },
        },
        max_file_size,
    )


def load_enums(http: HttpClient, project_id: int | None = None) -> MantisEnums:
    """One `GET /config` for the four enums and `max_file_size` (of `project_id`, else of
    All Projects). Transport and HTTP errors propagate as the error tree."""
    params: dict[str, Any] = {
        "option[]": [kind.option for kind in EnumKind] + [MAX_FILE_SIZE_OPTION],
        "project_id": project_id or 0,
    }
    data = http.json("GET", "config", "read MantisBT's enums (GET /config)", params=params)
    configs = data.get("configs") if isinstance(data, Mapping) else None
    by_option: dict[str, Any] = {}
    for entry in configs if isinstance(configs, list) else ():
        if isinstance(entry, Mapping) and isinstance(entry.get("option"), str):
            by_option[entry["option"]] = entry.get("value")
    values: dict[EnumKind, dict[str, int]] = {}
    for kind in EnumKind:
        table = _enum_table(by_option.get(kind.option))
        if table:
            values[kind] = table
        else:
            log.warning(
                "mantis: GET /config gave no %s; %s names are not checked", kind.option, kind
            )
    size = by_option.get(MAX_FILE_SIZE_OPTION)
    max_file_size = int(size) if isinstance(size, int | str) and str(size).isdigit() else None
    return MantisEnums(values, max_file_size)


def _enum_table(value: Any) -> dict[str, int]:
    """`[{id, name, label}, ...]` (what 2.x sends) -> {name: id}; `label` is localized."""
    table: dict[str, int] = {}
    for item in value if isinstance(value, list) else ():
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            ident = item.get("id")
            if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
                table[item["name"]] = int(ident)
    return table


def is_unknown_value(value: Any) -> bool:
    """What 2.28 stores for a name it did not know: id 0, rendered `@0@`."""
    if not isinstance(value, Mapping):
        return False
    return value.get("id") == 0 or str(value.get("name", "")).startswith("@")
