"""The connectors' online checks against `responses` fakes: what the sandboxes cannot vary."""

from __future__ import annotations

from typing import Any

import responses

from bridge.findings import Level, Usage
from bridge.protocol import SystemSettings
from connectors.mantis import MantisConnector
from connectors.mantis import check as mantis_check
from connectors.mantis.client import REST as MANTIS_REST
from connectors.zendesk import ZendeskConnector
from connectors.zendesk import check as zendesk_check
from connectors.zendesk.client import REST as ZENDESK_REST

MT = "https://mantis.vendor.example"
ZD = "https://acme.zendesk.com"


def mantis() -> MantisConnector:
    settings = SystemSettings("vendor", "mantis", MT, {"token": "t"}, bridge_user="3")
    return MantisConnector(settings, MANTIS_REST.client(settings, attempts=1, wait_max=0))


def enum(*names: str) -> list[dict[str, Any]]:
    return [{"id": 10 * i, "name": n, "label": n} for i, n in enumerate(names, 1)]


def register_mantis(readonly_threshold: int | None) -> None:
    api = f"{MT}/api/rest"
    developer = {"id": 55, "name": "developer", "label": "developer"}
    responses.get(
        f"{api}/users/me",
        json={"id": 3, "name": "bridge", "access_level": developer, "projects": []},
    )
    configs: list[dict[str, Any]] = [
        {"option": "status_enum_string", "value": enum("new", "assigned", "resolved")},
        {"option": "priority_enum_string", "value": enum("low", "normal")},
    ]
    if readonly_threshold is not None:
        configs.append({"option": "update_readonly_bug_threshold", "value": readonly_threshold})
    responses.get(f"{api}/config", json={"configs": configs})
    project = {"id": 1, "name": "Support", "access_level": developer, "categories": [],
               "custom_fields": []}  # fmt: skip
    responses.get(f"{api}/projects", json={"projects": [project]})


def usage() -> Usage:
    return Usage(statuses={"resolved": "m"}, priorities={"normal": "m"}, projects={"Support": "m"})


@responses.activate
def test_mantis_uses_the_sites_thresholds_where_published() -> None:
    register_mantis(readonly_threshold=55)  # this site lets developers change resolved issues
    findings = mantis_check.check(mantis(), usage())
    assert [f.level for f in findings] == [Level.OK] * len(findings), findings
    assert any("the bridge user is developer" in f.text for f in findings)


@responses.activate
def test_mantis_stock_threshold_refuses_a_developer() -> None:
    register_mantis(readonly_threshold=None)
    problems = [f.text for f in mantis_check.check(mantis(), usage()) if f.level is Level.PROBLEM]
    assert len(problems) == 1
    assert "cannot add notes to or reopen resolved and closed issues" in problems[0]
    assert problems[0].endswith("(update_readonly_bug_threshold MANAGER)")


@responses.activate
def test_mantis_enums_only_reads_just_the_enums() -> None:
    register_mantis(readonly_threshold=None)
    findings = mantis_check.check(
        mantis(), Usage(statuses={"done": "route x: sync.status.to_second"}), enums_only=True
    )
    assert [f.level for f in findings] == [Level.PROBLEM]
    assert "status 'done' (route x: sync.status.to_second) does not exist" in findings[0].text
    assert [c.request.path_url.split("?")[0] for c in responses.calls] == ["/api/rest/config"]


@responses.activate
def test_zendesk_unknown_field_id_and_refused_field_list() -> None:
    settings = SystemSettings(
        "helpdesk", "zendesk", ZD, {"email": "b@acme.example", "token": "t"}, bridge_user="9"
    )
    zd = ZendeskConnector(settings, ZENDESK_REST.client(settings, attempts=1, wait_max=0))
    responses.get(f"{ZD}/api/v2/users/me", json={"user": {"id": 9, "name": "Bridge"}})
    responses.get(
        f"{ZD}/api/v2/ticket_fields", json={"ticket_fields": [{"id": 1}], "next_page": None}
    )
    used = Usage(read_fields={"1": "a", "2": "route acme: required.domain.from"})
    texts = [(f.level, f.text) for f in zendesk_check.check(zd, used)]
    assert (Level.OK, "credentials of Bridge (id 9), the configured bridge_user") in texts
    assert any(
        level is Level.PROBLEM and "custom field id '2' (route acme: required.domain.from)" in t
        for level, t in texts
    )
    responses.replace(responses.GET, f"{ZD}/api/v2/ticket_fields", status=403, json={})
    levels = [f.level for f in zendesk_check.check(zd, used)]
    assert levels == [Level.OK, Level.WARNING]
