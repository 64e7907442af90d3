"""Online checks of a Redmine site against what the config uses there (read-only).

Statuses, priorities, trackers and projects are site data; custom fields exist only once an
admin created them, and Redmine drops an unknown custom field id from a write without a word.
The bridge user's role decides what a write does: without `set_notes_private` an internal note
would be published (the connector refuses it), without `edit_issues` a status is dropped
silently. So this reads the names, the project's trackers, the custom fields and the bridge
user's permissions per project, and says what cannot work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from bridge.errors import PermanentError
from bridge.findings import Finding, Usage, identity, unknown_names
from connectors import checks
from connectors.redmine.lookups import Kind, Lookups
from connectors.redmine.parse import identity_of


class Checked(checks.Checked, Protocol):
    """The common members plus what this check reads besides (RedmineConnector has them all)."""

    @property
    def lookups(self) -> Lookups: ...

    @property
    def external_id_field(self) -> str | None: ...


# What the bridge does in a project, and the permission each needs (Administration > Roles).
NEEDED = (
    ("view_issues", "read issues"),
    ("add_issues", "create issues"),
    ("edit_issues", "change status and priority (Redmine drops the change silently)"),
    ("add_issue_notes", "add notes"),
    ("set_notes_private", "write internal notes as private ones (the bridge refuses them)"),
    ("view_private_notes", "read the vendor's private notes (they stay on Redmine)"),
)
# Without these the bridge still works, with a limitation worth knowing.
ONLY_WARN = frozenset({"set_notes_private", "view_private_notes"})


def _enum_findings(connector: Checked, usage: Usage) -> list[Finding]:
    refused = "the bridge refuses to write it (Redmine would drop it silently)"
    out: list[Finding] = []
    for kind, used in ((Kind.STATUS, usage.statuses), (Kind.PRIORITY, usage.priorities)):
        if used:
            known = sorted(connector.lookups.table(kind, refresh=True))
            out += unknown_names(str(kind), used, known, refused, fold=True)
    return out


def _get(connector: Checked, path: str, what: str, **params: Any) -> Any:
    try:
        return connector.http.json("GET", path, what, params=params or None)
    except PermanentError:
        return None


def _field_ids(connector: Checked, project_id: int) -> list[str] | None:
    """Custom field ids: all of them for an admin key, else those one issue of the project
    shows (Redmine lists every field an issue may have, empty ones too)."""
    data = _get(connector, "custom_fields.json", "list redmine custom fields")
    items = data.get("custom_fields") if isinstance(data, Mapping) else None
    if isinstance(items, list) and items:
        return sorted(str(f["id"]) for f in items if f.get("customized_type") == "issue")
    data = _get(connector, "issues.json", "look at one redmine issue",
                project_id=project_id, status_id="*", limit=1)  # fmt: skip
    issues = data.get("issues") if isinstance(data, Mapping) else None
    if not isinstance(issues, list) or not issues:
        return None
    return sorted(str(f.get("id")) for f in issues[0].get("custom_fields") or [])


def _project_findings(connector: Checked, usage: Usage, me: Mapping[str, Any]) -> list[Finding]:
    trackers = dict(usage.categories)
    if connector.settings.options.get("tracker"):
        trackers.setdefault(str(connector.settings.options["tracker"]), "options.tracker")
    fields = {**usage.custom_fields, **usage.link_attributes, **usage.read_fields}
    if connector.external_id_field:
        fields.setdefault(connector.external_id_field, "options.external_id_field")
    out: list[Finding] = []
    for name, where in usage.projects.items():
        try:
            project_id = connector.lookups.id_of(Kind.PROJECT, name)
        except PermanentError as exc:
            out.append(Finding.problem(f"project {name!r} ({where}): {exc}"))
            continue
        data = _get(connector, f"projects/{project_id}.json", "read a redmine project",
                    include="trackers")  # fmt: skip
        project = data.get("project") if isinstance(data, Mapping) else None
        if not isinstance(project, Mapping):
            out.append(Finding.problem(f"project {name!r} ({where}) cannot be read"))
            continue
        known = [str(t.get("name")) for t in project.get("trackers") or []]
        out += unknown_names(f"project {name!r}: tracker", trackers, known,
                             "creating an issue would be refused", fold=True)  # fmt: skip
        if fields:
            ids = _field_ids(connector, project_id)
            if ids is None:
                out.append(Finding.warning(
                    f"project {name!r}: custom fields not checked (listing them needs an admin "
                    "key, and the project has no issue to look at)"))  # fmt: skip
            else:
                out += unknown_names(f"project {name!r}: custom field id", fields, ids,
                                     "Redmine drops it from every write")  # fmt: skip
        out += _permission_findings(connector, me, project_id, name)
    return out


def _permission_findings(
    connector: Checked, me: Mapping[str, Any], project_id: int, name: str
) -> list[Finding]:
    if me.get("admin"):
        return [Finding.ok(f"project {name!r}: the bridge user is an administrator")]
    roles = [
        role
        for m in me.get("memberships") or []
        if isinstance(m, Mapping) and str((m.get("project") or {}).get("id")) == str(project_id)
        for role in m.get("roles") or []
        if isinstance(role, Mapping)
    ]
    if not roles:
        return [Finding.problem(
            f"project {name!r}: the bridge user is no member (Settings > Members): give it a "
            "role that may add issues and notes")]  # fmt: skip
    granted: set[str] = set()
    for role in roles:
        data = _get(connector, f"roles/{role.get('id')}.json", "read a redmine role")
        found = data.get("role", {}).get("permissions") if isinstance(data, Mapping) else None
        if not isinstance(found, list):
            return [Finding.warning(f"project {name!r}: permissions not checked (role unreadable)")]
        granted |= {str(p) for p in found}
    role_names = ", ".join(str(r.get("name")) for r in roles)
    out = []
    for permission, text in NEEDED:
        if permission not in granted:
            message = f"project {name!r}: the role {role_names} cannot {text} ({permission})"
            warn = permission in ONLY_WARN
            out.append(Finding.warning(message) if warn else Finding.problem(message))
    if not out:
        out.append(Finding.ok(f"project {name!r}: the bridge user is {role_names}"))
    return out


def check(connector: Checked, usage: Usage, enums_only: bool = False) -> list[Finding]:
    """The key's user, statuses and priorities, then per project: trackers, custom fields and
    the bridge user's permissions."""
    if enums_only:
        return _enum_findings(connector, usage)
    data = connector.http.json(
        "GET", "users/current.json", "check redmine key", params={"include": "memberships"}
    )
    who = identity_of(data)  # the same reading as connector.whoami(), with the memberships
    out = [identity(who.id, who.name, connector.settings.bridge_user)]
    if who.id is None:
        return out
    me = data.get("user") if isinstance(data, Mapping) else None
    me = me if isinstance(me, Mapping) else {}
    return out + _enum_findings(connector, usage) + _project_findings(connector, usage, me)
