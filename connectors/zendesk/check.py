"""Online checks of a Zendesk account against what the config uses there (read-only).

Zendesk's statuses and priorities are a fixed list (api-facts.md 1.3), so those need no
request; the custom fields the mappings read or write are looked up by id in
`GET /ticket_fields`, since a wrong id reads as "never filled in" and no ticket escalates.
"""

from __future__ import annotations

from typing import Any, Protocol

from bridge.errors import PermanentError
from bridge.findings import Finding, Usage, identity, unknown_names
from bridge.protocol import SideStatuses
from connectors import checks


class Checked(checks.Checked, Protocol):
    """The common members plus what this check reads besides (ZendeskConnector has them all)."""

    @property
    def statuses(self) -> SideStatuses: ...


PRIORITIES = ["low", "normal", "high", "urgent"]


def _enum_findings(connector: Checked, usage: Usage) -> list[Finding]:
    refused = "Zendesk refuses the update (422)"
    return [
        *unknown_names(
            "status", usage.statuses, list(connector.statuses.fixed or ()), refused, fold=True
        ),
        *unknown_names("priority", usage.priorities, PRIORITIES, refused, fold=True),
    ]


def _field_ids(connector: Checked) -> list[str] | None:
    """Ids of every ticket field, paging through `next_page`; None when not readable."""
    ids: list[str] = []
    path: str | None = "ticket_fields"
    try:
        for _ in range(50):  # 100 fields a page: far beyond any real account
            if path is None:
                return ids
            data: Any = connector.http.json("GET", path, "list zendesk ticket fields")
            items = data.get("ticket_fields") if isinstance(data, dict) else None
            ids += [str(f["id"]) for f in items or [] if isinstance(f, dict) and "id" in f]
            path = data.get("next_page") if isinstance(data, dict) else None
    except PermanentError:
        return None
    return ids


def _field_findings(connector: Checked, usage: Usage) -> list[Finding]:
    used = {**usage.read_fields, **usage.custom_fields, **usage.link_attributes}
    if not used:
        return []
    ids = _field_ids(connector)
    if ids is None:
        return [Finding.warning("custom fields not checked: GET /ticket_fields was refused")]
    return unknown_names(
        "custom field id", used, ids, "the bridge would never find or write that value"
    )


def check(connector: Checked, usage: Usage, enums_only: bool = False) -> list[Finding]:
    """Credentials (`GET /users/me`), statuses and priorities, then the custom field ids."""
    if enums_only:
        return _enum_findings(connector, usage)
    me = connector.whoami()
    out = [identity(me.id, me.name, connector.settings.bridge_user)]
    if me.id is None:
        return out
    return out + _enum_findings(connector, usage) + _field_findings(connector, usage)
