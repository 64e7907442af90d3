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
