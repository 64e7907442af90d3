"""Jobs for the worker tests: they record where and when they ran in Redis."""

from __future__ import annotations

import os
import threading
import time

from rq import get_current_job


def record_span(seconds: float) -> str:
    """Sleep `seconds` in short steps and record (thread, pid, start, end) of this run."""
    job = get_current_job()
    assert job is not None
    started = time.time()
    job.connection.rpush("t-workers:started", job.id)
    job.connection.rpush("t-workers:threads", threading.current_thread().name)
    deadline = started + seconds
    while time.time() < deadline:
        time.sleep(0.02)  # short steps: a thread's time limit fires between them
    name = threading.current_thread().name
    job.connection.rpush("t-workers:spans", f"{name}|{os.getpid()}|{started}|{time.time()}")
    return name


def stall_first_run(seconds: float) -> int:
    """Sleep `seconds` on the first run only (until the test kills its worker); a retry
    returns at once. Returns the run's number."""
    job = get_current_job()
    assert job is not None
    run = int(job.connection.incr(f"t-workers:runs:{job.id}"))
    if run == 1:
        time.sleep(seconds)
    return run


def fail_first_run() -> int:
    """Raise on the first run, return the run's number after that."""
    job = get_current_job()
    assert job is not None
    run = int(job.connection.incr(f"t-workers:runs:{job.id}"))
    if run == 1:
        raise RuntimeError("the remote system answered 503")
    return run
