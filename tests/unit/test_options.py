"""Typed system options: an unknown key, a wrong type or a bad duration names file, line, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.system_options import SCHEMAS, load_options, option_keys

BASE = """\
systems:
  helpdesk:
    type: zendesk
    url: https://acme.zendesk.com
    auth: {email: bridge@acme.example, token: t}
    bridge_user: "42"
    options:
      OPTION_LINE
  vendor:
    type: mantis
    url: https://mantis.example/mantis
    auth: {token: abc}
    bridge_user: "7"
    options:
      project: Support
routes:
  - name: acme
    from: helpdesk
    to: vendor
    mapping: zendesk-mantis
"""
OPTION_LINE = 8


def load_with(tmp_path: Path, option: str) -> object:
    path = tmp_path / "bridge.yaml"
    path.write_text(BASE.replace("OPTION_LINE", option))
    return load_config(path, env={})


def error_of(tmp_path: Path, option: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, option)
    return str(err.value)


def test_unknown_key_names_file_line_key_and_the_likely_one(tmp_path: Path) -> None:
    message = error_of(tmp_path, "requests_per_minuite: 300")
    assert message == (
        f"{tmp_path / 'bridge.yaml'}, line {OPTION_LINE}: "
        "systems.helpdesk.options.requests_per_minuite: "
        "unknown option (did you mean requests_per_minute?)"
    )


def test_an_option_of_another_type_is_unknown_here(tmp_path: Path) -> None:
    message = error_of(tmp_path, "pending_hours: 24")  # a Zammad option on a Zendesk system
    assert f"line {OPTION_LINE}: systems.helpdesk.options.pending_hours: unknown option" in message


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("requests_per_minute: lots", "Not a valid number"),
        ("burst: 1.5", "Not a valid integer"),
        ("max_attachment_bytes: [1]", "Not a valid integer"),
        ("request_deadline: 0", "must be more than 0 seconds"),
        ('poll_interval: "1 minute"', "is not a duration"),
        ("poll_interval: -5", "must not be negative"),
        ("silence_alert: yes", "is not a duration"),
    ],
)
def test_wrong_type_or_bad_duration_names_the_line(
    tmp_path: Path, option: str, needle: str
) -> None:
    message = error_of(tmp_path, option)
    key = option.partition(":")[0]
    assert message.startswith(
        f"{tmp_path / 'bridge.yaml'}, line {OPTION_LINE}: systems.helpdesk.options.{key}: "
    ), message
    assert needle in message


@pytest.mark.parametrize(
    ("value", "seconds"), [("90", 90.0), ('"90s"', 90.0), ('"1m"', 60.0), ('"2h"', 7200.0)]
)
def test_durations_accept_seconds_or_units_and_arrive_as_seconds(
    tmp_path: Path, value: str, seconds: float
) -> None:
    config = load_with(tmp_path, f"poll_interval: {value}")
    assert config.systems["helpdesk"].options["poll_interval"] == seconds  # type: ignore[attr-defined]


def test_every_bad_option_of_a_file_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    text = BASE.replace("OPTION_LINE", "burst: many").replace(
        "      project: Support", "      project: Support\n      poll_page_size: big"
    )
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    lines = str(err.value).splitlines()
    assert any("line 8: systems.helpdesk.options.burst" in line for line in lines)
    assert any("line 16: systems.vendor.options.poll_page_size" in line for line in lines)


def test_typed_values_replace_the_raw_ones() -> None:
    loaded = load_options(
        "mantis", {"projects": ["3", 4], "poll_history": "true", "request_deadline": "2m"}
    )
    assert loaded == {"projects": [3, 4], "poll_history": True, "request_deadline": 120.0}
    assert load_options("zammad", {"customer": 12, "pending_hours": "48"}) == {
        "customer": 12,
        "pending_hours": 48.0,
    }


def test_every_option_the_code_reads_is_declared() -> None:
    """The keys read through `options.get(...)` in bridge/ and connectors/ (grep), per type."""
    common = {
        "requests_per_minute", "burst", "poll_interval", "poll_overlap", "silence_alert",
        "max_attachment_bytes", "request_deadline", "file_deadline",
    }  # fmt: skip
    mantis = {"external_id_field", "projects", "poll_history", "poll_page_size", "project",
              "category", "severity"}  # fmt: skip
    zammad = {"external_id_field", "customer", "group", "pending_hours"}
    assert option_keys("zendesk") == common
    assert option_keys("mantis") == common | mantis
    assert option_keys("zammad") == common | zammad
    redmine = {"project", "tracker", "external_id_field", "projects", "poll_page_size"}
    assert option_keys("redmine") == common | redmine
    assert set(SCHEMAS) == {"zendesk", "mantis", "zammad", "redmine"}
