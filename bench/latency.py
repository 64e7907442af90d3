"""End-to-end latency: webhook received -> remote write done, at a steady event rate.

An agent comments on escalated Zendesk tickets through the sandbox's API at a steady rate; the
sandbox fires its signed webhook at the bridge; workers copy each comment to MantisBT. Remote
latency is injected per request. Latency per job = RQ job end (the copy written) minus the time
the webhook was received (job.meta.received_at).

    python -m bench.latency [--rate 50] [--seconds 30] [--latency-ms 50] [--concurrency 8]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bench.common import machine, redis_server, save, table
from bench.sync import run_workers
from bench.world import World, WorldSpec


def pct(values: list[float], p: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * p))], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8, help="worker processes")
    parser.add_argument("--threads", type=int, default=1, help="jobs at once per process")
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        base = Path(tmp)
        with redis_server(base) as url:
            redis = Redis.from_url(url)
            redis.flushdb()
            spec = WorldSpec(base, url, args.pairs, vendor_notes=False, latency_ms=args.latency_ms,
                             gunicorn_web=2)  # fmt: skip
            world = World(spec)
            with world as info:
                proc = run_workers(str(info["config"]), url, args.concurrency, args.threads)
                time.sleep(3)  # workers up
                session = requests.Session()
                session.auth = (f"{info['agent_email']}/token", str(info["agent_token"]))
                pairs = list(info["pairs"])
                sent = 0
                errors = 0
                lock = threading.Lock()

                def comment(n: int) -> None:
                    nonlocal errors
                    tid = pairs[n % len(pairs)][0]
                    body = {"ticket": {"comment": {"body": f"bench event {n}", "public": True}}}
                    try:
                        r = session.put(f"{info['zendesk_url']}/api/v2/tickets/{tid}", json=body,
                                        timeout=10)  # fmt: skip
                        r.raise_for_status()
                    except requests.RequestException:
                        with lock:
                            errors += 1

                total = int(args.rate * args.seconds)
                start = time.monotonic()
                with ThreadPoolExecutor(max_workers=16) as pool:
                    for n in range(total):
                        delay = start + n / args.rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        pool.submit(comment, n)
                        sent += 1
                # drain: wait until every job has ended
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    busy = [k for k in redis.scan_iter("rq:job:tb-*")
                            if redis.hget(k, "status") not in (b"finished", b"failed")]  # fmt: skip
                    if not busy:
                        break
                    time.sleep(0.5)
                proc.terminate()
                proc.wait(timeout=30)
                latencies = []
                failed = 0
                for key in redis.scan_iter("rq:job:tb-*"):
                    job = Job.fetch(key.decode().split(":", 2)[2], connection=redis,
                                    serializer=JSONSerializer)  # fmt: skip
                    if job.get_status() != "finished" or not job.ended_at:
                        failed += 1
                        continue
                    received = datetime.fromisoformat(job.meta["received_at"])
                    ended = job.ended_at.replace(tzinfo=UTC)
                    latencies.append((ended - received).total_seconds() * 1000)
            copied = world.final.get("copied_to_zendesk")
    latencies.sort()
    row = {
        "rate_per_s": args.rate,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "threads": args.threads,
        "events": sent,
        "send_errors": errors,
        "jobs": len(latencies),
        "failed": failed,
        "p50_ms": pct(latencies, 0.50),
        "p90_ms": pct(latencies, 0.90),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": round(latencies[-1], 1) if latencies else None,
    }
    result = {
        "benchmark": "latency",
        "method": (
            "agent comments through the sandbox Zendesk API at a steady rate over N escalated "
            "pairs; the sandbox's signed trigger webhook hits the bridge's endpoint under "
            "gunicorn (2 sync workers, own processes); `bridge worker "
            "--concurrency C --threads T`; per job: RQ ended_at minus meta.received_at "
            "(webhook received); "
            "events for a ticket whose job is still waiting are coalesced into that job"
        ),
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(),
        "rows": [row],
        "unused": copied,
        "targets": {"p50_ms": "< 300", "p99_ms": "< 2000"},
    }
    suffix = f"x{args.threads}" if args.threads > 1 else ""
    path = save(f"latency-c{args.concurrency}{suffix}", result)
    print(table([row], list(row)))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
