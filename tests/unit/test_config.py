"""Config and mapping files: a bad file names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.mapping import load_mapping
from tests.unit.helpers import SHIPPED

GOOD = """\
systems:
  helpdesk:
    type: zendesk
    url: https://acme.zendesk.com
    auth: {email: bridge@acme.example, token: "${ZD_TOKEN}"}
    webhook_secret: "${ZD_SECRET:-fallback}"
    bridge_user: "42"
  vendor:
    type: mantis
    url: https://mantis.example/mantis
    auth: {token: abc}
    bridge_user: "7"
routes:
  - name: acme
    from: helpdesk
    to: vendor
    mapping: zendesk-mantis
    language: de
"""


def write(tmp_path: Path, text: str, name: str = "bridge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_config_loads_with_env_and_shipped_mapping(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={"ZD_TOKEN": "t0k"})
    zd = config.systems["helpdesk"]
    assert zd.auth["token"] == "t0k"
    assert zd.webhook_secret == "fallback"
    assert config.systems["vendor"].url == "https://mantis.example/mantis"
    (route,) = config.routes
    assert (route.first, route.second, route.language) == ("helpdesk", "vendor", "de")
    assert route.mapping.project == "Support"
    assert config.redis_url == ""
    assert config.data_dir == tmp_path / "data"


def test_example_config_in_package_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "bridge" / "examples" / "config.yaml"
    env = {"ZENDESK_API_TOKEN": "x", "ZENDESK_WEBHOOK_SECRET": "y", "MANTIS_API_TOKEN": "z"}
    config = load_config(example, env=env)
    assert [r.name for r in config.routes] == ["acme-to-vendor"]


def test_unset_env_var_is_named_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value) == (
        f"{path}, line 5: systems.helpdesk.auth.token: environment variable ZD_TOKEN is not set"
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "needle"),
    [
        ("type: mantis", "type: jira", 9, "systems.vendor.type", "Must be one of"),
        ("url: https://acme.zendesk.com", "url: not a url", 4, "systems.helpdesk.url",
         "Not a valid URL"),
        ("    to: vendor", "    to: nowhere", 16, "routes.0.to", "unknown system 'nowhere'"),
        ("    mapping: zendesk-mantis", "    mapping: missing.yaml", 17, "routes.0.mapping",
         "does not exist"),
        ("auth: {token: abc}", "auth: {}", 11, "systems.vendor.auth", "mantis needs auth.token"),
        ('    bridge_user: "7"\n', "", 8, "systems.vendor.bridge_user", "Missing data"),
    ],
)  # fmt: skip
def test_bad_config_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, needle: str
) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_config(path, env={"ZD_TOKEN": "x"})
    message = str(err.value)
    assert message.startswith(f"{path}, line {line}: {field}: "), message
    assert needle in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  vendor:\n", "  vendor:\n   - broken: [\n"))
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        load_config(path, env={"ZD_TOKEN": "x"})


def test_bad_mapping_names_file_line_and_field(tmp_path: Path) -> None:
    text = SHIPPED.read_text().replace("kind: domain", "kind: hostname")
    path = write(tmp_path, text, "m.yaml")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "kind: hostname" in ln)
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert str(err.value).startswith(f"{path}, line {line}: required.domain.kind: Must be one of")


def test_mapping_must_say_where_every_required_field_lives(tmp_path: Path) -> None:
    text = SHIPPED.read_text().replace(
        "  domain:\n    from: [field:360002]\n    kind: domain\n", ""
    )
    path = write(tmp_path, text, "m.yaml")
    with pytest.raises(ConfigError, match="required: say where to find: domain"):
        load_mapping(path)


def test_mapping_bad_source_and_bare_yes_are_explained(tmp_path: Path) -> None:
    text = (
        SHIPPED.read_text()
        .replace("from: [description]", "from: [descriptoin]")
        .replace('[kontakt_ja, "yes"', "[kontakt_ja, yes")
    )
    path = write(tmp_path, text, "m.yaml")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    message = str(err.value)
    assert "required.error_description.from.0: unknown source" in message
    assert "required.may_contact_customer.yes_values.1: not a text; quote yes/no" in message


def test_every_unset_env_var_is_listed_at_once_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("auth: {token: abc}", 'auth: {token: "${MT_TOKEN}"}').replace(
        'bridge_user: "42"', 'bridge_user: "${ZD_USER}"'
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).splitlines() == [
        f"{path}, line 5: systems.helpdesk.auth.token: environment variable ZD_TOKEN is not set",
        f"{path}, line 7: systems.helpdesk.bridge_user: environment variable ZD_USER is not set",
        f"{path}, line 11: systems.vendor.auth.token: environment variable MT_TOKEN is not set",
    ]


def test_duplicate_key_in_config_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace('    bridge_user: "7"\n', '    bridge_user: "7"\n    url: x\n')
    )
    with pytest.raises(ConfigError) as err:
        load_config(path, env={"ZD_TOKEN": "x"})
    assert str(err.value) == (
        f"{path}, line 13: systems.vendor.url: key given twice (first on line 10); remove one"
    )


def test_duplicate_keys_in_a_mapping_are_all_named(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    text = text.replace("  default: normal\n", "  default: normal\n  default: high\n", 1)
    text = text.replace(
        "      solved: resolved\n", "      solved: resolved\n      solved: closed\n"
    )
    path = write(tmp_path, text, "m.yaml")
    lines = text.splitlines()
    second_default = next(i for i, ln in enumerate(lines, 1) if ln == "  default: high")
    second_solved = next(i for i, ln in enumerate(lines, 1) if ln == "      solved: closed")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    message = str(err.value)
    assert f"{path}, line {second_default}: priority.default: key given twice" in message
    assert f"{path}, line {second_solved}: sync.status.to_second.solved: key given twice" in message


def config_with_mapping(tmp_path: Path, old: str, new: str) -> tuple[Path, Path, str]:
    """GOOD with its route on a copy of the shipped mapping, `old` replaced by `new`."""
    text = SHIPPED.read_text()
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    mapping = write(tmp_path, text, "m.yaml")
    return (
        write(tmp_path, GOOD.replace("mapping: zendesk-mantis", "mapping: m.yaml")),
        mapping,
        text,
    )


@pytest.mark.parametrize(
    ("old", "new", "key", "bad"),
    [
        ("escalated_status: hold", "escalated_status: on-hold", "escalated_status", "on-hold"),
        ("  status: open\n", "  status: waiting\n", "missing_data.status", "waiting"),
        ("      feedback: open ", "      feedback: wait ", "sync.status.to_first.feedback", "wait"),
        ("      open: assigned ", "      reopened: assigned ", "sync.status.to_second.reopened",
         "reopened"),
    ],
)  # fmt: skip
def test_a_zendesk_status_no_zendesk_has_names_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, bad: str
) -> None:
    config, mapping, text = config_with_mapping(tmp_path, old, new)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(new.rstrip("\n")))
    with pytest.raises(ConfigError) as err:
        load_config(config, env={"ZD_TOKEN": "x"})
    assert str(err.value) == (
        f"{mapping}, line {line}: {key}: {bad!r} is not a Zendesk status; use one of new, open, "
        "pending, hold, solved, closed"
    )


def test_statuses_of_site_configurable_systems_are_left_to_the_online_check(
    tmp_path: Path,
) -> None:
    # "reopened" is no MantisBT default, but a site may define it: only --online can tell.
    config, _, _ = config_with_mapping(tmp_path, "      open: assigned ", "      open: reopened ")
    (route,) = load_config(config, env={"ZD_TOKEN": "x"}).routes
    assert route.mapping.sync.status_to_second["open"] == "reopened"
    assert route.mapping.escalated_status == "hold"


def test_display_name_and_team_language_per_system(tmp_path: Path) -> None:
    text = GOOD.replace(
        '    bridge_user: "7"\n',
        '    bridge_user: "7"\n    display_name: Hersteller-Tracker\n    language: en\n',
    )
    config = load_config(write(tmp_path, text), env={"ZD_TOKEN": "x"})
    vendor, helpdesk = config.systems["vendor"], config.systems["helpdesk"]
    assert (vendor.display_name, vendor.language) == ("Hersteller-Tracker", "en")
    assert (helpdesk.display_name, helpdesk.language) == ("", None)  # type name, route language


def test_an_unknown_team_language_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace('    bridge_user: "7"\n', '    bridge_user: "7"\n    language: fr\n')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={"ZD_TOKEN": "x"})
    assert str(err.value).startswith(f"{path}, line 13: systems.vendor.language: Must be one of")
