"""The intake's two uses of RQ, checked against the installed RQ (written against 3.0.0).

The webhook path queues rate-limited jobs inside its own transaction from RQ's public parts
(bridge.queue._enqueue_limited_on), and asks RQ's Job API whether a pair's newest job still
waits (bridge.queue.still_waiting). If an RQ upgrade changes how it stores or promotes a
rate-limited job, these fail here rather than leaving jobs that never run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.serializers import JSONSerializer

from bridge.queue import ON_FAILURE, ON_SUCCESS, JsonQueue, _enqueue_limited_on, still_waiting

FUNC = "bridge.jobs.sync_first_level"
# Differ between any two jobs by nature: when, and which key.
VARYING = {"created_at", "enqueued_at", "rate_limit_key"}


def _options(n: int) -> dict[str, Any]:
    return {
        "args": ("acme", str(n), None),
        "retry": Retry(max=3, interval=[10, 60, 300]),
        "result_ttl": 3600,
        "failure_ttl": 7200,
        "meta": {"route": "acme", "ticket": str(n)},
        "description": f"sync {n}",
        "on_failure": ON_FAILURE,
        "on_success": ON_SUCCESS,
    }


def _ours(queue: Queue, job_id: str, key: str) -> Job:
    with queue.connection.pipeline() as pipe:
        job = _enqueue_limited_on(queue, pipe, FUNC, RateLimit(key, 1), job_id=job_id,
                                  timeout=120, **_options(1))  # fmt: skip
        pipe.execute()
    return job


def _rqs(queue: Queue, job_id: str, key: str) -> Job:
    return queue.enqueue(FUNC, job_id=job_id, rate_limit=RateLimit(key, 1), job_timeout=120,
                         **_options(1))  # fmt: skip


def _status(redis: Redis, job_id: str) -> JobStatus:
    return Job.fetch(job_id, redis, serializer=JSONSerializer).get_status()


def _stored(redis: Redis, job_id: str) -> dict[str, bytes]:
    raw = redis.hgetall(Job.key_for(job_id))
    return {k.decode(): v for k, v in raw.items() if k.decode() not in VARYING}


def _slots(redis: Redis, key: str) -> tuple[list[str], list[str], int]:
    registry = RateLimitRegistry(key, redis)
    return registry.get_allowed_job_ids(), registry.get_rate_limited_job_ids(), registry.concurrency


def test_a_job_queued_in_the_transaction_is_stored_as_rqs_own_enqueue_stores_it(
    redis: Redis,
) -> None:
    queue = JsonQueue("t-intake", connection=redis)
    _ours(queue, "ours-1", "tb:pair:t:ours")
    _rqs(queue, "rq-1", "tb:pair:t:rq")
    # The slot is free: both are promoted to the queue at once.
    assert _stored(redis, "ours-1") == _stored(redis, "rq-1")
    assert _status(redis, "ours-1") == JobStatus.QUEUED
    assert queue.job_ids == ["ours-1", "rq-1"]
    assert _slots(redis, "tb:pair:t:ours") == (["ours-1"], [], 1)
    assert _slots(redis, "tb:pair:t:rq") == (["rq-1"], [], 1)
    assert redis.ttl(Job.key_for("ours-1")) == redis.ttl(Job.key_for("rq-1")) == -1
    assert {r.key for r in RateLimitRegistry.all(redis)} == {"tb:pair:t:ours", "tb:pair:t:rq"}
    assert queue.name in {q.name for q in Queue.all(connection=redis)}

    # The slot is taken: the next job of each key waits for it, and is promoted when it frees.
    _ours(queue, "ours-2", "tb:pair:t:ours")
    _rqs(queue, "rq-2", "tb:pair:t:rq")
    assert _stored(redis, "ours-2") == _stored(redis, "rq-2")
    assert _status(redis, "ours-2") == JobStatus.RATE_LIMITED
    assert _slots(redis, "tb:pair:t:ours") == (["ours-1"], ["ours-2"], 1)
    assert queue.job_ids == ["ours-1", "rq-1"]
    assert RateLimitRegistry("tb:pair:t:ours", redis).release_and_enqueue("ours-1") == ["ours-2"]
    assert RateLimitRegistry("tb:pair:t:rq", redis).release_and_enqueue("rq-1") == ["rq-2"]
    assert _stored(redis, "ours-2") == _stored(redis, "rq-2")
    assert queue.job_ids == ["ours-1", "rq-1", "ours-2", "rq-2"]


def test_still_waiting_is_what_rq_says_has_not_started(redis: Redis) -> None:
    queue = JsonQueue("t-intake", connection=redis)
    _ours(queue, "queued", "tb:pair:t:1")
    _ours(queue, "held", "tb:pair:t:1")  # behind "queued" for the slot
    queue.enqueue_in(timedelta(minutes=5), FUNC, job_id="scheduled", **_options(2))
    queue.enqueue(FUNC, job_id="deferred", depends_on="scheduled", **_options(3))
    for status in (JobStatus.STARTED, JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED):
        queue.enqueue(FUNC, job_id=status.value, **_options(4)).set_status(status)
    ids = ["queued", "held", "scheduled", "deferred", "started", "finished", "failed",
           "canceled", "never-existed", ""]  # fmt: skip
    assert still_waiting(redis, ids) == {"queued", "held", "scheduled", "deferred"}
    assert still_waiting(redis, []) == set()


def test_a_status_this_rq_does_not_know_is_not_waiting(redis: Redis) -> None:
    queue = JsonQueue("t-intake", connection=redis)
    _ours(queue, "fine", "tb:pair:t:1")
    _ours(queue, "odd", "tb:pair:t:2")
    redis.hset(Job.key_for("odd"), "status", "paused-by-rq-4")
    assert still_waiting(redis, ["fine", "odd"]) == {"fine"}
