"""The worker execution model: no fork per job on the hot path.

RQ's default Worker forks a work horse per job (about 15-30 jobs/s on 2 cores). The bridge's
jobs are short and I/O-bound, so each worker process runs jobs in-process (SimpleWorker), and
`--concurrency N` runs N such processes under RQ's WorkerPool, which respawns a process that
dies. Job time limits stay enforced (SimpleWorker runs jobs in its main thread under SIGALRM),
and a job whose process was killed is retried by RQ's abandoned-job cleanup.
"""

from __future__ import annotations

import time
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import SimpleWorker, Worker
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker_pool import WorkerPool

from bridge.config import Config
from bridge.queue import JsonQueue

# RQ cleans up jobs of dead workers (and retries them) in its maintenance task, by default
# every 10 minutes. A worker killed mid-job would delay that ticket's sync that long.
MAINTENANCE_INTERVAL = 30
# The rest of RQ's cleaning keeps its own default pace: it walks every per-ticket rate-limit
# key (several round trips each), which with thousands of recently synced tickets took a
# worker more than a second; every 30 s that cost the sync benchmark about 5 % of its time.
FULL_CLEAN_INTERVAL = 600


class _QuickMaintenance:
    """Every MAINTENANCE_INTERVAL: only the started-job registry (jobs of dead workers are
    failed or retried, and their rate-limit slots released); RQ's full cleaning every
    FULL_CLEAN_INTERVAL."""

    _last_full_clean: float = float("-inf")

    def clean_registries(self) -> None:
        worker: Any = self
        if time.monotonic() - self._last_full_clean >= FULL_CLEAN_INTERVAL:
            self._last_full_clean = time.monotonic()
            super().clean_registries()  # type: ignore[misc]
            return
        for queue in worker.queues:
            if queue.acquire_maintenance_lock():
                StartedJobRegistry(
                    name=queue.name,
                    connection=queue.connection,
                    job_class=queue.job_class,
                    serializer=queue.serializer,
                ).cleanup(exception_handlers=worker._exc_handlers)
                queue.release_maintenance_lock()
        worker.last_cleaned_at = now()

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


class BridgeWorker(_QuickMaintenance, SimpleWorker):
    """SimpleWorker with a shorter maintenance interval (see MAINTENANCE_INTERVAL)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)


class BridgeForkWorker(_QuickMaintenance, Worker):
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
