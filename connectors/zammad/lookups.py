"""Ticket states and priorities by name, per Zammad instance.

Both are instance data (an admin may rename, add or deactivate them), so ids are never
hard-coded: names are resolved through `GET /ticket_states` and `GET /ticket_priorities`, cached
for the connector's lifetime and refreshed once when a name is missing.
"""

from __future__ import annotations

from typing import Any

from bridge.errors import PermanentError
from connectors.http import HttpClient

PATHS = {"state": "ticket_states", "priority": "ticket_priorities"}


class Lookups:
    """Active states and priorities of one instance, keyed by lower-case name."""

    def __init__(self, http: HttpClient, system: str) -> None:
        self.http = http
        self.system = system
        self._tables: dict[str, dict[str, dict[str, Any]]] = {}

    def table(self, kind: str, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """Inactive rows (e.g. the seeded "removed" state) are left out: they cannot be set."""
        if refresh or kind not in self._tables:
            path = PATHS[kind]
            data = self.http.json("GET", path, f"list zammad {path}")
            if not isinstance(data, list):
                raise PermanentError(f"zammad {path}: answer is not a list")
            self._tables[kind] = {
                str(item["name"]).strip().lower(): item
                for item in data
                if isinstance(item, dict) and item.get("name") and item.get("active", True)
            }
        return self._tables[kind]

    def find(self, kind: str, name: str) -> dict[str, Any]:
        """Resolve a name; a miss refreshes once (an admin may just have added it)."""
        key = name.strip().lower()
        table = self.table(kind)
        if key not in table:
            table = self.table(kind, refresh=True)
        if key not in table:
            raise PermanentError(
                f"zammad {self.system!r} has no active ticket {kind} {name!r}; "
                f"known: {', '.join(sorted(table))}",
                status=422,
            )
        return table[key]

    def id_of(self, kind: str, name: str) -> int:
        return int(self.find(kind, name)["id"])
