"""Log lines of real jobs, a real `bridge run` and the development server: every line JSON,
each job's context its own, tracebacks only for the unexpected (and capped), planned retries
at warning."""

from __future__ import annotations

import io
import json
import logging
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml
from rq.serializers import JSONSerializer
from werkzeug.serving import make_server

from bridge.job_names import POLL_SYSTEM, SYNC_FIRST_LEVEL
from bridge.queue import get_queue
from bridge.sandbox.stack import Stack
from bridge.telemetry.logs import MAX_TRACEBACK, clear_context, configure_logging
from bridge.web import create_app
from bridge.web.serving import QuietRequestHandler
from bridge.workers import BridgeWorker
from tests.integration.ops_helpers import COMPLETE, DESCRIPTION

Line = dict[str, Any]


@contextmanager
def captured(level: int = logging.INFO) -> Iterator[io.StringIO]:
    """What the bridge's JSON handler writes while the block runs."""
    root = logging.getLogger()
    before = root.level
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream, level=level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
        clear_context()


def parsed(stream: io.StringIO) -> list[Line]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]  # each one JSON


def work(stack: Stack) -> None:
    queue = get_queue(stack.redis, stack.config)
    worker = BridgeWorker([queue], connection=stack.redis, serializer=JSONSerializer)
    worker.work(burst=True, logging_level="INFO")  # RQ's own lines too


def test_each_job_logs_under_its_own_ticket_and_the_next_one_does_not(stack: Stack) -> None:
    tid = str(stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                             custom_fields=COMPLETE)["id"])  # fmt: skip
    stack.zendesk.wait_for_deliveries(10)
    poll = get_queue(stack.redis, stack.config).enqueue(POLL_SYSTEM, args=("vendor",))
    with captured() as out:
        work(stack)
    lines = parsed(out)
    sync = [line for line in lines if line.get("job", "").startswith("tb-acme-")]
    assert any(line["message"].startswith("decision: escalated") for line in sync)
    assert {line.get("ticket") for line in sync} == {tid}  # every line of those jobs
    polled = [line for line in lines if line.get("job") == poll.id]
    assert polled and all(line["system"] == "vendor" and "ticket" not in line for line in polled)
    # RQ's line naming the job it is about to run comes before the job binds its context:
    # it must carry no context at all, least of all the previous job's.
    start = re.compile(r"Worker \S+: bridge: (?!Job OK).+ \(\S+\)")
    starts = [line for line in lines if start.fullmatch(line["message"])]
    assert any("sync helpdesk#" in line["message"] for line in starts)
    assert any(poll.id in line["message"] for line in starts)
    assert all(not {"job", "ticket", "system"} & set(line) for line in starts), starts


def test_a_planned_retry_is_a_warning_without_a_traceback(stack: Stack) -> None:
    stack.mantis.fail_next(10, status=503)  # more than the inline retries absorb
    tid = str(stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                             custom_fields=COMPLETE)["id"])  # fmt: skip
    stack.zendesk.wait_for_deliveries(10)
    get_queue(stack.redis, stack.config).enqueue(POLL_SYSTEM, args=("vendor",))
    with captured() as out:
        work(stack)  # no scheduler: the planned retries wait, this run ends
    lines = parsed(out)
    (retry,) = [line for line in lines if line["message"].startswith("will retry:")]
    assert retry["level"] == "warning" and retry["ticket"] == tid and "503" in retry["message"]
    (poll,) = [line for line in lines if line["message"].startswith("poll failed:")]
    assert poll["level"] == "warning" and poll["system"] == "vendor"
    assert not [line for line in lines if "exc" in line or "Traceback" in line["message"]]
    assert not [line for line in lines if line["level"] == "error"]


def test_an_unexpected_error_is_logged_once_with_a_capped_traceback(stack: Stack) -> None:
    job = get_queue(stack.redis, stack.config).enqueue(
        SYNC_FIRST_LEVEL, args=("acme", "5"), kwargs={"event": {"kind": "comment_added"}},
        meta={"route": "acme", "system": "helpdesk", "ticket": "5"},
    )  # fmt: skip
    with captured() as out:
        work(stack)
    lines = parsed(out)
    (failed,) = [line for line in lines if "exc" in line]
    assert failed["level"] == "error" and failed["message"] == "job failed: KeyError: 'system'"
    assert failed["job"] == job.id and failed["ticket"] == "5" and failed["link"] == "acme"
    assert failed["exc"].startswith("Traceback") and "KeyError: 'system'" in failed["exc"]
    assert len(failed["exc"]) <= MAX_TRACEBACK + 64
    assert not [line for line in lines if "Traceback" in line["message"]]  # RQ's copy is gone


def test_access_lines_of_the_development_server_are_debug(stack: Stack) -> None:
    server = make_server("127.0.0.1", 0, create_app(stack.config, stack.redis),
                         threaded=True, request_handler=QuietRequestHandler)  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with captured(logging.INFO) as quiet:
            assert requests.get(f"{url}/metrics", timeout=10).status_code == 200
        with captured(logging.DEBUG) as loud:
            assert requests.get(f"{url}/healthz?probe=1", timeout=10).status_code == 200
    finally:
        server.shutdown()
    assert not [line for line in parsed(quiet) if "/metrics" in line["message"]]
    (access,) = [line for line in parsed(loud) if line["logger"] == "bridge.web.access"]
    assert access["level"] == "debug" and access["message"] == "GET /healthz 200"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(process: subprocess.Popen[str], wanted: list[str], seconds: float) -> list[str]:
    """Output lines until every text in `wanted` was seen in one, or the time is up."""
    assert process.stdout is not None
    lines: list[str] = []
    missing = list(wanted)
    deadline = time.monotonic() + seconds
    while missing and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            missing = [w for w in missing if w not in line]
    assert not missing, (missing, lines)
    return lines


def test_bridge_run_writes_every_line_as_json(stack: Stack, tmp_path: Path) -> None:
    """Web, worker, cron and the embedded Redis of `bridge run`: banners, the cron's lines and
    RQ's included; a health check and a scrape leave no access line at info."""
    port = _free_port()
    raw = yaml.safe_load(stack.config_path.read_text())
    raw.update(redis_url="", data_dir=str(tmp_path / "d"), web={"host": "127.0.0.1", "port": port})
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = _read_until(run, ["webhooks at", "poll vendor every", "enqueued poll-vendor",
                                  "Listening on"], seconds=60)  # fmt: skip
        for path in ("/healthz", "/metrics"):
            assert requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code < 500
    finally:
        run.send_signal(signal.SIGTERM)
        rest, _ = run.communicate(timeout=60)
    assert run.returncode == 0
    everything = [line for line in [*lines, *rest.splitlines()] if line.strip()]
    entries = [json.loads(line) for line in everything]  # raises on any line that is not JSON
    assert all({"time", "level", "message", "logger"} <= set(e) for e in entries)
    assert not [e for e in entries if "/healthz" in e["message"] or "/metrics" in e["message"]]
    assert not [e for e in entries if "\x1b[" in e["message"]]  # no terminal colours
