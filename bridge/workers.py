"""The worker execution model: no fork per job on the hot path.

RQ's default Worker forks a work horse per job (about 15-30 jobs/s on 2 cores). The bridge's
jobs are short and I/O-bound, so each worker process runs jobs in-process (SimpleWorker), and
`--concurrency N` runs N such processes under RQ's WorkerPool, which respawns a process that
dies. Job time limits stay enforced (SimpleWorker runs jobs in its main thread under SIGALRM),
and a job whose process was killed is retried by RQ's abandoned-job cleanup.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker_pool import WorkerPool

from bridge.config import Config
from bridge.queue import JsonQueue

# RQ cleans up jobs of dead workers (and retries them) in its maintenance task, by default
# every 10 minutes. A worker killed mid-job would delay that ticket's sync that long. The same
# task frees per-ticket concurrency slots that a crash or a Redis restart leaked, so it runs
# in full: cleaning only the started-job registry every 30 s (and the rest every 10 minutes)
# was tried for speed, and the fault run then left a ticket's job waiting behind such a slot.
MAINTENANCE_INTERVAL = 30


class _PipelinedHeartbeat:
    """RQ's heartbeat with its three commands in one round trip."""

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat is three commands; sent alone (several times per job) that is three
        round trips each. Pipelined it is one."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)  # type: ignore[misc]
            return
        worker: Any = self
        with worker.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipeline=pipe)  # type: ignore[misc]
            pipe.execute()


class BridgeWorker(_PipelinedHeartbeat, SimpleWorker):
    """SimpleWorker with a shorter maintenance interval (see MAINTENANCE_INTERVAL)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)


class BridgeForkWorker(_PipelinedHeartbeat, Worker):
    """RQ's fork-per-job Worker with the same maintenance interval."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)


def run_workers(
    config: Config,
    redis: Redis,
    concurrency: int = 1,
    fork: bool = False,
    burst: bool = False,
    logging_level: str = "INFO",
) -> None:
    worker_class: Any = BridgeForkWorker if fork else BridgeWorker
    if concurrency <= 1:
        queue = JsonQueue(config.queue_name, connection=redis)
        worker = worker_class([queue], connection=redis, serializer=JSONSerializer)
        worker.work(with_scheduler=True, burst=burst, logging_level=logging_level)
        return
    pool = WorkerPool(
        [config.queue_name],
        connection=redis,
        num_workers=concurrency,
        worker_class=worker_class,
        serializer=JSONSerializer,
        queue_class=JsonQueue,
    )
    pool.start(burst=burst, logging_level=logging_level)
