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
from a thread every `PULSE_EVERY` seconds while the worker is alive and not hung. A running
job is abandoned exactly when its worker has no pulse. Maintenance runs under a lease of
`LEASE_SECONDS` that its holder releases; a dead holder's lease expires by Redis's clock.
Written by hand because RQ offers no liveness other than its own score-based one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.executions import Execution
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

from bridge import keyspace
from bridge.lease import Lease

log = logging.getLogger("bridge.maintenance")

PULSE_EVERY = 10  # seconds between a worker's pulses
PULSE_TTL = 45  # a worker whose pulse stopped is dead this long after its last one

# Scores for the started registry after judging: far ahead of any clock for a live job, so a
# score-based cleanup (RQ's, by any worker's clock within an hour of the truth) never takes it;
# zero for a dead one, so `cleanup(timestamp=ABANDONED)` takes exactly those.
LIVE_HORIZON = 3600
ABANDONED = 1.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pulse(redis: Redis, names: Iterable[str]) -> None:
    """Mark workers alive for PULSE_TTL seconds of Redis time."""
    with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.set(keyspace.alive(name), "1", ex=PULSE_TTL)
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


def _worker_alive(redis: Redis, name: str, pulsed: set[str]) -> bool:
    if name in pulsed:
        return bool(redis.exists(keyspace.alive(name)))
    # A worker that keeps no pulse (plain `rq worker`): RQ's worker key is its liveness.
    return bool(redis.exists(BaseWorker.redis_worker_namespace_prefix + name))


def judge_started(queue: Queue) -> tuple[int, int]:
    """Re-score the queue's started jobs by their workers' liveness; (alive, abandoned)."""
    redis = queue.connection
    registry = StartedJobRegistry(queue.name, connection=redis, serializer=queue.serializer)
    entries = [
        e.decode() if isinstance(e, bytes) else str(e) for e in redis.zrange(registry.key, 0, -1)
    ]
    if not entries:
        return 0, 0
    pulsed = {_text(n) for n in redis.smembers(keyspace.PULSED)}
    now = redis_time(redis)
    seen = {_text(k): float(v) for k, v in redis.hgetall(keyspace.OWNERLESS).items()}
    scores: dict[str, float] = {}
    alive = dead = 0
    for entry in entries:
        execution = Execution.from_composite_key(entry, redis)
        try:
            execution.refresh()
            owner = execution.worker_name
        except ValueError:  # the execution's record expired: the job still names its worker
            owner = _owner_from_job(queue, execution.job_id)
        if not owner:
            # A worker killed between RQ's dequeue and the job's start leaves an entry that
            # names nobody. It is dead once Redis's clock has seen it ownerless for PULSE_TTL.
            first = seen.setdefault(entry, now)
            if now - first <= PULSE_TTL:
                alive += 1
                continue
            scores[entry] = 0.0
            dead += 1
        elif _worker_alive(redis, owner, pulsed):
            scores[entry] = now + LIVE_HORIZON
            alive += 1
        else:
            scores[entry] = 0.0
            dead += 1
    with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keyspace.OWNERLESS)
        kept = {e: t for e, t in seen.items() if e in entries and e not in scores}
        if kept:
            pipe.hset(keyspace.OWNERLESS, mapping=kept)  # type: ignore[arg-type]
        pipe.execute()
    if scores:
        redis.zadd(registry.key, scores, xx=True)
    return alive, dead


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
        alive, dead = judge_started(queue)
        if dead:
            log.warning(
                "reclaiming %d abandoned job(s) on %s (%d running)", dead, queue.name, alive
            )
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
    finally:
        with contextlib.suppress(RedisError):  # else it expires on its own
            lease.release()
    return True


def _forget_dead_pulses(redis: Redis) -> None:
    """Drop names whose pulse and RQ registration are both gone (nothing can be judged by
    them any more); a name with a live RQ key stays, or its jobs would fall back to RQ's
    slower liveness."""
    names = [_text(n) for n in redis.smembers(keyspace.PULSED)]
    if not names:
        return
    with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(keyspace.alive(name), BaseWorker.redis_worker_namespace_prefix + name)
        present = pipe.execute()
    gone = [name for name, there in zip(names, present, strict=True) if not there]
    if gone:
        redis.srem(keyspace.PULSED, *gone)
