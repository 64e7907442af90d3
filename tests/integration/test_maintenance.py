"""Recovery that no crash can stall, on a real Redis and real worker processes: the short
maintenance lease, reclaim judged by pulses (not by any worker's clock), hung jobs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from redis import Redis
from rq import Retry
from rq.job import JobStatus
from rq.rate_limit import RateLimit
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.failures.inbox import Inbox
from bridge.failures.inbox_model import Outcome
from bridge.lease import LEASE_SECONDS, Lease
from bridge.maintenance import (
    LIVE_HORIZON,
    PULSE_TTL,
    clean_queue,
    redis_time,
)
from bridge.queue import ON_FAILURE, ON_SUCCESS, JsonQueue
from bridge.workers import HUNG_GRACE, BridgeWorker, threaded_worker_class
from tests.integration.waiting import wait_for
from tests.integration.worker_jobs import record_span, stall_first_run

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "t-maint"


def _worker_process(redis_url: str, threads: int = 1) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from redis import Redis; from rq.serializers import JSONSerializer; "
        "from bridge.queue import JsonQueue; from bridge.workers import threaded_worker_class; "
        f"W = threaded_worker_class({threads}); r = Redis.from_url(sys.argv[1]); "
        f"W([JsonQueue('{QUEUE}', connection=r)], connection=r, "
        "serializer=JSONSerializer).work()"
    )
    return subprocess.Popen([sys.executable, "-c", code, redis_url], cwd=ROOT)


def _cleaner(redis: Redis) -> BridgeWorker:
    return BridgeWorker(
        [JsonQueue(QUEUE, connection=redis)], connection=redis, serializer=JSONSerializer
    )


def test_a_holder_that_dies_blocks_maintenance_for_at_most_the_lease(redis: Redis) -> None:
    queue = JsonQueue(QUEUE, connection=redis)
    held = Lease(redis, keyspace.maintenance(QUEUE))
    assert held.acquire()  # ... and its holder is killed before it releases
    assert not clean_queue(queue, _cleaner(redis))
    assert 0 < redis.ttl(keyspace.maintenance(QUEUE)) <= LEASE_SECONDS
    redis.delete(keyspace.maintenance(QUEUE))  # the lease ran out (by Redis's clock)
    assert clean_queue(queue, _cleaner(redis))
    assert not redis.exists(keyspace.maintenance(QUEUE))  # released by its holder
    assert not redis.exists(queue.registry_cleaning_key)  # RQ's 899 s lock is never taken


def test_a_killed_workers_job_is_reclaimed_and_frees_its_tickets_slot(
    redis: Redis, redis_url: str
) -> None:
    queue = JsonQueue(QUEUE, connection=redis)
    slot = RateLimit(key="t-maint:pair", concurrency=1)
    pair = {"route": "acme", "system": "helpdesk", "ticket": "7"}  # as enqueue_sync has it
    first = queue.enqueue(stall_first_run, 60, rate_limit=slot, retry=Retry(max=1), meta=pair,
                          on_failure=ON_FAILURE, on_success=ON_SUCCESS)  # fmt: skip
    second = queue.enqueue(record_span, 0, rate_limit=slot)
    proc = _worker_process(redis_url)
    try:
        # Inside the job's own code, not only marked started: killed before its first line, the
        # job's retry would be its first run, and sleep.
        wait_for(lambda: redis.get(f"t-workers:runs:{first.id}") == b"1", "the first run to begin")
        assert second.get_status() != JobStatus.QUEUED  # waiting for the ticket's slot
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    [owner] = [k.decode() for k in redis.keys(keyspace.alive("*"))]
    assert 0 < redis.ttl(owner) <= PULSE_TTL  # the dead worker's pulse runs out by itself
    redis.delete(owner)  # ... as it has, PULSE_TTL seconds later

    assert clean_queue(queue, _cleaner(redis))
    assert first.get_status() == JobStatus.QUEUED  # retried, not lost
    (group,) = Inbox(redis).groups()  # the failure inbox heard of it through RQ's callback
    assert group.error == "AbandonedJobError" and group.outcome is Outcome.RETRYING
    assert group.sample == (("acme", "7"),) and "stopped mid-job" in group.reason
    _cleaner(redis).work(burst=True)
    assert first.get_status() == JobStatus.FINISHED and first.return_value() == 2
    assert second.get_status() == JobStatus.FINISHED  # the slot was freed
    assert Inbox(redis).groups() == []  # the retry synced the pair: the entry closed


def test_a_live_job_is_kept_whatever_the_workers_clock_says(redis: Redis, redis_url: str) -> None:
    queue = JsonQueue(QUEUE, connection=redis)
    job = queue.enqueue(record_span, 30)
    proc = _worker_process(redis_url)
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED, "the job to start")
        registry = StartedJobRegistry(QUEUE, connection=redis, serializer=JSONSerializer)
        [entry] = redis.zrange(registry.key, 0, -1)
        # A worker whose clock is 10 minutes behind writes scores 10 minutes in the past.
        redis.zadd(registry.key, {entry: redis_time(redis) - 600}, xx=True)

        assert clean_queue(queue, _cleaner(redis))
        assert job.get_status() == JobStatus.STARTED
        score = redis.zscore(registry.key, entry)
        assert score is not None and score > redis_time(redis) + LIVE_HORIZON - 60
        # And RQ's own score-based cleanup, by this clock, leaves it alone too.
        registry.cleanup()
        assert job.get_status() == JobStatus.STARTED
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hung_job_stops_the_pulse_once_and_asks_for_a_replacement(redis: Redis) -> None:
    clock = Clock()
    replaced: list[str] = []

    class Watched(threaded_worker_class(1)):  # type: ignore[misc]
        def on_hung(self) -> None:
            replaced.append(self.name)

    worker = Watched([JsonQueue(QUEUE, connection=redis)], connection=redis, clock=clock)
    worker._job_deadline = clock.now + 120 + HUNG_GRACE  # a job with a 120 s limit began
    assert worker.beat()
    assert redis.exists(keyspace.alive(worker.name))
    redis.delete(keyspace.alive(worker.name))

    clock.now += 120 + HUNG_GRACE + 1
    assert not worker.beat()
    assert not worker.beat()
    assert not redis.exists(keyspace.alive(worker.name))  # no pulse: maintenance reclaims its job
    assert replaced == [worker.name] and worker.hung


def test_a_started_entry_that_names_no_worker_is_reclaimed_after_the_pulse_ttl(
    redis: Redis,
) -> None:
    """A worker killed between RQ's dequeue and the job's start leaves a started entry with no
    owner; it must not hold its ticket's slot for long (it was re-scored an hour ahead)."""
    queue = JsonQueue(QUEUE, connection=redis)
    job = queue.enqueue(record_span, 0, retry=Retry(max=1))
    registry = StartedJobRegistry(QUEUE, connection=redis, serializer=JSONSerializer)
    entry = f"{job.id}:orphan"
    job.set_status(JobStatus.STARTED)
    redis.zadd(registry.key, {entry: redis_time(redis) + 100})

    assert clean_queue(queue, _cleaner(redis))
    assert job.get_status() == JobStatus.STARTED  # not yet: seen ownerless only now
    score = redis.zscore(registry.key, entry)
    assert score is not None and score < redis_time(redis) + LIVE_HORIZON - 60  # not re-scored
    first = float(redis.hget(keyspace.SUSPECTS, entry) or 0)
    redis.hset(keyspace.SUSPECTS, entry, first - PULSE_TTL - 1)  # ... PULSE_TTL s of Redis time

    assert clean_queue(queue, _cleaner(redis))
    assert job.get_status() == JobStatus.QUEUED  # reclaimed and retried
    assert redis.zscore(registry.key, entry) is None
    assert not redis.hexists(keyspace.SUSPECTS, entry)
