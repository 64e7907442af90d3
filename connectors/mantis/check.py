"""Online checks of a MantisBT site against what the config uses there (read-only).

A real 2.28 accepts an unknown status or priority name and stores id 0 (`@0@`), and answers a
bridge user below MANAGER with 403 on resolved issues; both only show at the first write, days
after set-up. This reads the site's enums (`GET /config`), its projects with their categories
and custom fields, and the bridge user's access level, and says what cannot work.
"""

from __future__ import annotations

from typing import Any

from bridge.errors import PermanentError
from bridge.findings import Finding, Usage, identity, unknown_names
from connectors import checks
from connectors.http import HttpClient
from connectors.mantis.enums import EnumKind, load_enums
from connectors.mantis.parse import identity_of

# Access levels and the thresholds of a stock 2.28 that the bridge meets (config_defaults_inc.php,
# mantis-real.md). A site may change the thresholds; these are what a fresh install does.
ACCESS = {
    "viewer": 10,
    "reporter": 25,
    "updater": 40,
    "developer": 55,
    "manager": 70,
    "administrator": 90,
}
# (threshold option, its stock value, what a user below it cannot do)
LIMITS = (
    ("report_bug_threshold", ACCESS["reporter"], "cannot create issues"),
    ("add_bugnote_threshold", ACCESS["reporter"], "cannot add notes"),
    ("update_bug_threshold", ACCESS["updater"], "cannot change status or priority"),
    (
        "private_bugnote_threshold",
        ACCESS["developer"],
        "cannot see other users' private notes, so vendor-internal notes are not seen",
    ),
    (
        "update_readonly_bug_threshold",
        ACCESS["manager"],
        "cannot add notes to or reopen resolved and closed issues: a customer's answer after "
        "the vendor resolved is refused with 403 read-only; give the bridge user MANAGER on "
        "this project",
    ),
)


def _level_name(value: int) -> str:
    names = {v: k for k, v in ACCESS.items()}
    return names.get(value, str(value)).upper()


def thresholds(http: HttpClient) -> dict[str, int]:
    """The site's thresholds where `GET /config` publishes them, else the stock values."""
    values = {option: stock for option, stock, _ in LIMITS}
    try:
        data = http.json(
            "GET", "config", "read mantis thresholds", params={"option[]": list(values)}
        )
    except PermanentError:
        return values
    for entry in data.get("configs") or [] if isinstance(data, dict) else []:
        if isinstance(entry, dict) and entry.get("option") in values:
            value = entry.get("value")
            if isinstance(value, int) and not isinstance(value, bool):
                values[str(entry["option"])] = value
    return values


def _enum_findings(http: HttpClient, usage: Usage) -> list[Finding]:
    wanted = {
        EnumKind.STATUS: usage.statuses,
        EnumKind.PRIORITY: usage.priorities,
        EnumKind.SEVERITY: usage.severities,
    }
    if not any(wanted.values()):
        return []
    try:
        enums = load_enums(http)
    except PermanentError as exc:
        return [Finding.warning(f"names not checked: could not read the site's enums ({exc})")]
    out: list[Finding] = []
    for kind, used in wanted.items():
        known = list(enums.names(kind))
        if not used:
            continue
        if not known:
            out.append(Finding.warning(f"{kind} names not checked: GET /config gave no list"))
            continue
        out += unknown_names(
            str(kind), used, known, "MantisBT would accept it and store the value as @0@"
        )
    return out


def _named(items: Any) -> list[str]:
    return [str(i["name"]) for i in items or [] if isinstance(i, dict) and i.get("name")]


def _projects(http: HttpClient, me: dict[str, Any]) -> list[dict[str, Any]]:
    """Projects with categories and custom fields; the user's list when GET /projects is not
    offered (then only names can be checked)."""
    try:
        data = http.json("GET", "projects", "list mantis projects")
    except PermanentError:
        return [p for p in me.get("projects") or [] if isinstance(p, dict)]
    items = data.get("projects") if isinstance(data, dict) else None
    return [p for p in items or [] if isinstance(p, dict)]


def _access(me: dict[str, Any], project: dict[str, Any]) -> tuple[str, int]:
    """The user's level on a project: `GET /projects` carries it per project (a project may
    grant more or less than the global level); else `users/me`'s entry, else the global one."""
    own = next(
        (
            p
            for p in me.get("projects") or []
            if isinstance(p, dict) and p.get("id") == project.get("id")
        ),
        {},
    )
    level = project.get("access_level") or own.get("access_level") or me.get("access_level")
    name = str(level.get("name", "")) if isinstance(level, dict) else ""
    number = level.get("id") if isinstance(level, dict) else None
    return name, int(number) if isinstance(number, int) else ACCESS.get(name.lower(), 0)


def _project_findings(http: HttpClient, me: dict[str, Any], usage: Usage) -> list[Finding]:
    out: list[Finding] = []
    limits: dict[str, int] | None = None
    projects = _projects(http, me)
    by_name = {str(p.get("name")): p for p in projects}
    by_id = {str(p.get("id")): p for p in projects}
    for name, where in usage.projects.items():
        project = by_name.get(name) or by_id.get(name)
        if project is None:
            known = ", ".join(sorted(by_name)) or "none"
            out.append(
                Finding.problem(
                    f"project {name!r} ({where}) does not exist or the bridge user cannot see "
                    f"it (visible: {known}): escalations there would be refused"
                )
            )
            continue
        out += _inside_project(project, usage)
        level_name, level = _access(me, project)
        needed = limits if limits is not None else (limits := thresholds(http))
        missing = [
            f"{text} ({option} {_level_name(needed[option])})"
            for option, _, text in LIMITS
            if level < needed[option]
        ]
        if missing:
            out += [
                Finding.problem(
                    f"project {name!r}: the bridge user is {level_name or 'unknown'} and {text}"
                )
                for text in missing
            ]
        else:
            out.append(Finding.ok(f"project {name!r}: the bridge user is {level_name}"))
    return out


def _inside_project(project: dict[str, Any], usage: Usage) -> list[Finding]:
    """Categories and custom fields, when the answer carries them."""
    name = str(project.get("name"))
    out: list[Finding] = []
    if "categories" in project:
        out += unknown_names(
            f"project {name!r}: category",
            usage.categories,
            _named(project.get("categories")),
            "creating an issue would be refused",
        )
    elif usage.categories:
        out.append(Finding.warning(f"project {name!r}: categories not checked (not listed)"))
    fields = {**usage.custom_fields, **usage.link_attributes}
    if "custom_fields" in project:
        out += unknown_names(
            f"project {name!r}: custom field",
            fields,
            _named(project.get("custom_fields")),
            "MantisBT refuses the write (404 Invalid Custom Field)",
        )
    elif fields:
        out.append(Finding.warning(f"project {name!r}: custom fields not checked (not listed)"))
    return out


def check(connector: checks.Checked, usage: Usage, enums_only: bool = False) -> list[Finding]:
    """Credentials, then enums, then projects with their categories, fields and access."""
    http = connector.http
    if enums_only:
        return _enum_findings(http, usage)
    data = http.json("GET", "users/me", "check mantis credentials")
    me = data if isinstance(data, dict) else {}
    who = identity_of(me)  # the same reading as connector.whoami(), keeping `me` for below
    out = [identity(who.id, who.name, connector.settings.bridge_user)]
    if who.id is None:
        return out
    return out + _enum_findings(http, usage) + _project_findings(http, me, usage)
