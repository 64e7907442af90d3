"""Run the large fault run for several seeds in a row and write the table of results.

`python -m tests.faults.seeds --count 10` runs `tests.faults.run --tickets 40 --events 3000`
for seeds 1..10, one after the other (each is CPU heavy), and writes
`bench/results/faults-seeds-<commit>.md`. Exit code 0 only if every seed passed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.common import machine

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("lost", "duplicated", "echo (extra copies)", "leaked", "inconsistent", "status order")
HEADER = ("seed", "faults", "lost", "duplicated", "echoed", "leaked", "inconsistent",
          "status order", "parked comments", "settle time", "result")  # fmt: skip


@dataclass
class SeedResult:
    seed: int
    fields: dict[str, str]
    passed: bool
    problems: list[str]

    def row(self) -> str:
        f = self.fields
        cells = [str(self.seed), f.get("faults injected", "?"),
                 *(f.get(c, "?") for c in COLUMNS), f.get("parked comments", "?"),
                 f.get("settle", "?"), "PASS" if self.passed else "FAIL"]  # fmt: skip
        return "| " + " | ".join(cells) + " |"


def parse(seed: int, output: str) -> SeedResult:
    """The report's counts (the number before each list) and whether it passed."""
    fields: dict[str, str] = {}
    problems: list[str] = []
    for line in output.splitlines():
        name, _, rest = line.partition("  ")
        name, rest = name.strip(), rest.strip()
        count = re.match(r"(\d+)", rest)
        if name in (*COLUMNS, "faults injected", "parked comments") and count:
            fields[name] = count.group(1)
            listed = rest[len(count.group(1)) :].strip()
            if name in COLUMNS[:5] and count.group(1) != "0":
                problems.append(f"{name}: {listed}")
        elif name == "settled":
            took = re.search(r"(\d+) s after the last change", rest)
            fields["settle"] = f"{took.group(1)} s" if took else rest
    passed = re.search(r"^RESULT\s+PASS\s*$", output, re.MULTILINE) is not None
    return SeedResult(seed, fields, passed, problems)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--first", type=int, default=1)
    args = parser.parse_args()
    seeds = range(args.first, args.first + args.count)
    head = commit()
    results = []
    for seed in seeds:
        run = [sys.executable, "-m", "tests.faults.run", "--tickets", "40", "--events", "3000",
               "--seed", str(seed)]  # fmt: skip
        done = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=False)
        result = parse(seed, done.stdout)
        results.append(result)
        print(result.row(), flush=True)
    info = machine()
    lines = [
        f"# Fault run, {len(results)} seeds in a row (commit {head})",
        "",
        f"Command: `python -m tests.faults.seeds --count {args.count} --first {args.first}` "
        "(each seed: `python -m tests.faults.run --tickets 40 --events 3000 --seed N`).",
        "",
        f"Machine: {info.get('cores', '?')} cores, {info.get('cpu', '?')}, Python "
        f"{info.get('python', '?')}, shared with other work.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *(r.row() for r in results),
        "",
        f"{sum(r.passed for r in results)} of {len(results)} passed.",
    ]
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "What failed:"]
        lines += [f"- seed {r.seed}: {'; '.join(r.problems) or 'see its report'}" for r in failing]
    out = ROOT / "bench" / "results" / f"faults-seeds-{head}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    raise SystemExit(0 if not failing else 1)


if __name__ == "__main__":
    main()
