"""Shared pieces of the benchmarks: Redis, a config, gunicorn, wrk, result files."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from bridge.redis_runtime import EmbeddedRedis

RESULTS = Path(__file__).resolve().parent / "results"


def noop(*args: Any) -> None:
    """A job that does nothing: the floor of a worker's per-job cost."""
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(base: Path) -> Iterator[str]:
    """$REDIS_URL if set, else the embedded redis-server (AOF on, as in production)."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(base / "redis")
    try:
        yield server.start()
    finally:
        server.stop()


def write_config(
    base: Path, redis_url: str, secret: str, urls: dict[str, str], **extra: Any
) -> Path:
    config = {
        "redis_url": redis_url,
        "data_dir": str(base / "data"),
        "queue": {"retry_intervals": [1, 2, 4], "job_timeout": 30},
        "systems": {
            "helpdesk": {
                "type": "zendesk",
                "url": urls.get("zendesk", "http://127.0.0.1:9"),
                "auth": {"email": "bridge@acme.example", "token": "zd-token"},
                "webhook_secret": secret,
                "bridge_user": "361000001",
                **extra.get("zendesk", {}),
            },
            "vendor": {
                "type": "mantis",
                "url": urls.get("mantis", "http://127.0.0.1:9"),
                "auth": {"token": "mantis-token"},
                "bridge_user": "1",
                **extra.get("mantis", {}),
            },
        },
        "routes": [{"name": "acme", "from": "helpdesk", "to": "vendor",
                    "mapping": "zendesk-mantis", "language": "en"}],
    }  # fmt: skip
    path = base / "bridge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int = 4) -> Iterator[str]:
    if importlib.util.find_spec("gunicorn") is None:
        raise SystemExit("gunicorn is not installed: pip install -e '.[bench]'")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", app],
        env={**os.environ, **env},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn for {app} did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def wrk(url: str, script: Path, seconds: int, connections: int, threads: int = 2) -> dict[str, Any]:
    """Run wrk and parse requests/s, latency percentiles and non-2xx answers."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
         str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": total,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms(lat["50"]),
        "p90_ms": ms(lat["90"]),
        "p99_ms": ms(lat["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "raw": out,
    }


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = [max(len(c), *(len(f"{r.get(c, '')}") for r in rows)) for c in columns]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    body = [
        "  ".join(f"{r.get(c, '')}".ljust(w) for c, w in zip(columns, widths, strict=True))
        for r in rows
    ]
    return "\n".join([line, "-" * len(line), *body])
