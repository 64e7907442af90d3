"""The web app under a real gunicorn, as the image starts it (`-c python:bridge.web.gunicorn_conf`):
gunicorn's own lines (start, listen, worker boot, shutdown, a worker that cannot load the app)
are JSON lines of the bridge's handler, and a request is a debug access line without its
query, as under `bridge web`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from tests.integration.test_alerts import CONFIG, HOOK
from tests.integration.test_logs import _free_port, _read_until


def gunicorn(tmp_path: Path, port: int, config: Path, redis_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BRIDGE_CONFIG": str(config), "BRIDGE_REDIS_URL": redis_url,
           "BRIDGE_LOG_FORMAT": "json", "XDG_RUNTIME_DIR": str(tmp_path)}  # fmt: skip
    env.pop("GUNICORN_CMD_ARGS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:bridge.web.gunicorn_conf",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "debug",
         "bridge.web.wsgi:app"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip


def entries(lines: list[str]) -> list[dict[str, Any]]:
    """Each output line as JSON (raises on one that is not), with the fields of every line."""
    found = [json.loads(line) for line in lines if line.strip()]
    assert all({"time", "level", "message", "logger"} <= set(e) for e in found), found
    return found


def test_gunicorn_writes_every_line_as_json(tmp_path: Path, redis_url: str) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(CONFIG % HOOK)
    port = _free_port()
    web = gunicorn(tmp_path, port, config, redis_url)
    try:
        lines = _read_until(web, ["Starting gunicorn", "Listening at", "Booting worker with pid"],
                            seconds=60)  # fmt: skip
        # gunicorn's socket is open before the worker has loaded the app: the request waits.
        answered = requests.get(f"http://127.0.0.1:{port}/healthz?token=abc", timeout=30)
        assert answered.status_code == 200
    finally:
        web.send_signal(signal.SIGTERM)
        rest, _ = web.communicate(timeout=60)
    assert web.returncode == 0, rest
    found = entries([*lines, *rest.splitlines()])
    said = {e["message"].split(" ")[0] for e in found if e["logger"] == "gunicorn.error"}
    assert {"Starting", "Listening", "Booting", "Shutting"} <= said, said
    (access,) = [e for e in found if e["logger"] == "bridge.web.access" and "/healthz" in
                 e["message"]]  # fmt: skip
    assert access["level"] == "debug" and access["message"] == "GET /healthz 200"
    assert not [e for e in found if "token=abc" in e["message"]]  # the query is left out


def test_a_config_that_cannot_load_is_one_json_line_and_gunicorn_stops(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    web = gunicorn(tmp_path, _free_port(), missing, "redis://127.0.0.1:1/0")
    out, _ = web.communicate(timeout=60)
    assert web.returncode == 4, out  # gunicorn's "App failed to load.": no worker after worker
    found = entries(out.splitlines())
    (reason,) = [e for e in found if e["level"] == "critical"]
    assert reason["logger"] == "bridge" and "exc" not in reason
    assert reason["message"] == f"cannot start the web app: {missing}: cannot read: No such " + (
        "file or directory"
    )
    assert any(e["message"] == "Reason: App failed to load." for e in found)
