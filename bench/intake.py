"""Intake: signed Zendesk webhooks against the bridge under gunicorn, with wrk on loopback.

Compared in the same run with bench/bare_app.py (Flask + one RQ enqueue, nothing else).
Every request carries a unique invocation id, so each one is a new delivery that is verified,
parsed, deduped and queued (none is answered as a duplicate). Two bridge runs: "bridge-burst"
cycles through 500 tickets (a burst of updates on the same tickets: events for a ticket whose
sync job is still waiting are coalesced onto it), "bridge-unique" sends every request for a
different ticket (every request enqueues a new RQ job with its per-ticket concurrency key).

    python -m bench.intake [--seconds 15] [--connections 32] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from bench.common import gunicorn, machine, redis_server, save, table, write_config, wrk
from bridge.sandbox.stack import zendesk_signature

LUA = """
local bodies = %(bodies)s
local counter = 0
local tid = 0
-- two wrk threads: thread 1 sends bodies 2, 4, 6...; thread 2 sends 3, 5, 7... (no overlap)
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
init = function(args) counter = 0 end
request = function()
  counter = counter + 1
  local tid = tonumber(wrk.thread:get("tid"))
  local b = bodies[((counter * 2 + tid) %% #bodies) + 1]
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Zendesk-Webhook-Signature"] = b[2],
    ["X-Zendesk-Webhook-Signature-Timestamp"] = "%(timestamp)s",
    ["X-Zendesk-Webhook-Invocation-Id"] = "bench-" .. tid .. "-" .. counter,
  }
  return wrk.format("POST", "/webhooks/helpdesk", headers, b[1])
end
"""


def lua_script(path: Path, secret: str, tickets: int = 500) -> Path:
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = []
    for n in range(1, tickets + 1):
        body = json.dumps({"ticket_id": str(n), "current_user_id": "9", "event": "ticket_updated"})
        sig = zendesk_signature(secret, timestamp, body.encode())
        entries.append(f"{{{json.dumps(body)}, {json.dumps(sig)}}}")
    path.write_text(LUA % {"bodies": "{" + ",\n".join(entries) + "}", "timestamp": timestamp})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        base = Path(tmp)
        secret = secrets.token_urlsafe(24)
        scripts = {
            "burst": lua_script(base / "burst.lua", secret, tickets=500),
            "unique": lua_script(base / "unique.lua", secret, tickets=60_000),
        }
        runs = (
            ("bare", "bench.bare_app:app", scripts["unique"]),
            ("bridge-burst", "bridge.web.wsgi:app", scripts["burst"]),
            ("bridge-unique", "bridge.web.wsgi:app", scripts["unique"]),
        )
        for n, (name, app, script) in enumerate(runs):
            # A fresh Redis per run: an AOF grown by the runs before would be rewritten (a fork
            # and a file write on the same 2 cores) during a later run, not an earlier one.
            run_dir = base / f"run-{n}"
            run_dir.mkdir()
            with redis_server(run_dir) as url:
                config = write_config(run_dir, url, secret, {})
                env = {"BRIDGE_CONFIG": str(config), "BRIDGE_REDIS_URL": url}
                redis = Redis.from_url(url)
                redis.flushdb()
                with gunicorn(app, env, workers=args.workers) as server:
                    wrk(server, script, 3, args.connections)  # warm-up, not counted
                    redis.flushdb()
                    result = wrk(server, script, args.seconds, args.connections)
                jobs = len(redis.keys("rq:job:*"))
            rows.append({"endpoint": name, **{k: v for k, v in result.items() if k != "raw"},
                         "jobs": jobs})  # fmt: skip
    bare, burst, bridge = rows
    summary = {
        "benchmark": "intake",
        "method": (
            f"wrk -t2 -c{args.connections} -d{args.seconds}s on loopback against gunicorn "
            f"({args.workers} sync workers) and a fresh embedded redis-server (AOF on) per "
            "endpoint; every request a new signed delivery"
        ),
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(),
        "rows": rows,
        "ratio_bridge_to_bare": round(bridge["rps"] / bare["rps"], 3),
        "ratio_burst_to_bare": round(burst["rps"] / bare["rps"], 3),
        "targets": {"bridge_rps": ">= 1000", "p99_ms": "< 100", "ratio": ">= 0.67"},
    }
    path = save("intake", summary)
    print(table(rows, ["endpoint", "requests", "rps", "p50_ms", "p90_ms", "p99_ms",
                       "non_2xx", "jobs"]))  # fmt: skip
    print(f"throughput ratio to bare: unique {summary['ratio_bridge_to_bare']}, "
          f"burst {summary['ratio_burst_to_bare']}")  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    main()
