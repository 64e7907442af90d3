"""The `ops` config section, options.silence_alert, and structured logs without secrets."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.durations import fmt_age
from bridge.errors import ConfigError
from bridge.telemetry.logs import (
    MAX_TRACEBACK,
    bind,
    cap,
    clear_context,
    configure_logging,
    secrets_of,
)
from tests.unit.test_config import GOOD, write

OPS = """\
ops:
  token: "${OPS_TOKEN}"
  username: oncall
  password: "${OPS_PASSWORD}"
"""
ENV = {"ZD_TOKEN": "zendesk-api-token-1", "OPS_TOKEN": "t" * 20, "OPS_PASSWORD": "hunter2hunter2"}


def test_no_ops_section_means_console_disabled(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD), ENV).ops is None


def test_ops_section_with_env_secrets_that_never_show_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + OPS), ENV)
    assert config.ops is not None
    assert config.ops.token == "t" * 20 and config.ops.username == "oncall"
    assert config.ops.secret_key is None  # the web process generates one (never derived)
    assert "t" * 20 not in repr(config.ops) and "hunter2" not in repr(config.ops)
    assert not config.ops.protect_metrics


@pytest.mark.parametrize(
    ("section", "complaint"),
    [
        ("ops: {username: oncall}", "set both username and password"),
        ("ops: {protect_metrics: true}", "needs a token, or a username + password"),
        ("ops: {token: short}", "use 16+ chars"),
    ],
)
def test_bad_ops_section_names_the_problem(tmp_path: Path, section: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        load_config(write(tmp_path, GOOD + section + "\n"), ENV)


def test_silence_alert_must_be_positive_seconds(tmp_path: Path) -> None:
    text = GOOD.replace('bridge_user: "7"', 'bridge_user: "7"\n    options: {silence_alert: 300}')
    config = load_config(write(tmp_path, text), ENV)
    assert config.systems["vendor"].options["silence_alert"] == 300
    bad = text.replace("silence_alert: 300", "silence_alert: soon")
    with pytest.raises(ConfigError, match=r"options\.silence_alert: 'soon' is not a duration"):
        load_config(write(tmp_path, bad), ENV)


def test_json_log_lines_carry_ticket_context_and_hide_secrets(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + OPS), ENV)
    stream = io.StringIO()
    handler = configure_logging("json", secrets_of(config), stream=stream)
    try:
        bind(replace=True, system="helpdesk", ticket="42", link="acme", job="tb-acme-1")
        logging.getLogger("bridge.test").info("token %s sent", "zendesk-api-token-1")
        clear_context()
        try:
            raise RuntimeError(f"auth failed with {'t' * 20}")
        except RuntimeError:
            logging.getLogger("bridge.test").exception("boom", extra={"system": "vendor"})
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "token *** sent" and first["level"] == "info"
    assert {k: first[k] for k in ("system", "ticket", "link", "job")} == {
        "system": "helpdesk", "ticket": "42", "link": "acme", "job": "tb-acme-1"}  # fmt: skip
    assert first["time"].endswith("+00:00")
    assert second["system"] == "vendor" and "ticket" not in second
    assert "RuntimeError: auth failed with ***" in second["exc"]
    assert "t" * 20 not in stream.getvalue() and "zendesk-api-token-1" not in stream.getvalue()


def test_text_format_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_LOG_FORMAT", "text")
    stream = io.StringIO()
    handler = configure_logging(secrets=["s3cr3t-value"], stream=stream)
    try:
        bind(replace=True, system="helpdesk", ticket="7")
        logging.getLogger("bridge.test").warning("using s3cr3t-value")
        clear_context()
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.endswith("bridge.test: using *** [system=helpdesk ticket=7]")
    assert "WARNING" in line


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "never"), (5, "5 s"), (600, "10 min"), (3 * 3600 + 300, "3 h 5 min"),
     (2 * 86400 + 4 * 3600, "2 d 4 h")],
)  # fmt: skip
def test_ages_read_at_a_glance(seconds: float | None, text: str) -> None:
    assert fmt_age(seconds) == text


def _chained(n: int) -> None:
    """An exception wrapped `n` times, each layer with its own traceback (as urllib3's is by
    requests, and that by the bridge's transport)."""
    if n == 0:
        raise ConnectionError("Failed to resolve 'mantis.example' (Name or service not known)")
    try:
        _chained(n - 1)
    except Exception as exc:
        raise RuntimeError(f"layer {n}") from exc


def test_a_long_traceback_keeps_its_start_and_the_error_within_the_cap() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    try:
        try:
            _chained(30)
        except RuntimeError:
            logging.getLogger("bridge.test").exception("unexpected")
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = (json.loads(text) for text in stream.getvalue().splitlines())
    assert len(line["exc"]) <= MAX_TRACEBACK + len("\n...  characters left out ...\n") + 6
    assert line["exc"].startswith("Traceback (most recent call last):")
    assert re.search(r"\n\.\.\. \d+ characters left out \.\.\.\n", line["exc"])
    assert line["exc"].rstrip().endswith("RuntimeError: layer 30")


def test_a_short_traceback_is_left_whole() -> None:
    text = "Traceback (most recent call last):\n  File x\nValueError: bad\n"
    assert cap(text) == text


def test_colour_codes_are_stripped_from_json_messages() -> None:
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)
    try:
        logging.getLogger("bridge.test").warning("\x1b[32mbridge\x1b[39;49;00m: job ok")
    finally:
        logging.getLogger().removeHandler(handler)
    assert json.loads(stream.getvalue())["message"] == "bridge: job ok"


def test_what_python_prints_itself_becomes_a_json_line() -> None:
    """An exception in a thread, and one a finalizer could not raise: JSON, not stderr text."""
    import gc
    import sys
    import threading

    stream = io.StringIO()
    saved = (sys.excepthook, threading.excepthook, sys.unraisablehook)
    handler = configure_logging("json", stream=stream)
    try:

        def crash() -> None:
            raise ValueError("in a thread")

        thread = threading.Thread(target=crash, name="pulse-test")
        thread.start()
        thread.join()

        class Leaky:
            def __del__(self) -> None:
                raise OSError("in a finalizer")

        Leaky()
        gc.collect()
    finally:
        logging.getLogger().removeHandler(handler)
        sys.excepthook, threading.excepthook, sys.unraisablehook = saved
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    threaded, ignored = lines
    assert threaded["level"] == "error" and "pulse-test" in threaded["message"]
    assert "ValueError: in a thread" in threaded["exc"]
    assert ignored["level"] == "warning" and "OSError: in a finalizer" in ignored["message"]
