"""`bridge demo` / `bridge sandbox` without the demo extra: one line naming the install."""

from __future__ import annotations

import importlib.util

import pytest
from click.testing import CliRunner

from bridge.cli import main


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_without_the_demo_extra_the_command_names_the_install(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def without_waitress(name: str, *args: object) -> object:
        return None if name == "waitress" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", without_waitress)
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 2
    assert "needs the demo extra (waitress missing)" in result.output
    assert "pip install 'ticket-bridge[demo]'" in result.output
    assert "Traceback" not in result.output
