"""The real `bridge` CLI in subprocesses: exit codes and the one line on stderr when Redis or a
system cannot be reached; status's problems; --json; failed show; resync's existence check."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from bridge import keyspace
from bridge.cli_support import table
from bridge.exit_codes import ExitCode
from bridge.maintenance import PULSE_TTL, pulse
from bridge.queue import get_queue
from bridge.redis_runtime import redact, resolve_url
from bridge.sandbox.stack import Stack
from tests.integration.ops_helpers import park_an_escalation

PASSWORD = "s3cret-redis-pw"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def variant(stack: Stack, tmp_path: Path, name: str, **changes: Any) -> Path:
    raw = yaml.safe_load(stack.config_path.read_text())
    raw.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def assert_one_line(done: subprocess.CompletedProcess[str], code: ExitCode, text: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # JSON logs
    assert len(lines) == 1, done.stderr
    assert text in lines[0], lines[0]
    assert "Traceback" not in done.stderr + done.stdout


COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["failed", "list"],
    ["failed", "list", "--json"],
    ["failed", "show", "tb-x"],
    ["failed", "retry", "--all"],
    ["failed", "discard", "tb-x"],
    ["links", "show", "helpdesk", "1"],
    ["links", "show", "--json", "helpdesk", "1"],
    ["resync", "helpdesk", "1"],
    ["link", "helpdesk", "1", "vendor", "2"],
    ["worker", "--burst"],
]


def test_every_command_says_one_line_when_redis_is_unreachable(
    stack: Stack, tmp_path: Path
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{closed_port()}/0"
    config = variant(stack, tmp_path, "down", redis_url=url)
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"ticket_id": "1", "current_user_id": "5"}))
    for command in [*COMMANDS, ["dry-run", "helpdesk", str(payload)]]:
        done = cli(*command, "--config", str(config))
        assert_one_line(done, ExitCode.UNREACHABLE, "cannot reach Redis at redis://:***@127.0.0.1")
        assert PASSWORD not in done.stderr + done.stdout


def test_without_redis_url_and_no_embedded_redis_running(stack: Stack, tmp_path: Path) -> None:
    config = variant(stack, tmp_path, "none", redis_url="", data_dir=str(tmp_path / "d"))
    for command in (["status"], ["failed", "list"], ["worker"], ["cron"], ["web"]):
        done = cli(*command, "--config", str(config))
        assert_one_line(done, ExitCode.UNREACHABLE, "no Redis: start `bridge run` or set redis_url")


def test_a_waiting_worker_says_so_once_and_stops_on_sigterm(stack: Stack, tmp_path: Path) -> None:
    """A long-running worker rides out an outage, also at start: one (JSON) line, then it
    waits."""
    config = variant(stack, tmp_path, "down", redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "worker", "--config", str(config)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # the line comes before any wait
        seen.append(line)
        if "waiting for it" in line:
            break
    process.terminate()
    rest = process.communicate(timeout=30)[1]
    said = json.loads(seen[-1])
    assert said["level"] == "warning"
    assert "worker: cannot reach Redis at redis://127.0.0.1" in said["message"]
    assert "Traceback" not in "".join(seen) + rest


def test_an_unreachable_system(stack: Stack, tmp_path: Path) -> None:
    raw = yaml.safe_load(stack.config_path.read_text())
    raw["systems"]["helpdesk"]["url"] = f"http://127.0.0.1:{closed_port()}"
    config = tmp_path / "sys.yaml"
    config.write_text(yaml.safe_dump(raw))
    done = cli("resync", "helpdesk", "1", "--config", str(config))
    assert_one_line(done, ExitCode.UNREACHABLE, "cannot reach system helpdesk:")
    assert get_queue(stack.redis, stack.config).count == 0
    done = cli("check-config", "--online", "--config", str(config))
    assert done.returncode == ExitCode.UNREACHABLE and "helpdesk: FAILED, cannot reach" in (
        done.stdout
    )


def _live_worker(stack: Stack, rq_heartbeat_age: float = 0.0) -> SimpleWorker:
    """A registered bridge worker with a fresh pulse, idle since `rq_heartbeat_age` s."""
    worker = SimpleWorker(
        [get_queue(stack.redis, stack.config)], connection=stack.redis, serializer=JSONSerializer
    )
    worker.register_birth()
    beat = datetime.now(UTC) - timedelta(seconds=rq_heartbeat_age)
    stack.redis.hset(worker.key, "last_heartbeat", utcformat(beat))
    pulse(stack.redis, {worker.name: ""})
    return worker


def _seen(stack: Stack, ago: timedelta) -> None:
    at = (datetime.now(UTC) - ago).isoformat()
    stack.redis.hset(keyspace.LAST_SEEN, mapping={"helpdesk": at, "vendor": at})


def status(stack: Stack) -> tuple[int, Any]:
    done = cli("status", "--json", "--config", str(stack.config_path))
    return done.returncode, json.loads(done.stdout)


def test_status_exit_codes_follow_workers_and_silence(stack: Stack) -> None:
    worker = _live_worker(stack, rq_heartbeat_age=300)  # RQ writes its heartbeat rarely idle
    _seen(stack, timedelta(seconds=5))
    code, data = status(stack)
    assert code == ExitCode.OK and data["problems"] == [], data
    (info,) = data["queue"]["workers"]
    assert info["name"] == worker.name and info["alive"]
    assert info["heartbeat_age"] <= PULSE_TTL  # the pulse's age, not "5 min ago"

    stack.redis.delete(keyspace.alive(worker.name))  # killed: RQ's registration is still there
    code, data = status(stack)
    assert code == ExitCode.PROBLEM
    assert data["queue"]["workers"] == []
    assert [w["name"] for w in data["queue"]["stale_workers"]] == [worker.name]
    assert data["problems"] == [
        "no live worker listens on queue bridge: nothing will be synced "
        "(1 registration(s) without a pulse: killed workers)"
    ]
    text = cli("status", "--config", str(stack.config_path)).stdout
    assert "dead (no pulse)" in text

    pulse(stack.redis, {worker.name: ""})
    stack.redis.hset(
        keyspace.LAST_SEEN, "helpdesk", (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    )
    code, data = status(stack)
    assert code == ExitCode.PROBLEM
    (problem,) = data["problems"]
    assert problem.startswith("system helpdesk is SILENT: last heard from 2 h 0 min ago")
    (helpdesk,) = [s for s in data["systems"] if s["system"] == "helpdesk"]
    assert helpdesk["silent"] is True


def test_failed_list_json_and_show_have_the_whole_reason(stack: Stack) -> None:
    tid = park_an_escalation(stack)
    config = str(stack.config_path)
    listed = json.loads(cli("failed", "list", "--json", "--config", config).stdout)
    (job,) = listed
    assert job["kind"] == "parked" and job["ref"] == f"helpdesk#{tid}" and "403" in job["reason"]
    meta_reason = stack.redis.hget(f"rq:job:{job['id']}", "meta")
    assert meta_reason is not None and job["reason"] in json.loads(meta_reason)["park_reason"]

    text = cli("failed", "list", "--config", config).stdout
    assert "…" not in text  # nothing is cut
    assert " ".join(text.split()).count(" ".join(job["reason"].split()[:4])) == 1

    shown = cli("failed", "show", job["id"], "--config", config)
    assert shown.returncode == ExitCode.OK, shown.stderr
    assert f"reason   {job['reason']}" in shown.stdout
    assert "next     none: retry it by hand" in shown.stdout
    assert "parked" in shown.stdout.split("timeline", 1)[1]

    detail = json.loads(cli("failed", "show", "--json", job["id"], "--config", config).stdout)
    assert detail["job"]["reason"] == job["reason"] and detail["status"] == "failed"
    assert any(e["action"] == "parked" for e in detail["timeline"])
    missing = cli("failed", "show", "tb-nope", "--config", config)
    assert missing.returncode == ExitCode.PROBLEM and "no job 'tb-nope'" in missing.stderr


def test_links_show_json(stack: Stack) -> None:
    tid = park_an_escalation(stack)
    done = cli("links", "show", "--json", "helpdesk", str(tid), "--config", str(stack.config_path))
    (match,) = json.loads(done.stdout)
    assert match["ref"] == f"helpdesk#{tid}" and match["route"] == "acme"
    assert match["link"] is None and any(e["action"] == "parked" for e in match["timeline"])


def test_resync_of_a_ticket_the_system_does_not_have(stack: Stack) -> None:
    done = cli("resync", "helpdesk", "999999", "--config", str(stack.config_path))
    assert_one_line(done, ExitCode.PROBLEM, "helpdesk has no ticket 999999: nothing queued")
    assert get_queue(stack.redis, stack.config).count == 0
    assert stack.redis.keys("rq:job:*") == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:pw@host/1", "redis://user:***@host/1"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("unix:///run/r.sock?db=0", "unix:///run/r.sock?db=0"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_resolve_url_prefers_the_configured_one(tmp_path: Path) -> None:
    assert resolve_url("redis://h/0", tmp_path) == "redis://h/0"
    assert resolve_url("", tmp_path) == f"unix://{tmp_path.resolve()}/redis/redis.sock?db=0"


def test_table_wraps_the_last_column_and_cuts_nothing() -> None:
    reason = "gave up after 5 attempts over 2 h: " + "word " * 40
    out = table(["job", "reason"], [["tb-1", reason]], wrap_last=True)
    lines = out.splitlines()
    assert len(lines) > 2 and "…" not in out
    assert " ".join(" ".join(line.split()) for line in lines[1:]).endswith("word")
    assert all(line.startswith(" " * len("tb-1  ")) for line in lines[2:])
