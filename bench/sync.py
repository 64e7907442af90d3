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
from bridge.config import load_config
from bridge.models import Event, EventKind, SystemRef
from bridge.queue import enqueue_sync, get_queue, pair_key


def run_workers(config: str, url: str, concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "worker", "--config", config,
         "--concurrency", str(concurrency)],
        env={**os.environ, "BRIDGE_CONFIG": config, "BRIDGE_REDIS_URL": url,
             "BRIDGE_LOG_FORMAT": "text"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants, from /proc (Linux)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, grew = {pid}, True
    while grew:
        more = {p for p, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def measure(
    info: dict[str, object], url: str, concurrency: int, jobs: int, floor: bool = False
) -> dict[str, object]:
    """With `floor`, the same number of no-op jobs (with the same per-pair rate limits) go
    through the same workers: what RQ itself costs on this machine."""
    config = load_config(str(info["config"]))
    redis = Redis.from_url(url)
    queue = get_queue(redis, config)
    route = config.routes[0]
    pairs = list(info["pairs"])  # type: ignore[call-overload]
    if floor:
        limits = [RateLimit(pair_key(route.name, str(t)), 1) for t, _ in pairs[:jobs]]
        ids = [queue.enqueue("bench.common.noop", rate_limit=limit).id for limit in limits]
    else:
        ids = [
            enqueue_sync(queue, config, route,
                         Event(SystemRef("helpdesk", str(t)), EventKind.OTHER), first_id=str(t)).id
            for t, _ in pairs[:jobs]
        ]  # fmt: skip
    proc = run_workers(str(info["config"]), url, concurrency)
    deadline = time.monotonic() + 600
    first: tuple[int, float] | None = None  # (jobs ended, worker CPU seconds) once work began
    try:
        # Two counters per poll, not a fetch per job: the poller shares the cores it measures.
        while time.monotonic() < deadline:
            ended = queue.finished_job_registry.count + queue.failed_job_registry.count
            if first is None and ended > 0:
                first = (ended, tree_cpu_seconds(proc.pid))
            if ended >= len(ids):
                break
            time.sleep(0.05 if first is None else 0.5)
        last = (ended, tree_cpu_seconds(proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # CPU per job of the worker processes after start-up (imports, first cleaning excluded)
    cpu_ms = 1000 * (last[1] - first[1]) / max(1, last[0] - first[0]) if first else 0.0
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
        "worker_cpu_ms": round(cpu_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--matrix", default="floor:1,0:1,0:2,50:1,50:4,50:8,50:16",
                        help="latency_ms:concurrency,... (floor: no-op jobs)")  # fmt: skip
    args = parser.parse_args()
    rows = []
    for item in args.matrix.split(","):
        first, second = item.split(":")
        floor = first == "floor"
        latency, concurrency = (0 if floor else int(first)), int(second)
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            base = Path(tmp)
            with redis_server(base) as url:
                Redis.from_url(url).flushdb()
                spec = WorldSpec(base, url, args.pairs, latency_ms=latency)
                world = World(spec)
                with world as info:
                    row = measure(info, url, concurrency, args.pairs, floor)
                row["copied"] = world.final.get("copied_to_zendesk", "?")  # each note arrived?
        rows.append({"latency_ms": "no-op" if floor else latency, "concurrency": concurrency,
                     **row})  # fmt: skip
        print(table(rows[-1:], list(rows[-1])), flush=True)
    result = {
        "benchmark": "sync",
        "method": (
            "per run: a fresh embedded Redis and a child process serving sandbox Zendesk and "
            "MantisBT with the given latency per request; N escalated pairs each with one new "
            "vendor note; N sync jobs queued, then `bridge worker --concurrency C` started; "
            "throughput from RQ's started_at/ended_at of the jobs; worker_cpu_ms = CPU time of "
            "the worker process tree per job, from the first finished job to the last (/proc); "
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
    print(table(rows, ["latency_ms", "concurrency", "jobs", "finished", "failed", "seconds",
                       "syncs_per_s", "per_process", "job_p50_ms", "worker_cpu_ms",
                       "copied"]))  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    main()
