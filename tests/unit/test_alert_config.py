"""The `alerts` config section: validated like the rest, every mistake named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli_alerts import exit_code
from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.exit_codes import ExitCode
from bridge.ops.notify import Channel, Delivery, channels
from bridge.settings.alerts import AlertKind
from tests.unit.test_config import GOOD, write

ALERTS = """\
alerts:
  webhook_url: https://chat.example.com/hooks/T0/B1/secret
  smtp:
    host: smtp.example.com
    from: bridge@example.com
    to: oncall@example.com
    user: bridge
    password_env: BRIDGE_SMTP_PASSWORD
  cooldown: 30m
  queue_threshold: 250
"""


def load(tmp_path: Path, alerts: str) -> object:
    return load_config(write(tmp_path, GOOD + alerts), env={"ZD_TOKEN": "t"})


def test_alerts_load_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + ALERTS), env={"ZD_TOKEN": "t"})
    alerts = config.alerts
    assert alerts is not None and alerts.smtp is not None
    assert alerts.cooldown == 1800 and alerts.queue_threshold == 250
    assert alerts.check_every == 60 and alerts.events == frozenset(AlertKind)
    assert alerts.smtp.port == 587 and alerts.smtp.starttls
    assert alerts.smtp.to == ("oncall@example.com",) and alerts.smtp.sender == "bridge@example.com"
    assert "secret" not in repr(alerts)  # a chat hook's URL carries its secret
    assert load_config(write(tmp_path, GOOD), env={"ZD_TOKEN": "t"}).alerts is None


@pytest.mark.parametrize(
    ("alerts", "line", "key", "message"),
    [
        ("alerts:\n  webhok_url: https://x.example/h\n", 20, "alerts.webhok_url",
         "unknown key (did you mean webhook_url?)"),
        (ALERTS.replace("    from:", "    form:"), 23, "alerts.smtp.form",
         "unknown key (did you mean from?)"),
        (ALERTS.replace("cooldown: 30m", "cooldown: soon"), 27, "alerts.cooldown",
         "is not a duration"),
        (ALERTS.replace("    user: bridge\n", ""), 25, "alerts.smtp.password_env",
         "set both user and password_env, or neither"),
        ("alerts:\n  cooldown: 1h\n", 19, "alerts.webhook_url", "give webhook_url, smtp, or both"),
        ("alerts:\n  webhook_url: https://x.example/h\n  events: [queue, sms]\n", 21,
         "alerts.events.1",
         "Must be one of"),
        (ALERTS.replace("to: oncall@example.com", "to: []"), 24, "alerts.smtp.to",
         "give at least one address"),
    ],
)  # fmt: skip
def test_a_bad_alerts_section_names_file_line_and_key(
    tmp_path: Path, alerts: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, alerts)
    text = str(caught.value)
    assert f"bridge.yaml, line {line}: {key}: " in text and message in text, text


def test_channels_are_named_without_the_hook_s_secret(tmp_path: Path) -> None:
    config = load(tmp_path, ALERTS.replace("https://", "https://user:pw@"))
    settings = config.alerts  # type: ignore[attr-defined]
    assert channels(settings) == [
        (Channel.WEBHOOK, "https://chat.example.com/…"),
        (Channel.EMAIL, "smtp.example.com:587 to oncall@example.com"),
    ]


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([(True, False)], ExitCode.OK),
        ([(True, False), (True, False)], ExitCode.OK),
        ([(False, True)], ExitCode.UNREACHABLE),
        ([(False, True), (False, True)], ExitCode.UNREACHABLE),
        ([(True, False), (False, True)], ExitCode.PROBLEM),  # one got through: not "away"
        ([(False, False), (False, True)], ExitCode.PROBLEM),  # one answered no
        ([(False, False)], ExitCode.PROBLEM),
    ],
)
def test_alerts_test_exits_by_the_worst_channel(
    outcomes: list[tuple[bool, bool]], code: ExitCode
) -> None:
    deliveries = [
        Delivery(Channel.WEBHOOK, "x", "" if ok else "failed", unreachable)
        for ok, unreachable in outcomes
    ]
    assert exit_code(deliveries) is code
