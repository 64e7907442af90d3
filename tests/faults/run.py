"""Print the fault-run report: `python -m tests.faults.run --tickets 40 --events 3000`.

Exit code 0 only if nothing was lost, duplicated, leaked or echoed and the run settled.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from bench.common import machine, save
from tests.faults.harness import FaultRun, Plan


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # run the harness's clean-up (workers, cron, Redis)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=40)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between changes")
    parser.add_argument("--keep", type=Path, help="keep logs and data here")
    args = parser.parse_args()
    plan = Plan(args.tickets, args.events, args.workers, args.seed, args.pace, 600.0)
    with tempfile.TemporaryDirectory(prefix="bridge-faults-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        report = FaultRun(base, plan).run()
    for line in report.lines():
        print(line)
    save("faults", {"plan": vars(plan), "machine": machine(), "report": report.lines(),
                    "ok": report.ok})  # fmt: skip
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
