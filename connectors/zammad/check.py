"""Online checks of a Zammad instance against what the config uses there (read-only).

States, priorities and groups are instance data an admin may rename; custom attributes exist
only once an admin created them, and Zammad drops an unknown attribute from a write without a
word. So a missing link attribute (`options.external_id_field`, `field:<name>` in a mapping)
means the link is never stored in the ticket: an error here, a warning at runtime.
"""

from __future__ import annotations

from typing import Any, Protocol

from bridge.errors import PermanentError
from bridge.findings import Finding, Usage, identity, unknown_names
from connectors import checks
from connectors.zammad.lookups import Lookups
from connectors.zammad.parse import CORE_TICKET_KEYS


class Checked(checks.Checked, Protocol):
    """The common members plus what this check reads besides (ZammadConnector has them all)."""

    @property
    def lookups(self) -> Lookups: ...


def _enum_findings(connector: Checked, usage: Usage) -> list[Finding]:
    refused = "Zammad refuses the write (422)"
    out: list[Finding] = []
    for kind, used in (("state", usage.statuses), ("priority", usage.priorities)):
        if used:
            known = sorted(connector.lookups.table(kind, refresh=True))
            out += unknown_names(kind, used, known, refused, fold=True)
    return out


def _names(connector: Checked, path: str, what: str) -> list[dict[str, Any]] | None:
    try:
        data = connector.http.json("GET", path, what)
    except PermanentError:
        return None
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _group_findings(connector: Checked, usage: Usage) -> list[Finding]:
    if not usage.projects:
        return []
    groups = _names(connector, "groups", "list zammad groups")
    if groups is None:
        return [Finding.warning("groups not checked: GET /groups was refused")]
    known = [str(g["name"]) for g in groups if g.get("name") and g.get("active", True)]
    return unknown_names("group", usage.projects, known, "creating a ticket would be refused")


def _attributes(connector: Checked) -> list[str] | None:
    """Custom ticket attribute names: from the object manager (needs admin.object), else the
    keys of one ticket the bridge user can see (Zammad renders every attribute, even empty)."""
    rows = _names(connector, "object_manager_attributes", "list zammad ticket attributes")
    if rows is not None:
        return sorted(str(r["name"]) for r in rows if r.get("object") == "Ticket" and r.get("name"))
    data = connector.http.json(
        "GET",
        "tickets/search",
        "look at one zammad ticket",
        params={"query": "*", "per_page": 1, "expand": "true"},
    )
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    return sorted(str(key) for key in data[0] if key not in CORE_TICKET_KEYS)


def _attribute_findings(connector: Checked, usage: Usage) -> list[Finding]:
    links = usage.link_attributes
    fields = {**usage.read_fields, **usage.custom_fields}
    if not (links or fields):
        return []
    known = _attributes(connector)
    if known is None:
        return [
            Finding.warning(
                "ticket attributes not checked: listing them needs the admin.object permission, "
                "and the bridge user sees no ticket to look at"
            )
        ]
    return [
        *unknown_names(
            "link attribute",
            links,
            known,
            "Zammad drops it from every write, so the link is never stored in the ticket",
        ),
        *unknown_names(
            "ticket attribute", fields, known, "the bridge would never find or write that value"
        ),
    ]


def check(connector: Checked, usage: Usage, enums_only: bool = False) -> list[Finding]:
    """Credentials, states and priorities, groups, then the custom attributes."""
    if enums_only:
        return _enum_findings(connector, usage)
    me = connector.whoami()
    out = [identity(me.id, me.name, connector.settings.bridge_user)]
    if me.id is None:
        return out
    return (
        out
        + _enum_findings(connector, usage)
        + _group_findings(connector, usage)
        + _attribute_findings(connector, usage)
    )
