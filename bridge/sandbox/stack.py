"""A whole bridge on one machine: embedded Redis, the sandboxes of one route, the real web
endpoint and real RQ workers. `bridge demo` plays its story on it; integration tests reuse it.

A route names its first and second level (`zendesk-mantis`, the default, `zammad-mantis`,
`zendesk-zammad`, `zammad-zendesk`: bridge.sandbox.catalog finds them); the drivers in
drivers.py seed each side and act on it, so one test runs on every route. The config always
calls the first level "helpdesk", the second "vendor" and the route "acme"; `extra_first_level`
adds a second helpdesk ("helpdesk2", route "globex") escalating into the same vendor system.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import yaml
from redis import Redis
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from bridge.config import Config, load_config
from bridge.polling import PollResult, poll_once
from bridge.queue import get_queue
from bridge.redis_runtime import EmbeddedRedis, connect
from bridge.registry import build_connector
from bridge.sandbox.catalog import driver_class, routes
from bridge.sandbox.drivers import (
    CATEGORY,
    CONTACT,
    CUSTOMER_NUMBER,
    DOMAIN,
    FIRST,
    MAY_CONTACT,
    SECOND,
    Driver,
    MantisDriver,
    ZendeskDriver,
)
from bridge.sandbox.mantis import MantisSandbox
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.signing import zendesk_signature
from bridge.sandbox.zammad import ZammadSandbox
from bridge.sandbox.zammad_driver import ZammadDriver
from bridge.sandbox.zendesk import ZendeskSandbox
from bridge.web import create_app
from bridge.workers import BridgeWorker

__all__ = [
    "CATEGORY", "CONTACT", "CUSTOMER_NUMBER", "DOMAIN", "MAY_CONTACT", "ROUTES", "Stack",
    "make_driver", "post_zendesk_webhook", "zendesk_signature",
]  # fmt: skip

# route -> (first level, second level); the route's name is also its shipped mapping file.
ROUTES: dict[str, tuple[str, str]] = routes()


def make_driver(kind: str, system: str, role: str) -> Driver:
    """A driver of `kind` (a type whose connector names a sandbox) playing `role` as config
    system `system`."""
    return driver_class(kind)(system, role)


class Stack:
    """Start with `with Stack(dir) as stack:`; everything stops when the block ends.

    `stack.first_level` and `stack.second_level` are the drivers of the route's two sides;
    `stack.zendesk`, `stack.mantis` and `stack.zammad` are the sandboxes themselves (the first
    level's when both sides are of one kind), and `zd_*`/`mt_*` the seeded user ids.
    """

    def __init__(
        self,
        base: Path,
        redis_url: str | None = None,
        language: str = "en",
        worker_process: bool = True,
        webhook_style: str = "trigger",
        options: dict[str, dict[str, Any]] | None = None,
        queue: dict[str, Any] | None = None,
        route: str = "zendesk-mantis",
        extra_first_level: str | None = None,
        web_redis: Callable[[str], Redis] | None = None,
        ops: dict[str, Any] | None = None,
        second_level: Driver | None = None,
    ) -> None:
        """`second_level`: a driver for a real system already running (tests/redmine plays a
        live Redmine this way); its `url` is set, so no sandbox is served for it, and `route`
        is then `<first level>-<its kind>` (a shipped mapping)."""
        if route not in ROUTES and second_level is None:
            raise ValueError(f"unknown route {route!r}; known: {', '.join(ROUTES)}")
        self.base = Path(base)
        self.route = route
        self.language = language
        self.worker_process = worker_process
        self.webhook_style = webhook_style
        self.options = options or {}  # per system name: extra `options` in the config
        self.queue_settings = queue or {"retry_intervals": [1, 2, 3]}
        self._redis_url = redis_url
        # The web app's own Redis client, from the URL (e.g. bridge.redis_runtime.connect_web,
        # as `bridge web` has it, for runs that hang Redis); None shares `stack.redis`.
        self._web_redis = web_redis
        self.ops = ops  # the config's `ops` block (console login); None: console disabled
        self._servers: list[BackgroundServer] = []
        self._embedded: EmbeddedRedis | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        first, second = ROUTES.get(route) or tuple(route.split("-", 1))
        self.first_level = make_driver(first, "helpdesk", FIRST)
        self.second_level = second_level or make_driver(second, "vendor", SECOND)
        self.extra_level = (
            make_driver(extra_first_level, "helpdesk2", FIRST) if extra_first_level else None
        )
        self.secret = secrets.token_urlsafe(24)  # the helpdesk's webhook secret
        self.secrets = {d.system: secrets.token_urlsafe(24) for d in self.drivers}
        self.secrets["helpdesk"] = self.secret

    @property
    def drivers(self) -> list[Driver]:
        """The route's first level, its second level, then the extra helpdesk if any."""
        extra = [self.extra_level] if self.extra_level is not None else []
        return [self.first_level, self.second_level, *extra]

    def _driver(self, cls: type[Driver]) -> Any:
        for driver in self.drivers:
            if isinstance(driver, cls):
                return driver
        raise AttributeError(f"route {self.route!r} has no {cls.kind} system")

    # The sandboxes and seeded users by vendor, as the zendesk-mantis tests know them.
    @property
    def zendesk(self) -> ZendeskSandbox:
        return self._driver(ZendeskDriver).zendesk

    @property
    def mantis(self) -> MantisSandbox:
        return self._driver(MantisDriver).mantis

    @property
    def zammad(self) -> ZammadSandbox:
        return self._driver(ZammadDriver).zammad

    @property
    def zd_bridge(self) -> int:
        return int(self._driver(ZendeskDriver).bridge)

    @property
    def zd_agent(self) -> int:
        return int(self._driver(ZendeskDriver).agent)

    @property
    def zd_customer(self) -> int:
        return int(self._driver(ZendeskDriver).customer)

    @property
    def mt_bridge(self) -> int:
        return int(self._driver(MantisDriver).bridge)

    @property
    def mt_developer(self) -> int:
        return int(self._driver(MantisDriver).developer)

    @property
    def mt_project(self) -> int:
        return int(self._driver(MantisDriver).project)

    @property
    def redis_server(self) -> EmbeddedRedis | None:
        """The stack's own Redis server (when no URL was given), for outage tests."""
        return self._embedded

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Stack:
        self.base.mkdir(parents=True, exist_ok=True)
        if not self._redis_url:
            self._embedded = EmbeddedRedis(self.base / "redis")
            self._redis_url = self._embedded.start()
        self.redis: Redis = connect(self._redis_url)
        for driver in self.drivers:
            driver.seed()
            if not driver.url:  # a real system's driver comes with its address
                driver.url = self._serve(driver.sandbox.app)
        self.config_path = self._write_config()
        self.config: Config = load_config(self.config_path)
        os.environ["BRIDGE_CONFIG"] = str(self.config_path)
        web = self._web_redis(self._redis_url) if self._web_redis else self.redis
        self.bridge_url = self._serve(create_app(self.config, web))
        for driver in self.drivers:
            style = self.webhook_style if driver is self.first_level else "trigger"
            driver.configure_webhook(self.bridge_url, self.secrets[driver.system], style)
        if self.worker_process:
            self.start_worker()
        return self

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.terminate()
            try:
                self._worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._worker.kill()
        for driver in self.drivers:
            driver.close()
        for server in reversed(self._servers):
            server.stop()
        if self._embedded is not None:
            self._embedded.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self, app: Any) -> str:
        server = BackgroundServer(app)
        self._servers.append(server)
        return server.start()

    # -- set-up ----------------------------------------------------------------------------
    def _write_config(self) -> Path:
        systems = {}
        for driver in self.drivers:
            block = driver.system_config(self.secrets[driver.system])
            block["options"] = {**block.get("options", {}), **self.options.get(driver.system, {})}
            systems[driver.system] = block
        second = self.second_level.kind
        routes = [("acme", self.first_level)]
        if self.extra_level is not None:
            routes.append(("globex", self.extra_level))
        config = {
            "redis_url": self._redis_url,
            "data_dir": str(self.base / "data"),
            "queue": self.queue_settings,
            "systems": systems,
            "routes": [
                {
                    "name": name,
                    "from": driver.system,
                    "to": "vendor",
                    "mapping": f"{driver.kind}-{second}",
                    "language": self.language,
                }
                for name, driver in routes
            ],
        }
        if self.ops is not None:
            config["ops"] = self.ops
        path = self.base / "bridge.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- workers ---------------------------------------------------------------------------
    def start_worker(self) -> None:
        """A real `bridge worker` process, as production runs it."""
        env = {**os.environ, "BRIDGE_CONFIG": str(self.config_path)}
        log = open(self.base / "worker.log", "ab")  # noqa: SIM115 - closed with the process
        self._worker = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "worker", "--config", str(self.config_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def work_burst(self) -> None:
        """Run a burst worker (the bridge's own, as `bridge worker` runs it) in this process
        until the queue is empty."""
        queue = get_queue(self.redis, self.config)
        BridgeWorker([queue], connection=self.redis, serializer=JSONSerializer).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )

    def poll(self, system: str = "vendor") -> PollResult:
        """One poll of a system, as the cron-driven job does it (then `settle()` runs the syncs)."""
        connector = build_connector(self.config.systems[system], self.redis)
        return poll_once(
            system, connector, self.config, self.redis, get_queue(self.redis, self.config)
        )

    def settle(self, timeout: float = 20.0) -> bool:
        """Wait until webhooks are delivered and no job is queued, running or scheduled."""
        deadline = time.monotonic() + timeout
        queue = get_queue(self.redis, self.config)
        started = StartedJobRegistry(queue=queue)
        scheduled = ScheduledJobRegistry(queue=queue)
        quiet = 0
        while time.monotonic() < deadline:
            for driver in self.drivers:
                driver.wait_for_deliveries(max(0.1, deadline - time.monotonic()))
            if not self.worker_process:
                self.work_burst()
            busy = queue.count + started.count + scheduled.count
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 3:
                return True
            time.sleep(0.1)
        return False

    def catch_up(self, timeout: float = 20.0) -> bool:
        """Let every change reach the bridge, then settle: systems without webhooks are polled
        first (call it once before a test's first change, too: a first poll only sets the
        high-water mark)."""
        for driver in self.drivers:
            if driver.polled:
                self.poll(driver.system)
        return self.settle(timeout)


def post_zendesk_webhook(
    stack: Stack, body: dict[str, Any], invocation_id: str, secret: str | None = None
) -> requests.Response:
    """Deliver a trigger webhook to the bridge the way Zendesk does (for replays and races)."""
    raw = json.dumps(body).encode()
    timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Invocation-Id": invocation_id,
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "X-Zendesk-Webhook-Signature": zendesk_signature(secret or stack.secret, timestamp, raw),
    }
    return requests.post(
        f"{stack.bridge_url}/webhooks/helpdesk", data=raw, headers=headers, timeout=10
    )
