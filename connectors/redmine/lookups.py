"""Redmine's instance data by name: statuses, priorities, trackers, projects, and what the
bridge user's roles allow.

All of it is site data an admin may rename or add, and Redmine's REST API writes ids only
(`status_id`, `priority_id`, `tracker_id`), so names from the mappings are resolved here, cached
for the connector's lifetime and refreshed once when a name is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from bridge.errors import PermanentError
from connectors.http import HttpClient
from connectors.redmine.client import pages


class Kind(StrEnum):
    STATUS = "status"
    PRIORITY = "priority"
    TRACKER = "tracker"
    PROJECT = "project"


# kind -> (path, key of the list in the answer)
SOURCES: Mapping[Kind, tuple[str, str]] = {
    Kind.STATUS: ("issue_statuses.json", "issue_statuses"),
    Kind.PRIORITY: ("enumerations/issue_priorities.json", "issue_priorities"),
    Kind.TRACKER: ("trackers.json", "trackers"),
    Kind.PROJECT: ("projects.json", "projects"),
}


class Lookups:
    """Names (and project identifiers) to ids, per instance, keyed by lower-case name."""

    def __init__(self, http: HttpClient, system: str) -> None:
        self.http = http
        self.system = system
        self._tables: dict[Kind, dict[str, int]] = {}
        self._private: dict[str, bool] = {}
        self._trackers: dict[int, dict[str, int]] = {}
        self._lock = threading.Lock()  # workers' threads share one connector

    def table(self, kind: Kind, refresh: bool = False) -> dict[str, int]:
        with self._lock:
            if refresh or kind not in self._tables:
                self._tables[kind] = self._read(kind)
            return self._tables[kind]

    def _read(self, kind: Kind) -> dict[str, int]:
        path, key = SOURCES[kind]
        what = f"list redmine {key}"
        table: dict[str, int] = {}
        for items in pages(self.http, path, key, what):
            for item in items:
                if not isinstance(item, Mapping) or item.get("id") is None:
                    continue
                if item.get("active") is False:  # an inactive priority cannot be set
                    continue
                for name in (item.get("name"), item.get("identifier")):
                    if name:
                        table.setdefault(str(name).strip().lower(), int(item["id"]))
        return table

    def id_of(self, kind: Kind, name: str) -> int:
        """A name (any case), a project identifier, or an id as it is; a miss refreshes once
        (an admin may just have added it), then PermanentError naming what exists."""
        text = str(name).strip()
        if text.isdigit():
            return int(text)
        key = text.lower()
        table = self.table(kind)
        if key not in table:
            table = self.table(kind, refresh=True)
        if key not in table:
            raise PermanentError(
                f"redmine {self.system!r} has no {kind} {name!r} the bridge user can use; "
                f"known: {', '.join(sorted(table)) or 'none'}",
                status=422,
            )
        return table[key]

    def tracker_in(self, project_id: int, name: str) -> int:
        """The id of a tracker the project has. Redmine files an issue under the project's
        default tracker, without a word, when asked for one the project does not have."""
        with self._lock:
            trackers = self._trackers.get(project_id)
        if trackers is None:
            data = self.http.json(
                "GET",
                f"projects/{project_id}.json",
                "read the trackers of a redmine project",
                params={"include": "trackers"},
            )
            project = data.get("project") if isinstance(data, Mapping) else None
            items = project.get("trackers") if isinstance(project, Mapping) else None
            trackers = {
                str(t["name"]).strip().lower(): int(t["id"])
                for t in items or []
                if isinstance(t, Mapping) and t.get("name") and t.get("id") is not None
            }
            with self._lock:
                self._trackers[project_id] = trackers
        text = str(name).strip()
        wanted = int(text) if text.isdigit() else trackers.get(text.lower())
        if wanted is None or wanted not in trackers.values():
            raise PermanentError(
                f"redmine {self.system!r}: project {project_id} has no tracker {name!r} "
                f"(it has: {', '.join(sorted(trackers)) or 'none'}); Redmine would file the "
                "issue under its default tracker: enable the tracker in the project's settings "
                "or name another in the route's target.category",
                status=422,
            )
        return wanted

    def may_write_private(self, project_id: str) -> bool:
        """Whether the bridge user may set notes private in the project (`set_notes_private`).

        Redmine drops `private_notes` without a word when the role lacks that permission, and
        the note is then public to everyone in the project: an internal note must not go out
        that way. Admins may do everything; a role that cannot be read counts as allowed (the
        online check says what to grant).
        """
        with self._lock:
            if project_id in self._private:
                return self._private[project_id]
        data = self.http.json(
            "GET",
            "users/current.json",
            "read the redmine bridge user's roles",
            params={"include": "memberships"},
        )
        user = data.get("user") if isinstance(data, Mapping) else None
        user = user if isinstance(user, Mapping) else {}
        allowed = bool(user.get("admin")) or any(
            "set_notes_private" in self._permissions(role) for role in _roles_in(user, project_id)
        )
        with self._lock:
            self._private[project_id] = allowed
        return allowed

    def _permissions(self, role_id: str) -> list[str]:
        try:
            data = self.http.json("GET", f"roles/{role_id}.json", "read a redmine role")
        except PermanentError:
            return ["set_notes_private"]  # unreadable: assume the set-up the README asks for
        role = data.get("role") if isinstance(data, Mapping) else None
        found = role.get("permissions") if isinstance(role, Mapping) else None
        return [str(p) for p in found] if isinstance(found, list) else []


def _roles_in(user: Mapping[str, Any], project_id: str) -> list[str]:
    roles = []
    for membership in user.get("memberships") or []:
        if not isinstance(membership, Mapping):
            continue
        project = membership.get("project")
        if isinstance(project, Mapping) and str(project.get("id")) == project_id:
            roles += [
                str(r["id"])
                for r in membership.get("roles") or []
                if isinstance(r, Mapping) and r.get("id") is not None
            ]
    return roles
