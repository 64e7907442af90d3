"""`bridge run`'s embedded Redis is found from the config alone; `bridge sandbox` stays up with
its URLs printed and stops on a signal. Real processes, stopped by signal like a user does."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

from bridge.exit_codes import ExitCode
from bridge.redis_runtime import embedded_socket
from bridge.sandbox.stack import Stack

GUARD = 90.0  # seconds: only bounds a test that already failed, never a condition


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GUARD
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def status(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", "status", "--json", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_status_finds_the_embedded_redis_of_bridge_run(stack: Stack, tmp_path: Path) -> None:
    raw = yaml.safe_load(stack.config_path.read_text())
    raw.update(redis_url="", data_dir=str(tmp_path / "d"),
               web={"host": "127.0.0.1", "port": free_port()})  # fmt: skip
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    sock = embedded_socket(tmp_path / "d")
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        until("the socket exists", sock.exists)
        assert sock.stat().st_mode & 0o077 == 0  # only the bridge's user may connect
        until("a live worker", lambda: bool(json.loads(status(config).stdout)["queue"]["workers"]))
        done = status(config)
        assert done.returncode != ExitCode.UNREACHABLE, done.stderr
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=GUARD)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()[-2000:]
    assert not sock.exists()
    gone = status(config)
    assert gone.returncode == ExitCode.UNREACHABLE
    assert gone.stderr.strip() == (
        f"Error: no Redis: start `bridge run` or set redis_url (no socket at {sock.resolve()})"
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_bridge_sandbox_stays_up_and_stops_on_a_signal(tmp_path: Path, stop: int) -> None:
    base = tmp_path / "world"
    world = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "sandbox", "--no-story", "--keep", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert world.stdout is not None
    lines: list[str] = []
    try:
        for line in world.stdout:
            lines.append(line)
            if line.strip().startswith("try: bridge status"):
                break
        text = "".join(lines)
        console = re.search(r"bridge console +(\S+)/ops +login (\S+) / (\S+)", text)
        assert console, text
        url, user, password = console.groups()
        assert re.search(r"helpdesk +Zendesk sandbox \(first level\) API http://127\.0\.0\.1", text)
        assert re.search(r"vendor +MantisBT sandbox \(second level\) API http://127\.0\.0\.1", text)
        page = requests.get(f"{url}/ops/", auth=(user, password), timeout=10)
        assert page.status_code == 200
        zd = re.search(r"helpdesk .* API (\S+)", text)
        assert zd and requests.get(zd.group(1), timeout=10).status_code < 500
        done = status(base / "bridge.yaml")
        assert done.returncode in (ExitCode.OK, ExitCode.PROBLEM), done.stderr  # it answers
    finally:
        world.send_signal(stop)
        rest, _ = world.communicate(timeout=GUARD)
    assert world.returncode == 0, rest
    assert "stopping: cron, worker, web, sandboxes, Redis" in rest and "Traceback" not in rest
    after = status(base / "bridge.yaml")
    assert after.returncode == ExitCode.UNREACHABLE  # said in one line, see test_cli_exit_codes


def test_a_kept_demo_says_its_servers_are_stopped(tmp_path: Path) -> None:
    from bridge.demo import kept_note

    text = "\n".join(kept_note(tmp_path / "bridge.yaml"))
    assert f"are stopped; {tmp_path / 'bridge.yaml'} points at them" in text
    assert f"bridge check-config --config {tmp_path / 'bridge.yaml'}" in text
    assert f"bridge sandbox --keep {tmp_path}" in text
