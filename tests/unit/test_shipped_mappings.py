"""Every shipped mapping passes `bridge check-config` between the two types its name gives.

The systems are built from what each type's connector declares (its auth schema's keys), so a
new connector's mappings are checked here without this file knowing the vendor.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bridge import registry
from bridge.cli import main
from bridge.mapping import load_mapping
from bridge.sandbox.zammad.model import DEFAULT_PRIORITIES, DEFAULT_STATES

SHIPPED = sorted(
    entry.name.removesuffix(".yaml")
    for entry in resources.files("ticket_bridge_mappings").iterdir()
    if entry.name.endswith(".yaml")
)


def system(kind: str) -> dict[str, object]:
    auth_keys = registry.connector_class(kind).auth_schema().fields
    return {
        "type": kind,
        "url": f"https://{kind}.example",
        "auth": {key: "secret" for key in auth_keys},
        "bridge_user": "7",
    }


def test_the_redmine_example_is_shipped() -> None:
    assert "zendesk-redmine" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_mapping_passes_check_config(name: str, tmp_path: Path) -> None:
    first, _, second = name.partition("-")
    config = {
        "systems": {"helpdesk": system(first), "vendor": system(second)},
        "routes": [{"name": "acme", "from": "helpdesk", "to": "vendor", "mapping": name}],
    }
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{path}: OK")
    assert "route acme: helpdesk -> vendor (" in result.output
    assert f"{name}.yaml, en)" in result.output  # the shipped file, found by its bare name


# What a fresh Redmine 5 knows (its default data: Administration > Issue statuses and
# Enumerations), and the states and priorities of a fresh Zammad (the sandbox's seeds).
REDMINE_STATUSES = {"new", "in progress", "resolved", "feedback", "closed", "rejected"}
REDMINE_PRIORITIES = {"low", "normal", "high", "urgent", "immediate"}


def test_the_zammad_redmine_mapping_loads_with_both_systems_names() -> None:
    path = Path(str(resources.files("ticket_bridge_mappings") / "zammad-redmine.yaml"))
    mapping = load_mapping(path, None, "zammad", "redmine")

    zammad_states = {name for _, name, *_ in DEFAULT_STATES}
    zammad_priorities = {name for _, name, _ in DEFAULT_PRIORITIES}
    sync = mapping.sync
    assert (mapping.project, mapping.category) == ("bridge-test", "Support")
    assert dict(mapping.custom_fields) == {
        "1": "{customer_number}", "2": "{domain}", "3": "{source_url}"
    }  # fmt: skip
    assert mapping.tags == ()  # Redmine has none
    assert mapping.link_field == "field:vendor_ticket"
    assert (mapping.missing_status, mapping.escalated_status) == ("open", "open")
    assert sync.status_to_second == {"open": "in progress", "closed": "closed"}
    assert sync.status_to_first["feedback"] == "open"  # the vendor asks: the agent relays
    assert set(sync.status_to_second) <= zammad_states
    assert set(sync.status_to_second.values()) <= REDMINE_STATUSES
    assert set(sync.status_to_first) <= REDMINE_STATUSES
    assert set(sync.status_to_first.values()) <= zammad_states
    assert set(mapping.priority_map) == zammad_priorities
    assert set(mapping.priority_map.values()) | {mapping.priority_default} <= REDMINE_PRIORITIES
    assert set(sync.priority_to_second) == zammad_priorities
    assert set(sync.priority_to_first) == REDMINE_PRIORITIES
    assert set(sync.priority_to_first.values()) <= zammad_priorities
