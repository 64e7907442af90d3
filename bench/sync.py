"""Sync throughput: jobs through real `bridge worker` processes against the sandbox APIs.

Each job syncs one escalated pair that has one new vendor note: it reads both tickets and both
comment lists (in parallel) and copies the note to Zendesk (one write). Jobs are queued first,
then the workers start; throughput = jobs / (last end - first start), from RQ's own job times.

    python -m bench.sync [--pairs 400]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from rq.job import Job
from rq.rate_limit import RateLimit
from rq.serializers import JSONSerializer

from bench.common import machine, redis_server, save, table
from bench.world import World, WorldSpec
from bridge import keyspace
from bridge.config import load_config
from bridge.models import Event, EventKind, SystemRef
from bridge.queue import enqueue_sync, get_queue
from bridge.records import PairKey


def run_workers(
    config: str, url: str, concurrency: int, threads: int = 1
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "worker", "--config", config,
         "--concurrency", str(concurrency), "--threads", str(threads)],
        env={**os.environ, "BRIDGE_CONFIG": config, "BRIDGE_REDIS_URL": url,
             "BRIDGE_LOG_FORMAT": "text"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def tree_pids(pid: int) -> set[int]:
    """A process and its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except OSError:
            continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def _proc(pid: int, name: str) -> str:
    try:
        return (Path("/proc") / str(pid) / name).read_text()
    except OSError:
        return ""


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants."""
    ticks = 0
    for p in tree_pids(pid):
        fields = _proc(p, "stat").rsplit(")", 1)[-1].split()
        ticks += int(fields[11]) + int(fields[12]) if len(fields) > 12 else 0
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (threads share their process's)."""
    kb = 0
    for p in tree_pids(pid):
        for line in _proc(p, "status").splitlines():
            if line.startswith("VmRSS:"):
                kb += int(line.split()[1])
    return kb / 1024


def redis_cpu_seconds(redis: Redis) -> float:
    cpu = redis.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def measure(
    info: dict[str, object],
    url: str,
    concurrency: int,
    jobs: int,
    floor: bool = False,
    world_pid: int | None = None,
    threads: int = 1,
) -> dict[str, object]:
    """With `floor`, the same number of no-op jobs (with the same per-pair rate limits) go
    through the same workers: what RQ itself costs on this machine.

    Besides the workers' CPU, the CPU of the sandboxes' process and of redis-server per job is
    reported: on a 2-core machine they share the cores, so the three together bound what the
    machine can do."""
    config = load_config(str(info["config"]))
    redis = Redis.from_url(url)
    queue = get_queue(redis, config)
    route = config.routes[0]
    pairs = list(info["pairs"])  # type: ignore[call-overload]
    if floor:
        limits = [
            RateLimit(keyspace.pair_slot(PairKey(route.name, str(t))), 1) for t, _ in pairs[:jobs]
        ]
        ids = [queue.enqueue("bench.common.noop", rate_limit=limit).id for limit in limits]
    else:
        ids = [
            enqueue_sync(queue, config, route,
                         Event(SystemRef("helpdesk", str(t)), EventKind.OTHER), first_id=str(t)).id
            for t, _ in pairs[:jobs]
        ]  # fmt: skip
    proc = run_workers(str(info["config"]), url, concurrency, threads)
    deadline = time.monotonic() + 600
    # (jobs ended, worker CPU, sandbox CPU, redis CPU) once work began, and at the end
    first: tuple[int, float, float, float] | None = None

    def sample(ended: int) -> tuple[int, float, float, float]:
        world = tree_cpu_seconds(world_pid) if world_pid else 0.0
        return (ended, tree_cpu_seconds(proc.pid), world, redis_cpu_seconds(redis))

    try:
        # Two counters per poll, not a fetch per job: the poller shares the cores it measures.
        while time.monotonic() < deadline:
            ended = queue.finished_job_registry.count + queue.failed_job_registry.count
            if first is None and ended > 0:
                first = sample(ended)
            if ended >= len(ids):
                break
            time.sleep(0.05 if first is None else 0.5)
        last = sample(ended)
        rss_mb = tree_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # CPU per job after start-up (imports, first cleaning excluded): workers, sandboxes, Redis
    per_job = [0.0, 0.0, 0.0]
    if first:
        per_job = [1000 * (last[i] - first[i]) / max(1, last[0] - first[0]) for i in (1, 2, 3)]
    done = [j for j in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer) if j]
    finished = [j for j in done if j.get_status(refresh=False) == "finished"]
    start = min(j.started_at for j in finished if j.started_at)
    end = max(j.ended_at for j in finished if j.ended_at)
    seconds = (end - start).total_seconds()
    took = sorted((j.ended_at - j.started_at).total_seconds() * 1000 for j in finished
                  if j.ended_at and j.started_at)  # fmt: skip
    return {
        "jobs": len(ids),
        "finished": len(finished),
        "failed": len(done) - len(finished),
        "seconds": round(seconds, 2),
        "syncs_per_s": round(len(finished) / seconds, 1),
        "per_process": round(len(finished) / seconds / concurrency, 1),
        "job_p50_ms": round(took[len(took) // 2], 1),
        "worker_cpu_ms": round(per_job[0], 2),
        "sandbox_cpu_ms": round(per_job[1], 2),
        "redis_cpu_ms": round(per_job[2], 2),
        "worker_rss_mb": round(rss_mb),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--matrix",
                        default="floor:1,0:1,0:1x4,0:2,0:2x4,50:1,50:4,50:8,50:1x8,50:2x8,50:16",
                        help="latency_ms:processes[xthreads],... (floor: no-op jobs)")  # fmt: skip
    args = parser.parse_args()
    rows = []
    for item in args.matrix.split(","):
        first, second = item.split(":")
        floor = first == "floor"
        processes, _, per_process = second.partition("x")
        latency, concurrency, threads = (
            (0 if floor else int(first)),
            int(processes),
            int(per_process or 1),
        )
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            base = Path(tmp)
            with redis_server(base) as url:
                Redis.from_url(url).flushdb()
                spec = WorldSpec(base, url, args.pairs, latency_ms=latency)
                world = World(spec)
                with world as info:
                    row = measure(
                        info, url, concurrency, args.pairs, floor, world.proc.pid, threads
                    )
                row["copied"] = world.final.get("copied_to_zendesk", "?")  # each note arrived?
        rows.append({"latency_ms": "no-op" if floor else latency, "processes": concurrency,
                     "threads": threads, "executions": concurrency * threads,
                     **row})  # fmt: skip
        print(table(rows[-1:], list(rows[-1])), flush=True)
    result = {
        "benchmark": "sync",
        "method": (
            "per run: a fresh embedded Redis and a child process serving sandbox Zendesk and "
            "MantisBT with the given latency per request; N escalated pairs each with one new "
            "vendor note; N sync jobs queued, then "
            "`bridge worker --concurrency P --threads T` started (P processes, T jobs at once "
            "in each); "
            "throughput from RQ's started_at/ended_at of the jobs; worker_cpu_ms = CPU time of "
            "the worker process tree per job, from the first finished job to the last (/proc); "
            "sandbox_cpu_ms and redis_cpu_ms: the same for the sandboxes' process and "
            "redis-server (INFO cpu), which share the machine's cores with the workers; "
            "worker_rss_mb: resident memory of the worker process tree at the end; "
            "the no-op row runs "
            "do-nothing jobs with the same per-pair rate limits through the same workers"
        ),
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(),
        "rows": rows,
        "targets": {
            "0ms": ">= 150 syncs/s per worker process",
            "50ms": ">= 100 syncs/s with 8 concurrent executions",
        },
    }
    path = save("sync", result)
    print()
    print(table(rows, ["latency_ms", "processes", "threads", "executions", "jobs", "finished",
                       "failed", "seconds", "syncs_per_s", "per_process", "job_p50_ms",
                       "worker_cpu_ms", "sandbox_cpu_ms", "redis_cpu_ms", "worker_rss_mb",
                       "copied"]))  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    main()
