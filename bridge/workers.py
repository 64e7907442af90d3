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

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import AbandonedJobError, StopRequested
from rq.job import Job
from rq.job_lifecycle import call_exception_handlers
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.utils import now as rq_now
from rq.worker_pool import WorkerPool

from bridge.config import Config
from bridge.maintenance import PULSE_EVERY, clean_queue, forget_pulse, pulse
from bridge.queue import JsonQueue
from bridge.reconnect import wait_for_redis
from bridge.telemetry import hooks as telemetry
from bridge.telemetry.logs import clear_context

# How often a worker runs maintenance (bridge.maintenance: reclaim jobs of dead workers, free
# the concurrency slots they held, clean RQ's registries). One worker at a time does it, under
# a short lease. RQ's default is every 10 minutes; a worker killed mid-job would delay that
# ticket's sync that long.
MAINTENANCE_INTERVAL = 30

# How long an idle worker blocks waiting for a job before it looks for a stop request again
# (RQ's own dequeue timeout is minutes; see _BridgeDefaults.dequeue_job_and_maintain_ttl).
IDLE_POLL_SECONDS = 2

# A job still running this long past its own time limit is hung (stuck in a call that no
# death penalty can interrupt): its worker stops pulsing, so maintenance hands the job to
# another worker, and a hung sibling thread is replaced.
HUNG_GRACE = 30


class _BridgeDefaults:
    """What every bridge worker changes in RQ's: maintenance under the bridge's short lease,
    judged by pulses (bridge.maintenance), the pulse itself, the heartbeat's three commands
    in one round trip, and failures counted and logged by the bridge (telemetry.job_failed)."""

    # Set by RQ's worker, which this class is mixed into.
    name: str
    log: logging.Logger
    connection: Redis

    def __init__(
        self, *args: Any, clock: Callable[[], float] = time.monotonic, **kwargs: Any
    ) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        super().__init__(*args, **kwargs)
        # Also called by the maintenance for jobs whose worker died (clean_queue).
        self.push_exc_handler(telemetry.job_failed)  # type: ignore[attr-defined]
        self.clock = clock
        self.stop_asked = False
        self.interrupt_on_stop = False  # see request_stop
        self.hung = False
        self._job_deadline: float | None = None
        self._running = ""  # the id of the job this worker runs, named by its pulse
        self._pulse_stop = threading.Event()

    # -- liveness ---------------------------------------------------------------------------
    def register_birth(self) -> None:
        super().register_birth()  # type: ignore[misc]
        self.beat()
        threading.Thread(target=self._pulse_loop, name=f"pulse-{self.name}", daemon=True).start()

    def register_death(self) -> None:
        self._pulse_stop.set()
        with contextlib.suppress(RedisError):
            forget_pulse(self.connection, self.name)
        super().register_death()  # type: ignore[misc]

    def beat(self) -> bool:
        """One pulse, unless the running job is hung; False once it is."""
        deadline = self._job_deadline
        if deadline is not None and self.clock() > deadline:
            if not self.hung:
                self.hung = True
                self.log.error(
                    "Worker %s: job still running %d s past its time limit; stopping the pulse "
                    "so it is handed to another worker", self.name, HUNG_GRACE,
                )  # fmt: skip
                self.on_hung()
            return False
        pulse(self.connection, {self.name: self._running})
        return True

    def on_hung(self) -> None:
        """Called once when this worker's job is hung (a sibling is replaced by its parent)."""

    def _pulse_loop(self) -> None:
        while not self._pulse_stop.wait(PULSE_EVERY):
            try:
                if not self.beat():
                    return
            except RedisError as exc:  # Redis away: the pulse resumes when it is back
                self.log.debug("Worker %s: pulse failed: %s", self.name, exc)

    def execute_job(self, job: Job, queue: Queue) -> None:
        limit = job.timeout if job.timeout and job.timeout > 0 else None
        self._job_deadline = None if limit is None else self.clock() + limit + HUNG_GRACE
        self._running = job.id
        with contextlib.suppress(RedisError):  # the next beat says it, PULSE_EVERY later
            pulse(self.connection, {self.name: job.id})  # before maintenance suspects the job
        telemetry.job_started(job)  # RQ's own lines about this job carry its ticket too
        try:
            super().execute_job(job, queue)  # type: ignore[misc]
        finally:
            self._job_deadline = None
            self._running = ""
            clear_context()  # the next job's first lines must not carry this one's ticket

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """RQ logs every failed job at error with its whole traceback, a planned retry too;
        the bridge's handler (pushed in __init__) decides what is worth a traceback."""
        call_exception_handlers(self._exc_handlers, job, *exc_info)  # type: ignore[attr-defined]

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        """A fork worker's work horse died mid-job (killed, out of memory): failed."""
        cause = AbandonedJobError(f"work horse terminated, waitpid returned {ret_val}")
        telemetry.job_failed(job, AbandonedJobError, cause, None)

    # -- maintenance and stopping -------------------------------------------------------------
    def clean_registries(self) -> None:
        """RQ's registry cleaning, by pulses and under the bridge's short lease."""
        worker: Any = self
        for queue in worker.queues:
            clean_queue(queue, worker, worker._exc_handlers)
        worker.last_cleaned_at = rq_now()

    def stopping(self) -> bool:
        worker: Any = self
        return bool(worker._stop_requested)

    def request_stop(self, signum: Any, frame: Any) -> None:
        """A warm stop by flag: seen at the work loop's top and by the sliced wait below.

        RQ stops an idle worker by raising StopRequested from its signal handler, wherever the
        main thread is. Landing in a finalizer (urllib3 closing a pool) the exception was
        swallowed ("Exception ignored in: <finalize object>") and the worker waited on until
        killed, its scheduler process orphaned; landing in RQ's start-up (before its loop) it
        ended the process with a traceback. Only a wait that checks nothing else is still
        interrupted that way (`interrupt_on_stop`: waiting for Redis).
        """
        self.stop_asked = True
        worker: Any = self
        worker._stop_requested = True
        try:
            super().request_stop(signum, frame)  # type: ignore[misc]
        except StopRequested:
            if self.interrupt_on_stop:
                raise

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> Any:
        """Wait for a job in short slices, looking for a stop request between them: RQ's
        own wait lasts minutes, nothing interrupts a sibling thread's wait the way a signal
        interrupts the main thread's, and the main thread's interruption can be lost
        (request_stop)."""
        if timeout is None or max_idle_time is not None:  # burst mode does not block
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)  # type: ignore[misc]
        while not self.stopping():
            found = super().dequeue_job_and_maintain_ttl(  # type: ignore[misc]
                IDLE_POLL_SECONDS, IDLE_POLL_SECONDS
            )
            if found is not None:
                return found
        raise StopRequested()

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

    def __init__(
        self, *args: Any, stop: threading.Event, replace: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._stop_event = stop
        self._replace = replace

    def on_hung(self) -> None:
        """A thread cannot be killed: this one takes no job after the hung one, and a new
        sibling takes its place, so the process keeps its capacity."""
        self._stop_requested = True
        self._replace()

    def _install_signal_handlers(self) -> None:
        """Python delivers signals to the main thread only; its worker stops this one."""

    def stopping(self) -> bool:
        return self._stop_event.is_set() or super().stopping()


class BridgeWorker(_BridgeDefaults, SimpleWorker):
    """A SimpleWorker running `threads` jobs at once: itself in the main thread, the rest in
    sibling threads (`threaded_worker_class`)."""

    threads = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._siblings_stop = threading.Event()
        self._siblings: dict[int, _SiblingWorker] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._generations: dict[int, int] = {}

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # RQ registers the worker (and we start the siblings) before it installs its signal
        # handlers; a SIGTERM in that window would kill the process with the default action and
        # leave its registrations behind. Installed first, it is a warm stop like any other.
        self._install_signal_handlers()
        self.interrupt_on_stop = True
        try:
            if not wait_for_redis(self.connection, lambda: self.stop_asked, f"worker {self.name}"):
                return False
        except StopRequested:  # a signal while waiting for Redis
            return False
        finally:
            self.interrupt_on_stop = False
        for n in range(1, self.threads):
            self._start_sibling(n, kwargs.get("burst", False), kwargs.get("logging_level"))
        try:
            worked = super().work(*args, **kwargs)
        except BaseException:
            # Cold shutdown (a second signal) or a crash: the siblings are daemon threads and
            # end with the process; their jobs are retried by RQ's abandoned-job cleanup.
            self._stop_siblings()
            raise
        self._stop_siblings()
        for n, thread in list(self._threads.items()):  # warm: each finishes its running job
            if not self._siblings[n].hung:  # a hung one was replaced; it ends with the process
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

    def _start_sibling(self, n: int, burst: bool, logging_level: str | None) -> None:
        """Start sibling number `n` in a thread (again: a new generation replaces a hung one)."""
        generation = self._generations.get(n, 0) + 1
        self._generations[n] = generation
        thread = threading.Thread(
            target=self._run_sibling,
            args=(n, generation, burst, logging_level),
            name=f"rq-sibling-{n}" if generation == 1 else f"rq-sibling-{n}.{generation}",
            daemon=True,
        )
        self._threads[n] = thread
        thread.start()

    def _run_sibling(self, n: int, generation: int, burst: bool, logging_level: str | None) -> None:
        """Run sibling number `n`, and a new one whenever it quits on its own.

        RQ's work loop quits on an unexpected error (a Redis timeout, say). For the main
        thread that ends the process, and the pool or the container restarts it; a sibling
        thread would just be gone, and the process would work on with one job fewer.
        """
        while True:
            name = f"{self.name}-t{n}" if generation == 1 else f"{self.name}-t{n}.{generation}"

            def replace() -> None:
                self._start_sibling(n, burst, logging_level)

            sibling = _SiblingWorker(
                self.queues,
                name=name,
                connection=self.connection,
                serializer=self.serializer,
                job_class=self.job_class,
                queue_class=self.queue_class,
                stop=self._siblings_stop,
                replace=replace,
                clock=self.clock,
            )
            self._siblings[n] = sibling
            if self._siblings_stop.is_set():
                return
            sibling.work(burst=burst, logging_level=logging_level)
            if burst or self._siblings_stop.is_set() or sibling.hung:
                return
            self.log.warning("Worker %s: quit on its own; starting a new one in 1 s", name)
            generation = self._generations[n] = self._generations.get(n, generation) + 1
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
        _work_until_stopped(worker_class, config, redis, burst, logging_level)
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


def _work_until_stopped(
    worker_class: Any, config: Config, redis: Redis, burst: bool, logging_level: str
) -> None:
    """One worker after another until a stop is asked for: RQ's loop quits when Redis goes
    away (a timeout or a refused connection), and a process that then exits stays down
    unless something restarts it. A new worker waits for Redis first (BridgeWorker.work)."""
    queue = JsonQueue(config.queue_name, connection=redis)
    while True:
        worker = worker_class([queue], connection=redis, serializer=JSONSerializer)
        try:
            worker.work(with_scheduler=True, burst=burst, logging_level=logging_level)
        except RedisError as exc:  # raised by RQ's own clean-up once Redis is gone
            worker.log.warning("Worker %s: lost Redis: %s", worker.name, exc)
        if burst or worker.stop_asked:
            return
        worker.log.warning("Worker %s: stopped on its own; starting a new one in 1 s", worker.name)
        try:
            time.sleep(1)  # never a tight loop, whatever made it stop
        except StopRequested:  # the old worker's signal handler: a stop while pausing
            return
        if worker.stop_asked:  # ... which asks by flag (request_stop)
            return
