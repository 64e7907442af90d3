"""Rate budget: a backlog worked off under a shared Zendesk budget, with no 429 answers.

The sandbox Zendesk enforces 700 requests per sliding minute (answering 429 above it, like the
real API); the bridge is configured with `requests_per_minute: 700` for that system and four
worker processes share the budget through Redis. Reported: Zendesk requests per minute over a
steady window, as a share of the budget, and how many 429s the sandbox sent.

    python -m bench.budget [--pairs 600] [--window 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from bench.common import machine, redis_server, save, table
from bench.sync import run_workers
from bench.world import World, WorldSpec
from bridge.config import load_config
from bridge.models import Event, EventKind, SystemRef
from bridge.queue import enqueue_sync, get_queue

BUDGET = 700


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=600)
    parser.add_argument("--window", type=int, default=60, help="seconds measured")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        base = Path(tmp)
        with redis_server(base) as url:
            Redis.from_url(url).flushdb()
            spec = WorldSpec(
                base, url, args.pairs, zendesk_per_minute=BUDGET,
                options={"helpdesk": {"requests_per_minute": BUDGET}},
            )  # fmt: skip
            world = World(spec)
            with world as info:
                config = load_config(str(info["config"]))
                redis = Redis.from_url(url)
                queue = get_queue(redis, config)
                route = config.routes[0]
                for tid, _ in info["pairs"]:
                    enqueue_sync(queue, config, route,
                                 Event(SystemRef("helpdesk", str(tid)), EventKind.OTHER),
                                 first_id=str(tid))  # fmt: skip
                proc = run_workers(str(info["config"]), url, args.workers)
                start = time.time()
                time.sleep(args.window + 5)
                proc.terminate()
                proc.wait(timeout=30)
            log = world.final["zendesk_log"]
    # Steady window: from 5 s after the workers started, `window` seconds long.
    t0 = start + 5
    inside = [(t, code) for t, code in log if t0 <= t < t0 + args.window]
    sent = sum(1 for _, code in inside if code == 200)
    refused = sum(1 for t, code in log if code == 429 and t >= start)
    per_minute = sent * 60 / args.window
    row = {
        "budget_per_min": BUDGET,
        "workers": args.workers,
        "window_s": args.window,
        "requests_in_window": sent,
        "per_minute": round(per_minute, 1),
        "utilisation_pct": round(100 * per_minute / BUDGET, 1),
        "answers_429": refused,
    }
    result = {
        "benchmark": "budget",
        "method": (
            f"{args.pairs} escalated pairs with one vendor note each queued as sync jobs; "
            f"`bridge worker --concurrency {args.workers}`; sandbox Zendesk counts API requests "
            "per sliding minute and answers 429 above the limit; window starts 5 s after the "
            "workers"
        ),
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(),
        "rows": [row],
        "targets": {"utilisation": ">= 95 %", "answers_429": "0"},
    }
    path = save("budget", result)
    print(table([row], list(row)))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
