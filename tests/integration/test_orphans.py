"""Jobs whose status and place disagree after a write lost half-way (a Redis restart under a
worker), on a real Redis and RQ's own worker code: each is run again, none waits for good."""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Retry
from rq.job import JobStatus
from rq.rate_limit import RateLimit
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.maintenance import PULSE_TTL, clean_queue, pulse
from bridge.queue import JsonQueue
from bridge.workers import BridgeWorker
from tests.integration.worker_jobs import fail_first_run, record_span

QUEUE = "t-orphans"


class _LostPipeline(Pipeline):
    """A transaction Redis never applies: the connection drops as it is sent."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.reset()
        raise RedisConnectionError("Connection closed by server.")


class LosesTransactions(Redis):
    """A connection whose next `lose` transactions are lost, as when Redis restarts."""

    lose = 0

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        if transaction and self.lose > 0:
            self.lose -= 1
            return _LostPipeline(self.connection_pool, self.response_callbacks, True, shard_hint)
        return super().pipeline(transaction, shard_hint)


class LosesFailure(BridgeWorker):
    """Redis restarts while RQ writes the outcome of a failed attempt."""

    def handle_job_failure(self, *args: Any, **kwargs: Any) -> None:
        self.connection.lose = 1  # type: ignore[attr-defined]
        super().handle_job_failure(*args, **kwargs)


class LosesOutcome(BridgeWorker):
    """Redis restarts while RQ writes a finished job's outcome, and again for the failure
    RQ then records instead."""

    def handle_job_success(self, *args: Any, **kwargs: Any) -> None:
        self.connection.lose = 2  # type: ignore[attr-defined]
        super().handle_job_success(*args, **kwargs)


def _worker(cls: type[BridgeWorker], redis_url: str) -> BridgeWorker:
    redis = LosesTransactions.from_url(redis_url)
    return cls([JsonQueue(QUEUE, connection=redis)], connection=redis, serializer=JSONSerializer)


def _cleaner(redis: Redis) -> BridgeWorker:
    return BridgeWorker(
        [JsonQueue(QUEUE, connection=redis)], connection=redis, serializer=JSONSerializer
    )


def _pulse_ttl_passes(redis: Redis) -> None:
    """What PULSE_TTL seconds of Redis time do to the judge's suspicions."""
    for entry, since in redis.hgetall(keyspace.SUSPECTS).items():
        redis.hset(keyspace.SUSPECTS, entry, float(since) - PULSE_TTL - 1)


def test_a_retry_whose_scheduling_was_lost_runs_and_frees_its_tickets_slot(
    redis: Redis, redis_url: str
) -> None:
    queue = JsonQueue(QUEUE, connection=redis)
    slot = RateLimit(key="t-orphans:pair", concurrency=1)
    first = queue.enqueue(fail_first_run, rate_limit=slot, retry=Retry(max=2, interval=60))
    second = queue.enqueue(record_span, 0, rate_limit=slot)
    _worker(LosesFailure, redis_url).work(burst=True)

    # The state RQ leaves: the status written, the place in the schedule lost with the rest.
    assert first.get_status() == JobStatus.SCHEDULED
    assert first.id not in ScheduledJobRegistry(queue=queue)
    started = StartedJobRegistry(QUEUE, connection=redis, serializer=JSONSerializer)
    assert first.id in started
    assert second.get_status() == JobStatus.RATE_LIMITED  # waiting for the slot

    assert clean_queue(queue, _cleaner(redis))
    assert first.id not in ScheduledJobRegistry(queue=queue)  # a write may still be in flight
    _pulse_ttl_passes(redis)
    assert clean_queue(queue, _cleaner(redis))
    assert first.id in ScheduledJobRegistry(queue=queue)  # given its place back, due now
    assert started.get_job_ids() == []

    _cleaner(redis).work(burst=True, with_scheduler=True)
    assert first.get_status() == JobStatus.FINISHED and first.return_value() == 2
    assert second.get_status() == JobStatus.FINISHED  # the ticket's slot was freed


def test_a_finished_job_whose_outcome_was_lost_frees_its_slot_while_its_worker_lives(
    redis: Redis, redis_url: str
) -> None:
    queue = JsonQueue(QUEUE, connection=redis)
    slot = RateLimit(key="t-orphans:pair", concurrency=1)
    first = queue.enqueue(record_span, 0, rate_limit=slot)
    second = queue.enqueue(record_span, 0, rate_limit=slot)
    worker = _worker(LosesOutcome, redis_url)
    worker.work(burst=True)
    pulse(redis, {worker.name: ""})  # the worker lives on, idle (a burst worker has stopped)

    assert first.get_status() == JobStatus.STARTED  # nothing of its ending reached Redis
    assert second.get_status() == JobStatus.RATE_LIMITED
    assert clean_queue(queue, _cleaner(redis))
    assert first.get_status() == JobStatus.STARTED  # its pulse may not have named it yet
    _pulse_ttl_passes(redis)
    assert clean_queue(queue, _cleaner(redis))
    assert first.id in FailedJobRegistry(queue=queue)  # abandoned, with no retry left
    _cleaner(redis).work(burst=True)
    assert second.get_status() == JobStatus.FINISHED


def test_a_job_whose_place_in_the_queue_was_lost_is_found_by_the_sweep(redis: Redis) -> None:
    queue = JsonQueue(QUEUE, connection=redis)
    lost = queue.enqueue(record_span, 0)
    kept = queue.enqueue(record_span, 0)
    redis.lrem(queue.key, 0, lost.id)  # its push was lost, its status written

    assert clean_queue(queue, _cleaner(redis))  # the first sweep only suspects it
    assert lost.id not in ScheduledJobRegistry(queue=queue)
    assert redis.sismember(keyspace.orphan_suspects(QUEUE), lost.id)
    assert clean_queue(queue, _cleaner(redis))  # not due yet: no second sweep
    assert lost.id not in ScheduledJobRegistry(queue=queue)
    redis.delete(keyspace.orphan_sweep(QUEUE))  # SWEEP_EVERY seconds of Redis time later
    assert clean_queue(queue, _cleaner(redis))
    assert lost.id in ScheduledJobRegistry(queue=queue)
    assert kept.id not in ScheduledJobRegistry(queue=queue)  # in its place: left alone
    assert queue.get_job_ids() == [kept.id]

    _cleaner(redis).work(burst=True, with_scheduler=True)
    assert lost.get_status() == JobStatus.FINISHED and kept.get_status() == JobStatus.FINISHED
