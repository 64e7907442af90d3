"""The sweep for jobs in no place: its cost per run, against the client-side scan it replaced.

A Redis holding `--jobs` finished job hashes (as a day of RESULT_TTL keeps them) and as many
other keys. Each round times one `bridge.orphans.sweep` (the status filter runs on the server,
per SCAN batch) and one client-side pass that reads `status` and `origin` of every job hash in
pipelined batches (how the sweep first read them), in alternating order; reported are the
medians and their ratio.

    python -m bench.orphan_sweep [--jobs 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from redis import Redis
from rq.job import Job

from bench.common import machine, redis_server, save
from bridge import keyspace, orphans
from bridge.queue import JsonQueue
from bridge.records import PairKey

QUEUE = "bridge"


def fill(redis: Redis, jobs: int) -> None:
    finished = {"status": "finished", "origin": QUEUE, "data": "x" * 400}
    with redis.pipeline(transaction=False) as pipe:
        for n in range(jobs):
            pipe.hset(f"{Job.redis_job_namespace_prefix}tb-acme-{n:08d}", mapping=finished)  # type: ignore[arg-type]
            pipe.hset(keyspace.pair_state(PairKey("acme", str(n))), mapping={"synced": "1"})
            if n % 1000 == 999:
                pipe.execute()
        pipe.execute()


def client_side(redis: Redis) -> int:
    """Every job hash's fields read by the client, 1000 keys a pipeline."""
    found = 0
    batch: list[bytes] = []
    for key in redis.scan_iter(match=f"{Job.redis_job_namespace_prefix}*", count=1000,
                               _type="HASH"):  # fmt: skip
        batch.append(key)
        if len(batch) == 1000:
            found += _pending(redis, batch)
            batch = []
    return found + _pending(redis, batch)


def _pending(redis: Redis, keys: list[bytes]) -> int:
    with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "status", "origin")
        return sum(
            1 for status, _ in pipe.execute() if status and status.decode() in orphans.PENDING_TEXT
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, redis_server(Path(tmp)) as url:
        redis = Redis.from_url(url)
        redis.flushdb()
        fill(redis, args.jobs)
        queue = JsonQueue(QUEUE, connection=redis)
        timings: dict[str, list[float]] = {"sweep": [], "client-side": []}
        for n in range(args.rounds):
            order = ["sweep", "client-side"] if n % 2 == 0 else ["client-side", "sweep"]
            for name in order:
                redis.delete(keyspace.orphan_sweep(QUEUE))
                started = time.perf_counter()
                if name == "sweep":
                    orphans.sweep(queue)
                else:
                    client_side(redis)
                timings[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    result = {
        "machine": machine(),
        "jobs": args.jobs,
        "keys": 2 * args.jobs,
        "rounds": args.rounds,
        "seconds": timings,
        "median_seconds": medians,
        "ratio_sweep_to_client_side": medians["sweep"] / medians["client-side"],
    }
    path = save("orphan-sweep", result)
    for name, value in medians.items():
        print(f"{name:12} median {value * 1000:8.0f} ms over {args.rounds} rounds")
    print(f"ratio sweep / client-side: {result['ratio_sweep_to_client_side']:.2f}  ({path})")


if __name__ == "__main__":
    main()
