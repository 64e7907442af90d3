"""A Redis that hangs or goes away, with real processes: intake never acks and drops, and
every long-running process comes back by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.cron import CronScheduler
from rq.job import JobStatus

from bridge.queue import get_queue
from bridge.redis_runtime import EmbeddedRedis, connect_web
from bridge.sandbox.stack import Stack
from bridge.stores.dedupe import PENDING_DELIVERY_TTL
from bridge.web import create_app
from tests.integration.test_webhook_endpoint import BODY, signed_headers
from tests.integration.waiting import wait_for
from tests.integration.worker_jobs import record_span

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack on its own Redis server, which the test may stop, freeze and restart; the
    vendor is polled every 2 s, so the cron wakes up during an outage."""
    options = {"vendor": {"poll_interval": 2}}
    with Stack(tmp_path, worker_process=False, options=options) as s:
        yield s


def _server(stack: Stack) -> EmbeddedRedis:
    server = stack.redis_server
    assert server is not None and server.process is not None
    return server


def test_a_hung_redis_is_503_and_the_senders_retry_is_taken(own_stack: Stack) -> None:
    server = _server(own_stack)
    web = create_app(own_stack.config, connect_web(server.url)).test_client()
    headers = signed_headers(own_stack.secret, BODY, "hung-1")
    key = "tb:dedupe:helpdesk:hung-1"

    os.kill(server.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    try:
        answer = web.post("/webhooks/helpdesk", data=BODY, headers=headers)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
    assert answer.status_code == 503
    queue = get_queue(own_stack.redis, own_stack.config)
    assert queue.count == 0
    # What reached Redis before it froze is at most a reservation that runs out by itself.
    if own_stack.redis.exists(key):
        assert own_stack.redis.get(key) == b"pending"
        assert 0 < own_stack.redis.ttl(key) <= PENDING_DELIVERY_TTL
        retry = web.post("/webhooks/helpdesk", data=BODY, headers=headers)
        assert retry.status_code == 503  # not "duplicate": nothing was queued for it
        assert retry.headers["Retry-After"] == str(PENDING_DELIVERY_TTL)
        own_stack.redis.pexpire(key, 1)  # ... PENDING_DELIVERY_TTL seconds later
        wait_for(lambda: not own_stack.redis.exists(key), "the reservation to expire")

    accepted = web.post("/webhooks/helpdesk", data=BODY, headers=headers)
    assert accepted.status_code == 202, accepted.get_json()
    assert queue.count == 1
    assert own_stack.redis.get(key) not in (None, b"pending")  # final with its job
    again = web.post("/webhooks/helpdesk", data=BODY, headers=headers)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"


def test_a_reservation_and_its_job_are_committed_together(own_stack: Stack) -> None:
    web = create_app(own_stack.config, own_stack.redis).test_client()
    answer = web.post("/webhooks/helpdesk", data=BODY, headers=signed_headers(
        own_stack.secret, BODY, "together"))  # fmt: skip
    assert answer.status_code == 202
    [job_id] = answer.get_json()["jobs"]
    assert own_stack.redis.ttl("tb:dedupe:helpdesk:together") > PENDING_DELIVERY_TTL
    assert get_queue(own_stack.redis, own_stack.config).fetch_job(job_id) is not None


def _spawn(stack: Stack, role: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BRIDGE_CONFIG": str(stack.config_path)}
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", role, "--config", str(stack.config_path)],
        env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_worker_and_cron_come_back_after_redis_restarts(own_stack: Stack, tmp_path: Path) -> None:
    server = _server(own_stack)
    worker = _spawn(own_stack, "worker", tmp_path / "worker.log")
    cron = _spawn(own_stack, "cron", tmp_path / "cron.log")
    queue = get_queue(own_stack.redis, own_stack.config)
    try:
        wait_for(lambda: len(CronScheduler.all(own_stack.redis)) == 1, "the cron scheduler")
        before = queue.enqueue(record_span, 0)
        wait_for(lambda: before.get_status() == JobStatus.FINISHED, "a job before the outage")

        server.stop()
        wait_for(
            lambda: (
                "Redis" in (tmp_path / "worker.log").read_text()
                and "Redis" in (tmp_path / "cron.log").read_text()
            ),
            "both processes to notice the outage",
        )
        server.start()  # same port, same data
        after = queue.enqueue(record_span, 0)
        wait_for(lambda: after.get_status() == JobStatus.FINISHED, "a job after the outage")
        wait_for(lambda: len(CronScheduler.all(own_stack.redis)) >= 1, "cron to register again")
        assert worker.poll() is None and cron.poll() is None  # neither exited
        text = json.dumps([(tmp_path / "worker.log").read_text()[-2000:]])
        assert "Traceback" not in (tmp_path / "cron.log").read_text(), text
    finally:
        for process in (worker, cron):
            process.terminate()
        for process in (worker, cron):
            try:
                assert process.wait(timeout=30) == 0
            finally:
                process.kill()
