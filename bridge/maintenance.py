"""Recovery that no crash can stall: worker pulses, a short maintenance lease, and abandoned-job
reclaim judged by Redis, never by a worker's clock.

RQ's own maintenance has two properties that turned single crashes into long stalls:
- it cleans under a lock that lives 899 s (`SET NX EX 899`); a worker killed while holding it
  (or a Redis restart that replays the lock from its AOF) stops all cleaning for 15 minutes,
  and with it the release of per-ticket concurrency slots held by orphaned jobs;
- it declares a running job abandoned when its started-registry score (the *worker's* clock
  plus the job timeout) is below the *cleaner's* clock: a worker whose clock is minutes behind
  has its live jobs taken away at once.

So every bridge worker keeps a pulse: a key with a Redis-side expiry (`PULSE_TTL`), refreshed
from a thread every `PULSE_EVERY` seconds while the worker is alive and not hung, naming the
job it runs. A running job is abandoned exactly when its worker has no pulse, or its worker's
pulse has named another job (or none) for PULSE_TTL: the transaction that ended the job was
lost, and the entry would hold its ticket's slot for as long as that worker lives. An entry
whose job's status moved on without it (a retry whose scheduling was lost) is torn: its job is
given a place again (bridge.orphans). Maintenance runs under a lease of `LEASE_SECONDS` that
its holder releases; a dead holder's lease expires by Redis's clock. Written by hand because
RQ offers no liveness other than its own score-based one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import InvalidJobOperation
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ReadyJobRegistry,
    StartedJobRegistry,
)
from rq.worker import BaseWorker
from rq.worker_registration import clean_worker_registry

from bridge import keyspace, orphans
from bridge.lease import Lease
from bridge.stores.values import text

log = logging.getLogger("bridge.maintenance")

PULSE_EVERY = 10  # seconds between a worker's pulses
PULSE_TTL = 45  # a worker whose pulse stopped is dead this long after its last one

# Scores for the started registry after judging: far ahead of any clock for a live job, so a
# score-based cleanup (RQ's, by any worker's clock within an hour of the truth) never takes it;
# zero for a dead one, so `cleanup(timestamp=ABANDONED)` takes exactly those.
LIVE_HORIZON = 3600
ABANDONED = 1.0


def pulse(redis: Redis, running: Mapping[str, str]) -> None:
    """Mark workers alive for PULSE_TTL seconds of Redis time, each with the id of the job it
    runs ("" when idle): a started entry its worker no longer runs is not kept alive by it."""
    with redis.pipeline(transaction=False) as pipe:
        for name, job_id in running.items():
            pipe.set(keyspace.alive(name), job_id, ex=PULSE_TTL)
            pipe.sadd(keyspace.PULSED, name)
        pipe.execute()


def forget_pulse(redis: Redis, name: str) -> None:
    """A worker that stops in order: its jobs are finished, nothing to judge."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keyspace.alive(name))
        pipe.srem(keyspace.PULSED, name)
        pipe.execute()


def redis_time(redis: Redis) -> float:
    seconds, micros = redis.time()
    return float(seconds) + float(micros) / 1_000_000


class Verdict(Enum):
    """What a started entry is, judged by its job's status and its worker's pulse."""

    LIVE = "live"  # its worker is alive and runs it
    DEAD = "dead"  # its worker is gone: RQ's cleanup retries (or fails) the job
    SUSPECT = "suspect"  # dead unless it changes within PULSE_TTL (a write may be in flight)
    TORN = "torn"  # its job's status moved on and stayed: the outcome's write got half through
    LEFTOVER = "leftover"  # its job is gone or has its outcome: only the entry is left


# Statuses after which a started entry has nothing left to run.
OUTCOMES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED,
                      JobStatus.CANCELED})  # fmt: skip


@dataclass
class _Judge:
    """One look at a queue's started registry: Redis time, pulses, and earlier suspicions."""

    queue: Queue
    now: float
    pulsed: set[str]
    seen: dict[str, float]

    def verdict(self, entry: str) -> Verdict:
        """Suspicions turn into verdicts once Redis's clock has seen them for PULSE_TTL."""
        first = self.verdict_now(entry)
        if first is not Verdict.SUSPECT and first is not Verdict.TORN:
            return first
        since = self.seen.setdefault(entry, self.now)
        if self.now - since <= PULSE_TTL:
            return Verdict.SUSPECT
        return Verdict.DEAD if first is Verdict.SUSPECT else Verdict.TORN

    def verdict_now(self, entry: str) -> Verdict:
        redis = self.queue.connection
        execution = Execution.from_composite_key(entry, redis)
        try:
            status = Job(execution.job_id, connection=redis).get_status()
        except (InvalidJobOperation, ValueError):  # the job is gone, or its status unreadable
            return Verdict.LEFTOVER
        if status in OUTCOMES:
            return Verdict.LEFTOVER
        if status != JobStatus.STARTED:
            # RQ writes a retry's status before the transaction that schedules it and drops
            # this entry; lost in between, the job is in no place (bridge.orphans).
            return Verdict.TORN
        try:
            execution.refresh()
            owner = execution.worker_name
        except ValueError:  # the execution's record expired: the job still names its worker
            owner = _owner_from_job(self.queue, execution.job_id)
        if not owner:
            # A worker killed between RQ's dequeue and the job's start leaves an entry that
            # names nobody.
            return Verdict.SUSPECT
        running = self._pulse_of(owner)
        if running is None:
            return Verdict.DEAD
        if running in (execution.job_id, ANY_JOB):
            return Verdict.LIVE
        # Its worker runs another job, or none: the transaction that ended this one was lost
        # (a Redis restart), and the entry would keep the ticket's slot while the worker lives.
        return Verdict.SUSPECT

    def _pulse_of(self, name: str) -> str | None:
        """The job a live worker runs ("" none, ANY_JOB: it does not say); None if dead."""
        redis = self.queue.connection
        if name in self.pulsed:
            running = redis.get(keyspace.alive(name))
            return None if running is None else text(running)
        # A worker that keeps no pulse (plain `rq worker`): RQ's worker key is its liveness.
        alive = redis.exists(BaseWorker.redis_worker_namespace_prefix + name)
        return ANY_JOB if alive else None


# What a worker without a job-naming pulse runs, as far as the judge knows: anything. A pulse of
# an older bridge ("1") and a plain RQ worker say no more than that they live.
ANY_JOB = "1"


def judge_started(queue: Queue) -> dict[Verdict, int]:
    """Re-score the queue's started entries by their jobs and their workers' pulses, and
    requeue torn jobs that lost their place; how many entries got each verdict."""
    redis = queue.connection
    registry = StartedJobRegistry(queue.name, connection=redis, serializer=queue.serializer)
    entries = [text(e) for e in redis.zrange(registry.key, 0, -1)]
    counts = dict.fromkeys(Verdict, 0)
    if not entries:
        redis.delete(keyspace.SUSPECTS)
        return counts
    judge = _Judge(
        queue,
        now=redis_time(redis),
        pulsed={text(n) for n in redis.smembers(keyspace.PULSED)},
        seen={text(k): float(v) for k, v in redis.hgetall(keyspace.SUSPECTS).items()},
    )
    scores: dict[str, float] = {}
    suspects: set[str] = set()
    for entry in entries:
        verdict = judge.verdict(entry)
        counts[verdict] += 1
        if verdict is Verdict.SUSPECT:
            suspects.add(entry)
        elif verdict is Verdict.LIVE:
            scores[entry] = judge.now + LIVE_HORIZON
        elif verdict is Verdict.DEAD:
            scores[entry] = 0.0  # RQ's cleanup retries (or fails) the job, frees its slot
        elif not _end_execution(queue, entry):  # torn, or a leftover
            scores[entry] = 0.0  # no job left: RQ's cleanup drops the entry
        if verdict is Verdict.TORN:
            orphans.requeue_if_lost(queue, Execution.from_composite_key(entry, redis).job_id)
    with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keyspace.SUSPECTS)
        kept = {e: t for e, t in judge.seen.items() if e in suspects}
        if kept:
            pipe.hset(keyspace.SUSPECTS, mapping=kept)  # type: ignore[arg-type]
        pipe.execute()
    if scores:
        redis.zadd(registry.key, scores, xx=True)
    return counts


def _end_execution(queue: Queue, entry: str) -> bool:
    """Finish the clean-up of an execution whose job moved on (what the lost transaction would
    have done): else its record keeps the job's ticket slot held until it expires."""
    execution = Execution.from_composite_key(entry, queue.connection)
    job = queue.fetch_job(execution.job_id)
    if job is None:
        return False
    with queue.connection.pipeline() as pipe:
        execution.delete(job, pipe)
        pipe.execute()
    return True


def _owner_from_job(queue: Queue, job_id: str) -> str:
    job = queue.fetch_job(job_id)
    return (job.worker_name or "") if job is not None else ""


def clean_queue(queue: Queue, worker: Any, exception_handlers: list[Any] | None = None) -> bool:
    """One maintenance round for a queue, if no other worker holds the lease; True if it ran.

    Abandoned jobs are retried (or failed) by RQ's own `cleanup`, which also frees their
    concurrency slots; the other registries are cleaned as RQ's maintenance does.
    """
    lease = Lease(queue.connection, keyspace.maintenance(queue.name), holder=str(worker.name))
    if not lease.acquire():
        return False
    try:
        verdicts = judge_started(queue)
        if verdicts[Verdict.DEAD]:
            log.warning("reclaiming %d abandoned job(s) on %s (%d running)",
                        verdicts[Verdict.DEAD], queue.name, verdicts[Verdict.LIVE])  # fmt: skip
        # The worker's own death penalty for the abandoned jobs' failure callbacks (the
        # failure inbox's): RQ's default is SIGALRM, which a sibling thread cannot use.
        started = StartedJobRegistry(queue.name, connection=queue.connection,
                                     serializer=queue.serializer,
                                     death_penalty_class=worker.death_penalty_class)  # fmt: skip
        started.cleanup(timestamp=ABANDONED, exception_handlers=exception_handlers)
        for registry_class in (
            FinishedJobRegistry,
            FailedJobRegistry,
            DeferredJobRegistry,
            ReadyJobRegistry,
        ):
            registry_class(queue.name, connection=queue.connection,
                           serializer=queue.serializer).cleanup()  # fmt: skip
        for limits in RateLimitRegistry.all(queue.connection):
            limits.cleanup()  # frees slots whose job is neither queued nor running
        clean_worker_registry(queue)
        queue.intermediate_queue.cleanup(worker, queue)
        _forget_dead_pulses(queue.connection)
        orphans.sweep(queue)
    finally:
        with contextlib.suppress(RedisError):  # else it expires on its own
            lease.release()
    return True


def _forget_dead_pulses(redis: Redis) -> None:
    """Drop names whose pulse and RQ registration are both gone (nothing can be judged by
    them any more); a name with a live RQ key stays, or its jobs would fall back to RQ's
    slower liveness."""
    names = [text(n) for n in redis.smembers(keyspace.PULSED)]
    if not names:
        return
    with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(keyspace.alive(name), BaseWorker.redis_worker_namespace_prefix + name)
        present = pipe.execute()
    gone = [name for name, there in zip(names, present, strict=True) if not there]
    if gone:
        redis.srem(keyspace.PULSED, *gone)
