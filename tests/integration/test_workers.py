"""The worker's changes to RQ's defaults, on a real Redis: pipelined heartbeats, and several
jobs at once in one process (threads) with time limits and warm shutdown intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from bridge.cli import main
from bridge.queue import JsonQueue
from bridge.workers import BridgeWorker, _SiblingWorker, threaded_worker_class
from tests.integration.waiting import wait_for
from tests.integration.worker_jobs import record_span


def test_a_heartbeat_is_one_round_trip_and_still_extends_the_worker(redis: Redis) -> None:
    worker = BridgeWorker([JsonQueue("t-heartbeat", connection=redis)], connection=redis)
    worker.register_birth()
    try:
        redis.expire(worker.key, 5)
        sent: list[int] = []
        original = redis.connection_pool.get_connection

        def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            sent.append(1)
            return original(*args, **kwargs)

        redis.connection_pool.get_connection = counting  # type: ignore[method-assign]
        try:
            worker.heartbeat(300)
        finally:
            redis.connection_pool.get_connection = original  # type: ignore[method-assign]
        assert len(sent) == 1
        assert redis.ttl(worker.key) > 200
        assert redis.hget(worker.key, "last_heartbeat")
    finally:
        worker.register_death()


# -- several jobs at once in one process (`bridge worker --threads T`) ------------------------


def _spans(redis: Redis) -> list[tuple[str, int, float, float]]:
    rows = [raw.decode().split("|") for raw in redis.lrange("t-workers:spans", 0, -1)]
    return [(name, int(pid), float(start), float(end)) for name, pid, start, end in rows]


def test_threads_run_jobs_side_by_side_in_one_process(redis: Redis) -> None:
    queue = JsonQueue("t-threads", connection=redis)
    jobs = [queue.enqueue(record_span, 0.3) for _ in range(6)]
    worker = threaded_worker_class(3)([queue], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)

    assert [j.get_status() for j in jobs] == [JobStatus.FINISHED] * 6
    spans = _spans(redis)
    assert {pid for _, pid, _, _ in spans} == {os.getpid()}
    assert len({name for name, *_ in spans}) >= 2
    # some two jobs were running at the same moment
    assert any(a[2] < b[3] and b[2] < a[3] for a in spans for b in spans if a is not b)
    assert not redis.smembers(f"rq:workers:{queue.name}")  # every thread's worker left


def test_a_job_in_a_sibling_thread_still_gets_its_time_limit(redis: Redis) -> None:
    queue = JsonQueue("t-threads", connection=redis)
    jobs = [queue.enqueue(record_span, 10, job_timeout=1) for _ in range(2)]
    worker = threaded_worker_class(2)([queue], connection=redis, serializer=JSONSerializer)
    worker.work(burst=True)

    for job in jobs:
        assert job.get_status() == JobStatus.FAILED
        result = job.latest_result()
        assert result is not None and "JobTimeoutException" in (result.exc_string or "")
    assert len(redis.lrange("t-workers:started", 0, -1)) == 2  # both began, neither ended
    threads = {raw.decode() for raw in redis.lrange("t-workers:threads", 0, -1)}
    assert threads == {"MainThread", "rq-sibling-1"}
    assert _spans(redis) == []


def test_a_sibling_that_quits_on_its_own_is_replaced(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = threaded_worker_class(2)([JsonQueue("t-threads", connection=redis)], connection=redis)
    ran: list[str] = []

    def quits(self: _SiblingWorker, **kwargs: object) -> bool:
        """What RQ's work loop does after an unexpected error: log it and return."""
        ran.append(self.name)
        if len(ran) == 2:
            worker._stop_siblings()  # the process is asked to stop: no third one
        return False

    monkeypatch.setattr(_SiblingWorker, "work", quits)
    worker._run_sibling(1, 1, burst=False, logging_level=None)
    assert ran == [f"{worker.name}-t1", f"{worker.name}-t1.2"]


def _worker_process(redis_url: str, threads: int) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from redis import Redis; from rq.serializers import JSONSerializer; "
        "from bridge.queue import JsonQueue; from bridge.workers import threaded_worker_class; "
        f"W = threaded_worker_class({threads}); "
        "r = Redis.from_url(sys.argv[1]); "
        "W([JsonQueue('t-threads', connection=r)], connection=r, "
        "serializer=JSONSerializer).work()"
    )
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen([sys.executable, "-c", code, redis_url], cwd=root)


def test_sigterm_lets_every_thread_finish_its_job_and_start_no_new_one(
    redis: Redis, redis_url: str
) -> None:
    queue = JsonQueue("t-threads", connection=redis)
    jobs = [queue.enqueue(record_span, 1.0) for _ in range(6)]
    proc = _worker_process(redis_url, threads=3)
    try:
        wait_for(lambda: redis.llen("t-workers:started") >= 3, "three jobs to start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    started = {raw.decode() for raw in redis.lrange("t-workers:started", 0, -1)}
    assert len(started) == 3
    assert len({name for name, *_ in _spans(redis)}) == 3  # one job in each thread
    for job in jobs:
        expected = JobStatus.FINISHED if job.id in started else JobStatus.QUEUED
        assert job.get_status() == expected
    assert queue.count == 3
    assert not redis.smembers(f"rq:workers:{queue.name}")


def test_an_idle_threaded_worker_stops_on_sigterm(redis: Redis, redis_url: str) -> None:
    proc = _worker_process(redis_url, threads=4)
    try:
        wait_for(lambda: len(redis.smembers("rq:workers:t-threads")) == 4, "4 workers")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    assert not redis.smembers("rq:workers:t-threads")


def test_threads_do_not_combine_with_fork() -> None:
    result = CliRunner().invoke(main, ["worker", "--fork", "--threads", "2"])
    assert result.exit_code == 2
    assert "--threads" in result.output and "--fork" in result.output
