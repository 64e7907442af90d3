"""Which names the online check looks up on which system, and where each comes from."""

from __future__ import annotations

from pathlib import Path

from bridge.checks import usage_of
from bridge.config import load_config

CONFIG = """\
systems:
  helpdesk:
    type: zendesk
    url: https://acme.zendesk.com
    auth: {email: bridge@acme.example, token: t}
    bridge_user: "42"
  vendor:
    type: mantis
    url: https://mantis.example/mantis
    auth: {token: abc}
    bridge_user: "7"
    options: {severity: major, external_id_field: Helpdesk-Ticket}
routes:
  - name: acme
    from: helpdesk
    to: vendor
    mapping: zendesk-mantis
"""


def test_each_side_gets_the_names_the_route_uses_there(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG)
    config = load_config(path, env={})
    first, second = usage_of(config, "helpdesk"), usage_of(config, "vendor")
    at = "route acme (zendesk-mantis.yaml)"

    m = config.routes[0].mapping
    assert m.missing_status in first.statuses and m.escalated_status in first.statuses
    assert set(m.sync.status_to_first.values()) <= set(first.statuses)
    assert set(m.sync.status_to_first) <= set(second.statuses)  # read on the vendor
    assert "resolved" not in first.statuses and "feedback" not in first.statuses
    assert first.read_fields["360002"] == f"{at}: required.domain.from"
    assert first.read_fields["360005"] == f"{at}: technical"
    assert first.projects == {} and first.link_attributes == {}  # external_id is built in

    assert {"assigned", "resolved", "closed", "feedback"} <= set(second.statuses)
    assert "solved" not in second.statuses
    assert second.projects == {"Support": f"{at}: target.project"}
    assert second.categories == {"General": f"{at}: target.category"}
    assert set(second.custom_fields) == {"Kundennummer", "Domain", "Helpdesk-Ticket"}
    assert second.severities == {"major": "systems.vendor.options.severity"}
    assert second.link_attributes == {"Helpdesk-Ticket": "systems.vendor.options.external_id_field"}
