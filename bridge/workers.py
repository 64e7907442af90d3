"""The worker execution model: no fork per job on the hot path.

RQ's default Worker forks a work horse per job (about 15-30 jobs/s on 2 cores). The bridge's
jobs are short and I/O-bound, so each worker process runs jobs in-process (SimpleWorker), and
`--concurrency N` runs N such processes under RQ's WorkerPool, which respawns a process that
dies. `--threads T` runs T jobs at once inside each process: the main thread's worker plus
T-1 sibling SimpleWorkers in threads, so a process keeps its CPU busy while its jobs wait on
the remote systems, at one process's memory.

Job time limits stay enforced: the main thread's jobs under SIGALRM, a sibling's by RQ's
TimerDeathPenalty (an exception raised in its thread). A job whose process was killed is
retried by RQ's abandoned-job cleanup, whichever thread ran it: every sibling is a registered
RQ worker with its own started-job entries.
"""

from __future__ import annotations

import threading
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker_pool import WorkerPool

from bridge.config import Config
from bridge.queue import JsonQueue

# RQ cleans up jobs of dead workers (and retries them) in its maintenance task, by default
# every 10 minutes. A worker killed mid-job would delay that ticket's sync that long. The same
# task frees per-ticket concurrency slots that a crash or a Redis restart leaked, so it runs
# in full: cleaning only the started-job registry every 30 s (and the rest every 10 minutes)
# was tried for speed, and the fault run then left a ticket's job waiting behind such a slot.
MAINTENANCE_INTERVAL = 30

# How long an idle sibling thread blocks waiting for a job before it looks for a stop request
# again (RQ's own dequeue timeout is minutes: a signal interrupts the main thread's wait, but
# nothing interrupts a thread's).
IDLE_POLL_SECONDS = 2


class _BridgeDefaults:
    """What every bridge worker changes in RQ's: the maintenance interval (see
    MAINTENANCE_INTERVAL), and the heartbeat's three commands in one round trip."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)

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


class _SiblingWorker(_BridgeDefaults, SimpleWorker):
    """A SimpleWorker in a thread beside its process's main worker, which owns the signals.

    SIGALRM only reaches the main thread, so the time limit is RQ's TimerDeathPenalty; it
    fires at the job's next Python instruction, after a blocking call in C (a socket read)
    returns, which every remote call bounds with its own timeout.
    """

    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args: Any, stop: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stop_event = stop

    def _install_signal_handlers(self) -> None:
        """Python delivers signals to the main thread only; its worker stops this one."""

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> Any:
        """Wait for a job in short slices, looking for a stop request between them: RQ's
        own wait lasts minutes, and nothing interrupts a thread's wait the way a signal
        interrupts the main thread's."""
        if timeout is None or max_idle_time is not None:  # burst mode does not block
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while not self._stop_event.is_set():
            found = super().dequeue_job_and_maintain_ttl(IDLE_POLL_SECONDS, IDLE_POLL_SECONDS)
            if found is not None:
                return found
        raise StopRequested()


class BridgeWorker(_BridgeDefaults, SimpleWorker):
    """A SimpleWorker running `threads` jobs at once: itself in the main thread, the rest in
    sibling threads (`threaded_worker_class`)."""

    threads = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._siblings_stop = threading.Event()
        self._siblings: dict[int, _SiblingWorker] = {}

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # RQ registers the worker (and we start the siblings) before it installs its signal
        # handlers; a SIGTERM in that window would kill the process with the default action and
        # leave its registrations behind. Installed first, it is a warm stop like any other.
        self._install_signal_handlers()
        threads = self._start_siblings(kwargs.get("burst", False), kwargs.get("logging_level"))
        try:
            worked = super().work(*args, **kwargs)
        except BaseException:
            # Cold shutdown (a second signal) or a crash: the siblings are daemon threads and
            # end with the process; their jobs are retried by RQ's abandoned-job cleanup.
            self._stop_siblings()
            raise
        self._stop_siblings()
        for thread in threads:  # warm: let each finish the job it is running
            thread.join()
        return worked

    def request_stop(self, signum: Any, frame: Any) -> None:
        """Warm shutdown: the siblings take no new job either."""
        self._stop_siblings()
        super().request_stop(signum, frame)

    def _stop_siblings(self) -> None:
        self._siblings_stop.set()
        for sibling in list(self._siblings.values()):
            sibling._stop_requested = True

    def _start_siblings(self, burst: bool, logging_level: str | None) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self._run_sibling,
                args=(n, burst, logging_level),
                name=f"rq-sibling-{n}",
                daemon=True,
            )
            for n in range(1, self.threads)
        ]
        for thread in threads:
            thread.start()
        return threads

    def _run_sibling(self, n: int, burst: bool, logging_level: str | None) -> None:
        """Run sibling number `n`, and a new one whenever it quits on its own.

        RQ's work loop quits on an unexpected error (a Redis timeout, say). For the main
        thread that ends the process, and the pool or the container restarts it; a sibling
        thread would just be gone, and the process would work on with one job fewer.
        """
        generation = 1
        while True:
            name = f"{self.name}-t{n}" if generation == 1 else f"{self.name}-t{n}.{generation}"
            sibling = _SiblingWorker(
                self.queues,
                name=name,
                connection=self.connection,
                serializer=self.serializer,
                job_class=self.job_class,
                queue_class=self.queue_class,
                stop=self._siblings_stop,
            )
            self._siblings[n] = sibling
            if self._siblings_stop.is_set():
                return
            sibling.work(burst=burst, logging_level=logging_level)
            if burst or self._siblings_stop.is_set():
                return
            self.log.warning("Worker %s: quit on its own; starting a new one in 1 s", name)
            generation += 1
            self._siblings_stop.wait(1)


class BridgeForkWorker(_BridgeDefaults, Worker):
    """RQ's fork-per-job Worker with the bridge's defaults."""


def threaded_worker_class(threads: int) -> type[BridgeWorker]:
    """BridgeWorker running `threads` jobs at once. RQ's WorkerPool takes a class and forks,
    so the thread count travels as a class attribute."""
    return type("BridgeWorker", (BridgeWorker,), {"threads": threads})


def run_workers(
    config: Config,
    redis: Redis,
    concurrency: int = 1,
    fork: bool = False,
    burst: bool = False,
    logging_level: str = "INFO",
    threads: int = 1,
) -> None:
    """`concurrency` worker processes, each running `threads` jobs at once (not with `fork`)."""
    worker_class: Any = BridgeForkWorker if fork else threaded_worker_class(threads)
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
