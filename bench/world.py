"""The remote world for the sync benchmarks, in a process of its own.

Sandbox Zendesk and MantisBT (with injected latency), the bridge's web endpoint and a number of
already-escalated ticket pairs, served from a child process so that the sandboxes' Python does
not share a GIL with the workers being measured.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import gunicorn
from bridge.engine import handle_first_level
from bridge.jobs import Runtime
from bridge.records import PairKey
from bridge.registry import build_connector
from bridge.sandbox.stack import CATEGORY, CUSTOMER_NUMBER, DOMAIN, MAY_CONTACT, Stack
from bridge.stores import Stores

COMPLETE = {CUSTOMER_NUMBER: "40711", DOMAIN: "shop.example.com", MAY_CONTACT: "kontakt_ja",
            CATEGORY: "technik"}  # fmt: skip


class Remote:
    """WSGI wrapper: waits `latency` seconds per request; optionally a per-minute limit that
    answers 429 like Zendesk; records request times for the budget benchmark."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.latency = 0.0
        self.per_minute: int | None = None
        self.times: deque[float] = deque()
        self.log: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        now = time.time()
        if self.per_minute is not None and environ.get("PATH_INFO", "").startswith("/api/"):
            with self.lock:
                while self.times and self.times[0] <= now - 60:
                    self.times.popleft()
                over = len(self.times) >= self.per_minute
                if not over:
                    self.times.append(now)
                self.log.append((now, 429 if over else 200))
            if over:
                headers = [("Retry-After", "10"), ("Content-Type", "application/json")]
                start_response("429 Too Many Requests", headers)
                return [b'{"error": "APIRateLimitExceeded"}']
        if self.latency:
            time.sleep(self.latency)
        return self.app(environ, start_response)


@dataclass
class WorldSpec:
    base: Path
    redis_url: str
    pairs: int
    vendor_notes: bool = True
    latency_ms: float = 0.0
    zendesk_per_minute: int | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Serve the bridge's webhook endpoint under gunicorn (as in production), in processes of
    # its own, instead of a thread beside the sandboxes (which then share one GIL with it).
    gunicorn_web: int = 0


def _world(spec: WorldSpec, ready: Any, stop: Any, out: Any) -> None:
    stack = Stack(spec.base, redis_url=spec.redis_url, worker_process=False, options=spec.options,
                  queue={"retry_intervals": [1, 2, 4, 8], "job_timeout": 60})  # fmt: skip
    zd, mt = Remote(stack.zendesk.app), Remote(stack.mantis.app)
    stack.zendesk.app, stack.mantis.app = zd, mt  # type: ignore[assignment]
    stack.start()
    web = contextlib.ExitStack()
    if spec.gunicorn_web:
        env = {"BRIDGE_CONFIG": str(stack.config_path), "BRIDGE_REDIS_URL": spec.redis_url}
        url = web.enter_context(gunicorn("bridge.web.wsgi:app", env, workers=spec.gunicorn_web))
        driver = stack.first_level
        driver.configure_webhook(url, stack.secrets[driver.system], stack.webhook_style)
    runtime = Runtime(
        stack.config, {n: build_connector(s) for n, s in stack.config.systems.items()}
    )
    ctx = runtime.context(stack.config.routes[0], Stores.of(stack.redis))
    pairs = []
    for n in range(spec.pairs):
        tid = stack.zendesk.create_ticket_as(stack.zd_bridge, f"Bench {n}", "Checkout fails with "
                                             "error 500 for every order.", custom_fields=COMPLETE,
                                             priority="normal")["id"]  # fmt: skip
        handle_first_level(ctx, str(tid))
        link = ctx.stores.links.get_link(PairKey(ctx.name, str(tid)))
        assert link is not None
        pairs.append((tid, int(link.second.id)))
        if spec.vendor_notes:
            stack.mantis.add_note_as(stack.mt_developer, int(link.second.id), f"vendor note {n}")
    zd.latency = mt.latency = spec.latency_ms / 1000
    zd.per_minute = spec.zendesk_per_minute
    agent_token = "agent-token"
    out.put({"config": str(stack.config_path), "bridge_url": stack.bridge_url, "pairs": pairs,
             "zendesk_url": stack.config.systems["helpdesk"].url, "agent_token": agent_token,
             "agent_email": "alex@acme.example"})  # fmt: skip
    ready.set()
    stop.wait()
    copied = sum(
        1 for t, _ in pairs for c in stack.zendesk.comments(t) if "(vendor) wrote:" in c["body"]
    )
    out.put({"zendesk_log": zd.log, "copied_to_zendesk": copied})
    web.close()
    stack.stop()


class World:
    """`with World(spec) as info:` runs the world process until the block ends."""

    def __init__(self, spec: WorldSpec) -> None:
        ctx = mp.get_context("spawn")
        self.ready, self.stop_event, self.out = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(target=_world, args=(spec, self.ready, self.stop_event, self.out))
        self.final: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        self.proc.start()
        if not self.ready.wait(600):
            raise RuntimeError("the benchmark world did not start")
        info: dict[str, Any] = self.out.get(timeout=10)
        return info

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        try:
            self.final = self.out.get(timeout=60)
        finally:
            self.proc.join(timeout=30)
            if self.proc.is_alive():
                self.proc.kill()
