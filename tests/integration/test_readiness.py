"""/readyz and /healthz on a real Redis with a real BridgeWorker, RQ cron scheduler and poll;
`python -m bridge.healthcheck worker|cron` as compose runs it (a process, its exit code)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redis import Redis
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.cron import BridgeCronScheduler
from bridge.queue import JsonQueue
from bridge.redis_runtime import _free_port, connect
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.stack import Stack
from bridge.web import create_app
from bridge.workers import BridgeWorker

POLLS = ("poll:helpdesk", "poll:vendor")  # Zendesk is swept, MantisBT polled


@contextmanager
def live_worker(redis: Redis) -> Iterator[BridgeWorker]:
    """A registered BridgeWorker with its pulse, as `bridge worker` starts one."""
    worker = BridgeWorker([JsonQueue("t-ready", connection=redis)], connection=redis,
                          serializer=JSONSerializer)  # fmt: skip
    worker.register_birth()
    try:
        yield worker
    finally:
        worker.register_death()


@contextmanager
def live_cron(redis: Redis) -> Iterator[BridgeCronScheduler]:
    """A registered cron scheduler, as `bridge cron` has one while it runs."""
    scheduler = BridgeCronScheduler(connection=redis, name="bridge-cron-test-1")
    scheduler.register_birth()
    try:
        yield scheduler
    finally:
        scheduler.register_death()


def readyz(stack: Stack) -> tuple[int, dict[str, object]]:
    answer = create_app(stack.config, stack.redis).test_client().get("/readyz")
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.status_code, answer.get_json()


def test_not_ready_names_each_missing_part(stack: Stack) -> None:
    code, body = readyz(stack)
    assert code == 503
    assert body == {
        "status": "not ready",
        "checks": {"web": "ok", "redis": "ok", "workers": "none alive", "cron": "none alive",
                   "poll:helpdesk": "not yet", "poll:vendor": "not yet"},
        "not_ready": ["workers", "cron", *POLLS],
    }  # fmt: skip
    assert create_app(stack.config, stack.redis).test_client().get("/healthz").status_code == 200


def test_ready_once_a_worker_pulses_the_cron_runs_and_every_system_was_polled(
    stack: Stack,
) -> None:
    with live_worker(stack.redis):
        code, body = readyz(stack)
        assert (code, body["not_ready"]) == (503, ["cron", *POLLS])
        with live_cron(stack.redis):
            assert readyz(stack)[1]["not_ready"] == list(POLLS)
            stack.poll("vendor")
            assert readyz(stack)[1]["not_ready"] == ["poll:helpdesk"]
            stack.poll("helpdesk")
            code, body = readyz(stack)
            assert code == 200
            assert body == {
                "status": "ready",
                "checks": {"web": "ok", "redis": "ok", "workers": "ok", "cron": "ok",
                           "poll:helpdesk": "ok", "poll:vendor": "ok"},
                "not_ready": [],
            }  # fmt: skip
        assert readyz(stack)[1]["not_ready"] == ["cron"]  # the cron stopped
    assert readyz(stack)[1]["not_ready"] == ["workers", "cron"]  # and the worker too


def test_a_dead_worker_or_cron_stops_counting_when_its_mark_expires(stack: Stack) -> None:
    """A killed process leaves its name registered; only the mark Redis expires says alive."""
    with live_worker(stack.redis) as worker, live_cron(stack.redis) as scheduler:
        stack.poll("vendor")
        stack.poll("helpdesk")
        assert readyz(stack)[0] == 200
        stack.redis.delete(keyspace.alive(worker.name))  # what PULSE_TTL does after a SIGKILL
        assert readyz(stack)[1]["not_ready"] == ["workers"]
        worker.beat()
        stack.redis.delete(scheduler.key)  # RQ's 120 s expiry of a silent scheduler
        assert readyz(stack)[1]["not_ready"] == ["cron"]
        scheduler.save()  # its next heartbeat writes it again


def test_a_system_that_is_never_polled_is_not_waited_for(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    options = {"helpdesk": {"poll_interval": 0}}
    with Stack(tmp_path, redis_url=redis_url, worker_process=False, options=options) as stack:
        stack.redis.flushdb()
        assert readyz(stack)[1]["checks"] == {
            "web": "ok", "redis": "ok", "workers": "none alive", "cron": "none alive",
            "poll:vendor": "not yet",
        }  # fmt: skip


def test_unreachable_redis_is_named_without_its_error(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    closed = connect(f"redis://127.0.0.1:{_free_port()}/0", retries=0)  # nothing listens there
    answer = create_app(stack.config, closed).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "not ready",
        "checks": {"web": "ok", "redis": "unreachable", "workers": "unknown", "cron": "unknown",
                   "poll:helpdesk": "unknown", "poll:vendor": "unknown"},
        "not_ready": ["redis", "workers", "cron", *POLLS],
    }  # fmt: skip
    assert "ConnectionError" in caplog.text  # the detail is in the log only
    assert "Error" not in answer.get_data(as_text=True)


# -- python -m bridge.healthcheck ------------------------------------------------------------


def healthcheck(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_REDIS_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "bridge.healthcheck", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_healthcheck_exits_0_only_while_the_role_is_alive_on_this_host(
    redis: Redis, redis_url: str
) -> None:
    for role in ("worker", "cron"):
        done = healthcheck(role, url=redis_url)
        assert (done.returncode, done.stderr.split(":")[0]) == (1, role), done.stderr
        assert "none alive on" in done.stderr
    with live_worker(redis):
        worker = healthcheck("worker", url=redis_url)
        assert (worker.returncode, worker.stdout.split(" alive")[0]) == (0, "worker: 1")
        assert healthcheck("cron", url=redis_url).returncode == 1  # one role is not the other
        elsewhere = healthcheck("worker", "--host", "another-container", url=redis_url)
        assert elsewhere.returncode == 1
        with live_cron(redis):
            assert healthcheck("cron", url=redis_url).returncode == 0
            assert healthcheck("cron", "--host", "another-container", url=redis_url).returncode
    assert healthcheck("worker", url=redis_url).returncode == 1  # stopped in order


def test_healthcheck_says_one_line_when_redis_is_away_or_it_is_misused(redis_url: str) -> None:
    away = healthcheck("worker", url=f"redis://127.0.0.1:{_free_port()}/0")
    assert away.returncode == 1
    assert away.stderr.strip() == "worker: cannot reach Redis (ConnectionError)"
    wrong = healthcheck("scheduler", url=redis_url)
    assert (
        wrong.returncode == 2
        and "'scheduler' is not one of 'web', 'worker', 'cron'" in wrong.stderr
    )
    nothing = healthcheck("cron", url="")
    assert nothing.returncode == 2 and "no Redis" in nothing.stderr
    assert "Traceback" not in away.stderr + wrong.stderr + nothing.stderr


def test_healthcheck_finds_redis_through_the_config_without_a_url(stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with live_worker(stack.redis):
        found = healthcheck("worker", "--config", str(stack.config_path), url="")
        assert found.returncode == 0, found.stderr
    embedded = tmp_path / "embedded.yaml"  # no redis_url: `bridge run`'s socket in data_dir
    embedded.write_text(stack.config_path.read_text().replace(stack.config.redis_url, "''"))
    away = healthcheck("worker", "--config", str(embedded), url="")
    assert away.returncode == 1 and "cannot reach Redis" in away.stderr, away.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("systems: [\n")
    bad = healthcheck("worker", "--config", str(broken), url="")
    assert bad.returncode == 1 and str(broken) in bad.stderr and "Traceback" not in bad.stderr


def test_healthcheck_web_wants_200_from_the_web_process(stack: Stack) -> None:
    with BackgroundServer(create_app(stack.config, stack.redis)) as base:
        alive = healthcheck("web", "--url", f"{base}/healthz", url="")
        assert (alive.returncode, alive.stdout.strip()) == (0, f"web: {base}/healthz answered 200")
        not_ready = healthcheck("web", "--url", f"{base}/readyz", url="")
        assert not_ready.returncode == 1
        assert not_ready.stderr.strip() == f"web: {base}/readyz answered 503"
    gone = healthcheck("web", "--url", f"{base}/healthz", url="")
    assert gone.returncode == 1 and gone.stderr.startswith(f"web: cannot reach {base}/healthz (")
