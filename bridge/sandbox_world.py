"""`bridge sandbox`: the demo world, left running so a user can click through it.

The same stack as `bridge demo` (embedded Redis, the route's sandboxes, the real web endpoint
with the operator console, a real worker process) plus the cron, so the polled side keeps being
polled. By default the demo's story is played first, so the console shows real traffic rather
than an empty queue. Everything stops when `wait` returns (Ctrl-C or SIGTERM in the CLI).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bridge.demo import Echo, Story, fresh
from bridge.runner import Children
from bridge.sandbox.stack import ROUTES, Stack

OPS_USER = "operator"


def _logged(base: Path) -> Callable[[list[str], Mapping[str, str]], subprocess.Popen[bytes]]:
    """Children write to `<base>/<role>.log`, so the terminal keeps the URLs readable."""

    def spawn(argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        role = argv[3]  # python -m bridge.cli <role> ...
        log = open(base / f"{role}.log", "ab")  # noqa: SIM115 - lives as long as the child
        return subprocess.Popen(argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT)

    return spawn


def describe(stack: Stack, password: str) -> list[str]:
    """The lines a user needs: where each part listens and how to log in."""
    raw: dict[str, Any] = yaml.safe_load(stack.config_path.read_text())
    lines = [
        f"  bridge console   {stack.bridge_url}/ops   login {OPS_USER} / {password}",
        f"  webhooks         {stack.bridge_url}/webhooks/<system>",
    ]
    for driver in stack.drivers:
        auth = raw["systems"][driver.system].get("auth", {})
        creds = ", ".join(f"{k}={v}" for k, v in auth.items())
        lines.append(
            f"  {driver.system:<16} {driver.title} sandbox ({driver.role} level) API {driver.url}"
            f"   {creds}"
        )
    config = stack.config_path.resolve()
    lines += [
        f"  config           {config}",
        f"  Redis            {raw['redis_url']}",
        f"  logs             {config.parent / 'worker.log'}, {config.parent / 'cron.log'}",
        "",
        f"  try: bridge status --config {config}",
        f"       bridge failed list --config {config}",
    ]
    return lines


def serve_sandbox(
    keep: Path | None,
    wait: Callable[[], None],
    echo: Echo = print,
    route: str = "zendesk-mantis",
    story: bool = True,
) -> bool:
    """Start the world, optionally play the story, print how to reach it, block in `wait()`,
    then stop everything. True unless the story's checks failed."""
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; known: {', '.join(ROUTES)}")
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory(prefix="bridge-sandbox-") as tmp:
        base = keep or Path(tmp)
        fresh(base)
        stack = Stack(base, route=route, ops={"username": OPS_USER, "password": password})
        echo(f"Route {route}: starting embedded Redis, the sandboxes, web and worker in {base}")
        ok = True
        with stack:
            stack.second_level.set_up_as_documented()  # as the README asks
            if story:
                ok = Story(stack, echo).play()
            cron = Children(stack.config_path, _env(stack), roles=("cron",), spawn=_logged(base))
            cron.start()
            try:
                echo("\nThe sandbox world is running (Ctrl-C stops everything):")
                for line in describe(stack, password):
                    echo(line)
                wait()
            finally:
                echo("\nstopping: cron, worker, web, sandboxes, Redis")
                cron.stop()
        echo("stopped" + (f"; the files stay in {keep}" if keep else ""))
        return ok


def _env(stack: Stack) -> dict[str, str]:
    return {**os.environ, "BRIDGE_CONFIG": str(stack.config_path)}
