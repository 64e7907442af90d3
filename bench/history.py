"""What one sync costs as a pair's history grows: requests, worker CPU and remote time.

Pairs of a sandbox Zendesk ticket and MantisBT issue whose conversation has N old comments:
N/2 from the customer before the escalation, then N/2 vendor notes, copied to the helpdesk
(so the ticket carries about N comments, the issue N/2 notes), made long ago on the
sandboxes' clocks. Each measured sync has one new vendor note to copy (one
write). Per sync: the HTTP requests the sandboxes logged, the CPU time of the process that ran
it (the sync runs in this process; the sandboxes in a child process of their own), and the
time the sandboxes spent answering (wall time inside their WSGI apps).

    python -m bench.history measure [--old 0,100,1000] [--pairs 3] [--syncs 4]
    python -m bench.history compare --base ../main [--rounds 5]

`compare` runs `measure` for the checkout given by `--base` and for this one in turn (A B,
B A, ... so drift hits both alike), each in a fresh process with its own code first on
PYTHONPATH, and reports medians per history size and the ratios of the two.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


class Clock:
    """The sandboxes' clock: long ago and five minutes a tick while the history is made (a
    history, not a burst), the real time once measuring starts."""

    def __init__(self) -> None:
        self.past: datetime | None = datetime.now(UTC) - timedelta(days=60)

    def __call__(self) -> datetime:
        if self.past is None:
            return datetime.now(UTC)
        self.past += timedelta(minutes=5)
        return self.past


class Meter:
    """WSGI wrapper counting requests and the time spent answering them."""

    def __init__(self, app: Any) -> None:
        self.app, self.lock = app, threading.Lock()
        self.requests, self.seconds = 0, 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        result = self.app(environ, start_response)
        try:
            body = list(result)  # the answer is built while it is iterated
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        took = time.perf_counter() - started
        if environ.get("PATH_INFO", "").startswith("/api/"):
            with self.lock:
                self.requests += 1
                self.seconds += took
        return body

    def take(self) -> tuple[int, float]:
        with self.lock:
            taken = (self.requests, self.seconds)
            self.requests, self.seconds = 0, 0.0
        return taken


def _world(base: str, redis_url: str, conn: Any) -> None:
    """The child: sandboxes behind meters, answering the parent's commands.

    Always this checkout's sandboxes (the code measured is the parent's), so both sides of a
    comparison meet the same remote."""
    sys.path.insert(0, str(HERE.parent.parent))
    from bridge.sandbox.stack import Stack

    clock = Clock()
    stack = Stack(Path(base), redis_url=redis_url, worker_process=False)
    # The sandboxes stamp with these clocks (a benchmark's reach into them: no public knob).
    stack.zendesk._clock = clock
    stack.mantis._now = clock
    zd, mt = Meter(stack.zendesk.app), Meter(stack.mantis.app)
    stack.zendesk.app, stack.mantis.app = zd, mt  # type: ignore[assignment]
    stack.start()
    conn.send((str(stack.config_path), stack.zd_customer))
    while True:
        command, arg = conn.recv()
        if command == "ticket":  # a ticket with these fields and `n` comments of the customer
            fields, n = arg
            tid = stack.zendesk.create_ticket_as(
                stack.zd_customer, "Checkout fails", "Error 500 for every order.",
                custom_fields=fields, priority="normal",
            )["id"]  # fmt: skip
            for i in range(n):
                stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment=f"old {i}")
            conn.send(tid)
        elif command == "notes":  # `n` vendor notes on an issue
            issue, n = arg
            for i in range(n):
                stack.mantis.add_note_as(stack.mt_developer, issue, f"vendor {i}")
            zd.take(), mt.take()
            conn.send(None)
        elif command == "now":
            clock.past = None
            conn.send(None)
        elif command == "take":
            conn.send((zd.take(), mt.take()))
        elif command == "stop":
            conn.send(None)
            break
    stack.stop()


def measure(sizes: list[int], pairs: int, syncs: int) -> dict[str, Any]:
    from redis import Redis

    from bench.common import redis_server
    from bench.world import COMPLETE
    from bridge.config import load_config
    from bridge.engine import handle_first_level
    from bridge.jobs import Runtime
    from bridge.records import PairKey
    from bridge.registry import build_connector
    from bridge.stores import Stores
    from bridge.sync import sync_pair

    with (
        tempfile.TemporaryDirectory(prefix="bench-history-") as tmp,
        redis_server(Path(tmp)) as url,
    ):
        ours, theirs = mp.get_context("spawn").Pipe()
        child = mp.get_context("spawn").Process(target=_world, args=(tmp, url, theirs))
        child.start()

        def ask(command: str, arg: object = None) -> Any:
            ours.send((command, arg))
            if not ours.poll(900):
                raise RuntimeError(f"the sandboxes did not answer {command}")
            return ours.recv()

        try:
            config_path, _ = ours.recv()
            config = load_config(config_path)
            runtime = Runtime(config, {n: build_connector(s) for n, s in config.systems.items()})
            ctx = runtime.context(config.routes[0], Stores.of(Redis.from_url(url)))

            def pair(size: int) -> tuple[int, int]:
                """Half the old comments the customer's before the escalation, then the
                vendor's (copied to the helpdesk by the first sync below)."""
                tid = ask("ticket", (COMPLETE, size // 2))
                handle_first_level(ctx, str(tid))
                link = ctx.stores.links.get_link(PairKey(ctx.name, str(tid)))
                assert link is not None
                ask("notes", (int(link.second.id), size - size // 2))
                return tid, int(link.second.id)

            made = {size: [pair(size) for _ in range(pairs)] for size in sizes}

            def sync(tid: int) -> None:
                link = ctx.stores.links.get_link(PairKey(ctx.name, str(tid)))
                assert link is not None
                sync_pair(ctx, link)

            for group in made.values():  # the vendor's old notes reach the helpdesk
                for tid, _ in group:
                    sync(tid)
            ask("now")
            for group in made.values():  # settle: what a pair's life so far has left
                for tid, issue in group:
                    for _ in range(2):
                        ask("notes", (issue, 1))
                        sync(tid)
            rows = []
            for size, group in made.items():
                samples: list[dict[str, float]] = []
                for _ in range(syncs):
                    for tid, issue in group:
                        ask("notes", (issue, 1))
                        cpu = time.process_time()
                        sync(tid)
                        cpu = time.process_time() - cpu
                        (zr, zs), (mr, ms) = ask("take")
                        samples.append({
                            "requests": zr + mr, "worker_cpu_ms": cpu * 1000,
                            "remote_ms": (zs + ms) * 1000, "zendesk_requests": zr,
                            "zendesk_ms": zs * 1000, "mantis_requests": mr, "mantis_ms": ms * 1000,
                        })  # fmt: skip
                row: dict[str, Any] = {"old_comments": size, "syncs": len(samples)}
                for key in samples[0]:
                    row[key] = round(statistics.median(s[key] for s in samples), 2)
                rows.append(row)
            ask("stop")
        finally:
            child.join(timeout=60)
            if child.is_alive():
                child.kill()
    return {"rows": rows}


def _run_measure(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, str(HERE), "measure", "--old", args.old,
           "--pairs", str(args.pairs), "--syncs", str(args.syncs), "--json"]  # fmt: skip
    out = subprocess.run(cmd, env=env, cwd=root, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _median_rows(runs: Iterable[dict[str, Any]]) -> dict[int, dict[str, float]]:
    by_size: dict[int, dict[str, list[float]]] = {}
    for run in runs:
        for row in run["rows"]:
            figures = by_size.setdefault(row["old_comments"], {})
            for key, value in row.items():
                if key not in ("old_comments", "syncs"):
                    figures.setdefault(key, []).append(value)
    return {
        size: {key: statistics.median(values) for key, values in figures.items()}
        for size, figures in by_size.items()
    }


def compare(args: argparse.Namespace) -> dict[str, Any]:
    base, here = Path(args.base).resolve(), HERE.parent.parent
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "this": []}
    for n in range(args.rounds):
        order = [("base", base), ("this", here)]
        for name, root in order if n % 2 == 0 else reversed(order):
            runs[name].append(_run_measure(root, args))
            print(f"round {n + 1}: {name} done", file=sys.stderr, flush=True)
    medians = {name: _median_rows(found) for name, found in runs.items()}
    rows = []
    for size in sorted(medians["base"]):
        before, after = medians["base"][size], medians["this"][size]
        rows.append({
            "old_comments": size,
            **{f"{k}_before": round(v, 2) for k, v in before.items()},
            **{f"{k}_after": round(v, 2) for k, v in after.items()},
            **{f"{k}_ratio": round(after[k] / before[k], 3) if before[k] else None
               for k in before},
        })  # fmt: skip
    # Per round too: the ratio of this round's two runs, to see how much the machine moved.
    per_round = [
        {
            str(row["old_comments"]): round(row["worker_cpu_ms"] / old["worker_cpu_ms"], 3)
            for row, old in zip(b["rows"], a["rows"], strict=True)
        }
        for a, b in zip(runs["base"], runs["this"], strict=True)
    ]
    return {"rows": rows, "cpu_ratio_per_round": per_round, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["measure", "compare"])
    parser.add_argument("--old", default="0,100,1000", help="old comments per side, by size")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--syncs", type=int, default=4, help="measured syncs per pair")
    parser.add_argument("--base", help="compare: the checkout to measure against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="measure: one JSON line only")
    args = parser.parse_args()
    if args.mode == "measure":
        result = measure([int(x) for x in args.old.split(",")], args.pairs, args.syncs)
        if args.json:
            print(json.dumps(result))
            return
        for row in result["rows"]:
            print(row)
        return
    if not args.base:
        parser.error("compare needs --base")
    from bench.common import machine, save, table

    result = compare(args)
    result.update({
        "benchmark": "history",
        "method": (
            "interleaved rounds (base, this; this, base; ...), each a fresh process with its "
            "own code first on PYTHONPATH: N old comments per side made on the sandboxes' "
            "clocks 5 minutes apart 60 days ago, the vendor's copied to the helpdesk, two "
            "settling syncs at real time; then per pair and sync one new vendor note and one "
            "sync_pair call in the measuring process; requests = API requests the sandboxes "
            "answered, worker_cpu_ms = process CPU time of the sync (sandboxes in a child "
            "process), remote_ms = wall time inside the sandboxes' WSGI apps; medians over "
            "the syncs of a run, then over the runs"
        ),
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(),
        "base": str(Path(args.base).resolve()),
        "pairs": args.pairs,
        "syncs_per_pair": args.syncs,
        "rounds": args.rounds,
    })  # fmt: skip
    path = save("history", result)
    print(table(result["rows"], list(result["rows"][0])))
    print("worker CPU ratio (this/base) per round:", result["cpu_ratio_per_round"])
    print(f"results: {path}")


if __name__ == "__main__":
    main()
