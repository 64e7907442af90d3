"""A whole bridge on one machine: embedded Redis, sandbox Zendesk and MantisBT, the real web
endpoint and real RQ workers. `bridge demo` plays its story on it; integration tests reuse it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import yaml
from redis import Redis
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from bridge.config import Config, load_config
from bridge.polling import PollResult, poll_once
from bridge.queue import get_queue
from bridge.redis_runtime import EmbeddedRedis, connect
from bridge.registry import build_connector
from bridge.sandbox.mantis import MantisSandbox
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.zendesk import ZendeskSandbox
from bridge.web import create_app

# Custom field ids of the sandbox Zendesk, matching mappings/zendesk-mantis.yaml.
CUSTOMER_NUMBER, DOMAIN, CONTACT, MAY_CONTACT, CATEGORY = 360001, 360002, 360003, 360004, 360005


class Stack:
    """Start with `with Stack(dir) as stack:`; everything stops when the block ends."""

    def __init__(
        self,
        base: Path,
        redis_url: str | None = None,
        language: str = "en",
        worker_process: bool = True,
        webhook_style: str = "trigger",
        options: dict[str, dict[str, Any]] | None = None,
        queue: dict[str, Any] | None = None,
    ) -> None:
        self.base = Path(base)
        self.language = language
        self.worker_process = worker_process
        self.webhook_style = webhook_style
        self.options = options or {}  # per system name: extra `options` in the config
        self.queue_settings = queue or {"retry_intervals": [1, 2, 3]}
        self._redis_url = redis_url
        self._servers: list[BackgroundServer] = []
        self._embedded: EmbeddedRedis | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        self.zendesk = ZendeskSandbox()
        self.mantis = MantisSandbox()
        self.secret = secrets.token_urlsafe(24)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Stack:
        self.base.mkdir(parents=True, exist_ok=True)
        if not self._redis_url:
            self._embedded = EmbeddedRedis(self.base / "redis")
            self._redis_url = self._embedded.start()
        self.redis: Redis = connect(self._redis_url)
        self._seed()
        zd_url = self._serve(self.zendesk.app)
        mt_url = self._serve(self.mantis.app)
        self.config_path = self._write_config(zd_url, mt_url)
        self.config: Config = load_config(self.config_path)
        os.environ["BRIDGE_CONFIG"] = str(self.config_path)
        self.bridge_url = self._serve(create_app(self.config, self.redis))
        self.zendesk.configure_webhook(
            f"{self.bridge_url}/webhooks/helpdesk",
            self.secret,
            exclude_user_id=self.zd_bridge,
            style=self.webhook_style,
        )
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
        self.zendesk.close()
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
    def _seed(self) -> None:
        zd = self.zendesk
        self.zd_bridge = zd.add_user("Ticket Bridge", "bridge@acme.example", "agent", "zd-token")
        self.zd_agent = zd.add_user("Alex Agent", "alex@acme.example", "agent", "agent-token")
        self.zd_customer = zd.add_user("Anna Kundin", "anna@kunde.example", "end-user")
        mt = self.mantis
        self.mt_bridge = mt.add_user("bridge", "mantis-token", "developer", "Ticket Bridge")
        self.mt_developer = mt.add_user("dev", "dev-token", "developer", "Dana Developer")
        self.mt_project = mt.add_project(
            "Support", ("General", "Crash"), ("Kundennummer", "Domain", "Helpdesk-Ticket")
        )

    def _write_config(self, zd_url: str, mt_url: str) -> Path:
        config = {
            "redis_url": self._redis_url,
            "data_dir": str(self.base / "data"),
            "queue": self.queue_settings,
            "systems": {
                "helpdesk": {
                    "type": "zendesk",
                    "url": zd_url,
                    "auth": {"email": "bridge@acme.example", "token": "zd-token"},
                    "webhook_secret": self.secret,
                    "bridge_user": str(self.zd_bridge),
                    "options": self.options.get("helpdesk", {}),
                },
                "vendor": {
                    "type": "mantis",
                    "url": mt_url,
                    "auth": {"token": "mantis-token"},
                    "bridge_user": str(self.mt_bridge),
                    "options": self.options.get("vendor", {}),
                },
            },
            "routes": [
                {
                    "name": "acme",
                    "from": "helpdesk",
                    "to": "vendor",
                    "mapping": "zendesk-mantis",
                    "language": self.language,
                }
            ],
        }
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
        """Run a burst worker in this process until the queue is empty."""
        queue = get_queue(self.redis, self.config)
        SimpleWorker([queue], connection=self.redis, serializer=JSONSerializer).work(
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
            self.zendesk.wait_for_deliveries(max(0.1, deadline - time.monotonic()))
            if not self.worker_process:
                self.work_burst()
            busy = queue.count + started.count + scheduled.count
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 3:
                return True
            time.sleep(0.1)
        return False


def zendesk_signature(secret: str, timestamp: str, raw: bytes) -> str:
    """What Zendesk sends in X-Zendesk-Webhook-Signature (api-facts 1.4)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


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
