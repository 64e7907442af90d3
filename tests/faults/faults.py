"""The faults the fault run injects, and how it watches the bridge recover from them.

Each fault is one method of `Faults`, which the run (tests/faults/harness.py) mixes in. The
faults are the failures measured in the field: a worker killed mid-job, Redis restarted and
Redis hung (SIGSTOP), remotes answering 503, 429 with Retry-After, trickling their answers, or
refusing one pair's comments for good, a worker whose clock is ten minutes behind, and a worker
killed right after it took the maintenance lease, followed by a Redis restart (a lock that
survives in the AOF).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from random import Random
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from bridge import keyspace
from bridge.redis_runtime import EmbeddedRedis
from bridge.sandbox.stack import Stack

# A clock ten minutes behind, for one worker process (Debian's faketime, libfaketime, when
# Python's timed waits work under it; else tests/faults/skewed.py, see there why).
SKEW = "-10m"
SKEW_SECONDS = -600
ROOT = Path(__file__).resolve().parents[2]
INSTALL_FAKETIME = ROOT / ".ci" / "install-faketime"
_PROBE = "import threading, time; threading.Event().wait(0.1); time.sleep(0.1)"
# A reclaim of a dead worker's jobs waits for its pulse to expire (45 s), then for the next
# maintenance round (every 30 s per worker, several workers); after a kill inside maintenance
# also for the lease (60 s). Faults stack in the run (a kill, then Redis hung for 20 s, then
# the lease held by a dead worker for 60 s while the first kill's jobs still wait): 180 s.
RECOVERY_BOUND = 180.0
LEASE_WAIT = 150.0  # seconds to wait for some worker to take the maintenance lease


def find_faketime() -> str | None:
    """The faketime command, installed by the repo's CI script if missing (None if that fails)."""
    found = shutil.which("faketime")
    if found is None and INSTALL_FAKETIME.exists():
        subprocess.run([str(INSTALL_FAKETIME)], check=False, capture_output=True, timeout=300)
        found = shutil.which("faketime")
    return found


def skewed_command() -> tuple[list[str], str]:
    """How to start a Python module ten minutes behind: (argv before the module name, how)."""
    faketime = find_faketime()
    if faketime is not None:
        # Own process group: faketime runs Python as its child, and a stalled probe must go
        # with it (a plain timeout kills faketime only and leaves the Python hanging).
        probe = subprocess.Popen([faketime, "-f", SKEW, sys.executable, "-c", _PROBE],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)  # fmt: skip
        try:
            if probe.wait(timeout=5) == 0:
                return [faketime, "-f", SKEW, sys.executable, "-m"], f"faketime -f {SKEW}"
        except subprocess.TimeoutExpired:
            os.killpg(probe.pid, signal.SIGKILL)
            probe.wait()
        how = "tests/faults/skewed.py: faketime here stalls Python's timed thread waits"
    else:
        how = "tests/faults/skewed.py: faketime missing and could not be installed"
    return [sys.executable, "-m", "tests.faults.skewed", str(SKEW_SECONDS)], how


@dataclass
class Recovery:
    """Jobs of a killed worker process must be handed on: started again by a live worker."""

    label: str
    dead: set[str]  # RQ worker names of the killed process (its main worker and its threads)
    lease_key: str | None  # the lease the killed worker held, which must not stall us
    held: int = 0  # started jobs the dead workers left behind: the most that may be reclaimed
    since: float = field(default_factory=time.monotonic)
    seconds: float | None = None


class Faults:
    """Fault injection for FaultRun (which provides the attributes declared here)."""

    stack: Stack
    redis_server: EmbeddedRedis
    rng: Random
    procs: dict[str, subprocess.Popen[bytes]]
    faults: list[str]
    recoveries: list[Recovery]
    supervise: Callable[[], None]
    _hang_timer: threading.Timer | None = None

    # -- workers killed ------------------------------------------------------------------
    def _names_of(self, victim: str) -> set[str]:
        """The RQ worker names living in process group `victim` (main worker and siblings)."""
        r = self.stack.redis
        group = self.procs[victim].pid
        names = set()
        for key in r.smembers("rq:workers"):  # RQ's registry: the keys of live workers
            pid = r.hget(key, "pid")
            if pid is None:
                continue
            try:
                if os.getpgid(int(pid)) == group:
                    names.add(key.decode().removeprefix("rq:worker:"))
            except ProcessLookupError:
                continue
        return names

    def _kill(self, victim: str, label: str, lease_key: str | None = None) -> None:
        dead = self._names_of(victim)
        os.killpg(self.procs[victim].pid, signal.SIGKILL)
        self.procs[victim].wait()
        held = sum(owner in dead for owner in self._started_owners(unique=False))
        self.recoveries.append(Recovery(label, dead, lease_key, held))

    def kill_busy_worker(self) -> None:
        """SIGKILL a worker process while it runs a job (or any worker after 5 s)."""
        deadline = time.monotonic() + 5
        names = [n for n in self.procs if n.startswith("worker")]
        while time.monotonic() < deadline:
            started = self.stack.redis.zrange("rq:wip:bridge", 0, -1)
            if started:
                break
            time.sleep(0.01)
        victim = self.rng.choice(names)
        self._kill(victim, f"SIGKILL {victim}")
        self.faults.append(f"SIGKILL {victim}")
        self.supervise()

    def kill_lease_holder(self) -> None:
        """SIGKILL the worker process right after one of its workers took the maintenance lease,
        then restart Redis (AOF on: the lease comes back with it, and must still expire)."""
        key = keyspace.maintenance(self.stack.config.queue_name)
        watcher = Redis.from_url(self.redis_server.url)
        watcher.config_set("notify-keyspace-events", "K$")
        pubsub = watcher.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(f"__keyspace@0__:{key}")
        victim = holder = None
        deadline = time.monotonic() + LEASE_WAIT
        try:
            while victim is None and time.monotonic() < deadline:
                message = pubsub.get_message(timeout=0.5)
                if message is None or message["data"] != b"set":
                    continue
                value = watcher.get(key)  # the lease lives milliseconds: it may be gone
                if value is None:
                    continue
                holder = value.decode().rsplit(":", 1)[0]
                victim = self._process_of(watcher, holder)
                if victim is not None:
                    self._kill(victim, f"lease kill {victim}", key)
        finally:
            pubsub.close()
            watcher.close()
        if victim is None:
            self.faults.append("lease kill: no worker took the lease in time (not injected)")
            return
        time.sleep(1.0)
        self.redis_server.restart(pause=0.5)
        self.faults.append(f"SIGKILL {victim} holding the maintenance lease ({holder}), "
                           f"then Redis restart")  # fmt: skip
        self.supervise()

    def _process_of(self, redis: Redis, worker_name: str) -> str | None:
        """Which of our processes runs RQ worker `worker_name` (from RQ's worker registry)."""
        pid = redis.hget(f"rq:worker:{worker_name}", "pid")
        if pid is None:
            return None
        try:
            group = os.getpgid(int(pid))
        except ProcessLookupError:
            return None
        return next((n for n, p in self.procs.items() if p.pid == group), None)

    def end_skew(self) -> None:
        """Stop the skewed worker in order and start it again on a right clock.

        Why it cannot stay skewed to the end: RQ's scheduler (the worker that holds
        `rq:scheduler-lock:<queue>`) releases a scheduled retry when the retry's time has come by
        *its own* clock, and the retry's time was written by the clock of the worker that
        failed the job. A scheduler ten minutes behind holds every retry back ten minutes, and
        a run with it holding the lock cannot settle in time (reported, not hidden: the fault
        line says whether it held the lock). What the skew is here for is the pulse-judged
        reclaim: a skewed worker's running jobs must not be taken from it, checked all along.
        """
        if "worker0" not in self.skewed:
            return
        holder = self.stack.redis.get(f"rq:scheduler-lock:{self.stack.config.queue_name}")
        names = self._names_of("worker0")
        held = holder is not None and holder.decode() in names
        self.skewed.discard("worker0")
        os.killpg(self.procs["worker0"].pid, signal.SIGTERM)  # warm: running jobs finish
        try:
            self.procs["worker0"].wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.procs["worker0"].pid, signal.SIGKILL)
            self.procs["worker0"].wait()
        self.supervise()
        self.faults[0] += f", held RQ's scheduler lock at the end: {'yes' if held else 'no'}"

    # -- Redis -----------------------------------------------------------------------------
    def hang_redis(self, seconds: float) -> None:
        """SIGSTOP the Redis server; it goes on (SIGCONT) `seconds` later while the run does."""
        process = self.redis_server.process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        self._hang_timer = threading.Timer(seconds, self._resume_redis)
        self._hang_timer.daemon = True
        self._hang_timer.start()
        self.faults.append(f"Redis hung (SIGSTOP) {seconds:.0f} s")

    def _resume_redis(self) -> None:
        process = self.redis_server.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)

    def end_hang(self) -> None:
        """Wait for a hung Redis to go on (before anything that needs it answering)."""
        timer, self._hang_timer = self._hang_timer, None
        if timer is not None:
            timer.join()
            self._resume_redis()

    def abort_hang(self) -> None:
        timer, self._hang_timer = self._hang_timer, None
        if timer is not None:
            timer.cancel()
            self._resume_redis()

    # -- remotes ---------------------------------------------------------------------------
    def trickle(self) -> None:
        s = self.stack
        s.mantis.trickle_next(3, every=0.3)
        s.zendesk.trickle_next(2, every=0.3)
        self.faults.append("trickled answers (a byte per 0.3 s): MantisBT x3, Zendesk x2")

    # -- recovery ----------------------------------------------------------------------------
    def check_recoveries(self) -> None:
        """Note when each killed worker's jobs were handed on (and its lease freed)."""
        pending = [rec for rec in self.recoveries if rec.seconds is None]
        if not pending:
            return
        try:
            owners = self._started_owners()
            for rec in pending:
                if rec.lease_key is not None:
                    value = self.stack.redis.get(rec.lease_key)
                    holder = value.decode().rsplit(":", 1)[0] if value else None
                    if holder in rec.dead:
                        continue
                if not owners & rec.dead:
                    rec.seconds = time.monotonic() - rec.since
        except RedisError:
            return  # Redis away (restart, hang): look again next time

    def _started_owners(self, unique: bool = True) -> Any:
        """The workers running the started jobs (a list, one per job, unless `unique`)."""
        r = self.stack.redis
        owners = []
        for entry in r.zrange("rq:wip:bridge", 0, -1):
            job_id = entry.decode().split(":", 1)[0]
            owner: Any = r.hget(f"rq:job:{job_id}", "worker_name")
            if owner:
                owners.append(owner.decode())
        return set(owners) if unique else owners


RECLAIMED = re.compile(r"reclaiming (\d+) abandoned job")
HANDED_ON = re.compile(
    r"Job (\S+): scheduled for retry at|cleanup: (\S+) Moved to FailedJobRegistry, due to Aband"
)
STARTED = re.compile(r"^Worker (\S+): \S+: .* \((\S+)\)$")
FINISHED = re.compile(r"^Worker (\S+): \S+: Job OK \((\S+)\)$")


@dataclass
class Reclaims:
    """What maintenance declared abandoned, read from the workers' logs."""

    total: int = 0  # running jobs declared abandoned ("reclaiming N abandoned job(s)")
    live: list[str] = field(default_factory=list)  # of those, jobs their worker then finished


def read_reclaims(logs: dict[Path, float]) -> Reclaims:
    """Find jobs declared abandoned while their worker was still running them: the worker
    logged the job's start before the reclaim and its "Job OK" after it. `logs`: each log
    with the seconds its clock is behind (the skewed worker's lines are moved back in place)."""
    found = Reclaims()
    runs: dict[str, list[tuple[float, float | None]]] = {}  # job id -> (start, end) times
    handed_on: list[tuple[float, str]] = []
    for path, behind in logs.items():
        open_runs: dict[tuple[str, str], float] = {}
        after_reclaim = False
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            at = datetime.fromisoformat(entry["time"]).timestamp() + behind
            if (m := RECLAIMED.search(message)) is not None:
                found.total += int(m.group(1))
                after_reclaim = True
                continue
            if after_reclaim and (m := HANDED_ON.search(message)) is not None:
                handed_on.append((at, m.group(1) or m.group(2)))
                continue
            after_reclaim = False
            if (m := FINISHED.match(message)) is not None:
                start = open_runs.pop((m.group(1), m.group(2)), None)
                if start is not None:
                    runs.setdefault(m.group(2), []).append((start, at))
            elif (m := STARTED.match(message)) is not None:
                open_runs[(m.group(1), m.group(2))] = at
    for at, job_id in handed_on:
        if any(start < at < end for start, end in runs.get(job_id, []) if end is not None):
            found.live.append(job_id)
    return found
