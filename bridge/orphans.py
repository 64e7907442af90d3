"""Jobs that wait for nothing: their status says queued or scheduled, yet no queue or registry
holds them, so no worker will ever run them.

RQ writes a job's next state in more than one step. A failed attempt with retries left, for
one, gets `status: scheduled` written at once, and its place in the scheduled registry (with
the removal from the started registry) in a transaction after that; a Redis restart between
the two leaves the status and loses the place. RQ logs "failed to persist failure of job" and
moves on, and its abandoned-job cleanup skips a job whose status is not `started`. The
ticket's change would never be applied, and a later event for the pair would be coalesced
onto a job that never runs.

So maintenance finds such jobs in two ways: a started-registry entry whose job's status has
moved on (bridge.maintenance, within PULSE_TTL), and a periodic sweep over all jobs of the
queue (this module), for any other write lost half-way. A job is requeued only once two looks
at least SWEEP_EVERY seconds of Redis time apart found it in no place: a write in flight
between its two steps is not taken for a lost one. Requeuing schedules it to run now, as RQ's
own retry does; its ticket's slot, if it still holds one, is freed by RQ's rate-limit cleanup
(a scheduled job holds none).

Written by hand because RQ has no check of its own that a job's status and its place agree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from rq import Queue
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.utils import now as rq_now

from bridge import keyspace
from bridge.stores.values import text

log = logging.getLogger("bridge.maintenance")

SWEEP_EVERY = 120  # seconds of Redis time between two sweeps of a queue
SCAN_BATCH = 1000

# The statuses that promise a run later: a job in one of them needs a place RQ runs it from.
PENDING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED,
                     JobStatus.DEFERRED, JobStatus.RATE_LIMITED})  # fmt: skip
PENDING_TEXT = frozenset(status.value for status in PENDING)


def is_placed(queue: Queue, job: Job) -> bool:
    """Whether RQ holds the job where its status says (a job with an outcome needs no place)."""
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        return (
            queue.get_job_position(job) is not None
            or job.id in queue.intermediate_queue.get_job_ids()
        )
    if status == JobStatus.SCHEDULED:
        return job.id in ScheduledJobRegistry(queue=queue)
    if status == JobStatus.DEFERRED:
        return job.id in DeferredJobRegistry(queue=queue)
    if status == JobStatus.RATE_LIMITED:
        if not job.has_rate_limit:
            return False
        limits = RateLimitRegistry.from_job(job)
        return job.id in limits.get_rate_limited_job_ids() + limits.get_allowed_job_ids()
    if status == JobStatus.STARTED:
        return _in_started(queue, job)
    return True


def _in_started(queue: Queue, job: Job) -> bool:
    """Whether any execution of the job is in the started registry (entries are
    `<job id>:<execution id>`; the registry holds only running jobs, so reading it is cheap)."""
    started = StartedJobRegistry(queue.name, connection=queue.connection,
                                 serializer=queue.serializer)  # fmt: skip
    return job.id in started


def lost(queue: Queue, job: Job) -> bool:
    """Whether the job's status promises a run that no place of RQ's will give it."""
    return job.get_status(refresh=False) in PENDING and not is_placed(queue, job)


def requeue_if_lost(queue: Queue, job_id: str) -> bool:
    """Requeue the job if it lost its place; whether it had."""
    job = queue.fetch_job(job_id)
    if job is None or not lost(queue, job):
        return False
    requeue(queue, job)
    return True


def requeue(queue: Queue, job: Job) -> None:
    """Give a job that lost its place one: scheduled to run now, as a retry is."""
    log.warning("job %s was %s in no queue or registry; scheduled to run again", job.id,
                job.get_status(refresh=False))  # fmt: skip
    queue.schedule_job(job, rq_now())


def sweep(queue: Queue) -> int:
    """Requeue the queue's jobs found in no place by this sweep and the last; how many.

    Does nothing until SWEEP_EVERY seconds (Redis time) after the last sweep. The cost is one
    SCAN of the keyspace with each job's status read on the server (about 0.25 s at 100,000
    jobs: bench/orphan_sweep.py), every SWEEP_EVERY, in the worker holding the lease.
    """
    redis = queue.connection
    if not redis.set(keyspace.orphan_sweep(queue.name), "1", nx=True, ex=SWEEP_EVERY):
        return 0
    suspects_key = keyspace.orphan_suspects(queue.name)
    before = {text(job_id) for job_id in redis.smembers(suspects_key)}
    found: dict[str, Job] = {}
    for job_id in _pending_ids(queue):
        job = queue.fetch_job(job_id)
        if job is not None and lost(queue, job):
            found[job_id] = job
    again = found.keys() & before
    for job_id in sorted(again):
        requeue(queue, found[job_id])
    with redis.pipeline() as pipe:
        pipe.delete(suspects_key)
        if found.keys() - again:
            pipe.sadd(suspects_key, *sorted(found.keys() - again))
            pipe.expire(suspects_key, 3 * SWEEP_EVERY)
        pipe.execute()
    return len(again)


# One batch of the keyspace, filtered on the server: the job hashes of a queue whose status
# promises a run. In Python, reading each key's fields cost about 50 us a key (5 s for 100,000
# jobs, every sweep, in the worker that holds the lease); here the server does it per batch.
# Reads RQ's job hash fields `status` and `origin`, as RQ's own slot clean-up does
# (`RateLimitRegistry._release_stale_allowed_jobs`): RQ has no public list of a queue's jobs.
_PENDING_IN_BATCH = """
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3], 'TYPE', 'hash')
local pending = {}
for i = 5, #ARGV do pending[ARGV[i]] = true end
local found = {}
for _, key in ipairs(page[2]) do
  local fields = redis.call('HMGET', key, 'status', 'origin')
  if fields[1] and pending[fields[1]] and fields[2] == ARGV[4] then
    table.insert(found, key)
  end
end
return {page[1], found}
"""


def _pending_ids(queue: Queue) -> Iterator[str]:
    """Ids of the queue's jobs whose status promises a run, one SCAN batch at a time."""
    redis = queue.connection
    prefix = Job.redis_job_namespace_prefix
    script = redis.register_script(_PENDING_IN_BATCH)
    cursor = "0"
    while True:
        cursor_raw, keys = script(args=[cursor, f"{prefix}*", SCAN_BATCH, queue.name,
                                        *sorted(PENDING_TEXT)])  # fmt: skip
        for key in keys:
            yield text(key)[len(prefix) :]
        cursor = text(cursor_raw)
        if cursor == "0":
            return
