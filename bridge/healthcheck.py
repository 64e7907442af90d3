"""Is each part of the bridge alive, judged from Redis alone? Ready vs alive.

The web process can answer long before anything would sync a ticket: workers and the cron are
other processes (other containers), and the first poll of a system without webhooks runs only
once both exist. So liveness of each role is read from what that role keeps in Redis, and
every mark expires by Redis's own clock (no process here compares its clock with another's):

- a bridge worker keeps a pulse key (bridge.maintenance) that Redis expires `PULSE_TTL` s
  after its last beat; a hung worker stops pulsing, so it stops counting as alive;
- RQ's cron scheduler keeps a hash that Redis expires 120 s after its last heartbeat;
- a poll that succeeded wrote `last_ok` into the system's poll status (bridge.polling).

`/readyz` (bridge.web.health) asks all of them. `python -m bridge.healthcheck web|worker|cron`
asks for one role on this host, as the image's and compose's healthchecks: `web` fetches the
web process's `/healthz`, `worker` and `cron` look for this host's marks in Redis. Exit 0 when
alive, 1 when not (or when Redis or the web process does not answer), 2 for a usage error.
"""

from __future__ import annotations

import enum
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import click
import requests
from redis import Redis
from redis.exceptions import RedisError
from rq.cron import CronScheduler
from rq.worker import BaseWorker

from bridge import keyspace
from bridge.config import Config, load_config
from bridge.errors import ConfigError
from bridge.polling import interval_for, poll_status
from bridge.protocol import Connector
from bridge.redis_runtime import connect_web, resolve_url
from bridge.stores.values import text

log = logging.getLogger("bridge.health")


class Role(enum.StrEnum):
    """A process kind whose liveness a container healthcheck asks for."""

    WEB = "web"
    WORKER = "worker"
    CRON = "cron"


class State(enum.StrEnum):
    """One readiness check's answer: a fixed word, never an error text (anyone may ask)."""

    OK = "ok"
    UNREACHABLE = "unreachable"  # Redis did not answer
    NONE_ALIVE = "none alive"  # no worker pulse, no cron scheduler
    NOT_YET = "not yet"  # a polled system has had no successful poll
    UNKNOWN = "unknown"  # not judged: Redis did not answer


def live_workers(redis: Redis, host: str | None = None) -> list[str]:
    """Names of the bridge workers with a pulse (on `host` when given), sorted.

    Only workers that keep a pulse count: a plain `rq worker` does not run the bridge's
    maintenance and is not what the bridge is deployed with.
    """
    names = sorted(text(n) for n in redis.smembers(keyspace.PULSED))
    with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(keyspace.alive(name))
            pipe.hget(BaseWorker.redis_worker_namespace_prefix + name, "hostname")
        answers = pipe.execute()
    alive = []
    for i, name in enumerate(names):
        pulsing, worker_host = answers[2 * i], answers[2 * i + 1]
        if pulsing and (host is None or (worker_host is not None and text(worker_host) == host)):
            alive.append(name)
    return alive


def live_crons(redis: Redis, host: str | None = None) -> list[str]:
    """Names of RQ cron schedulers alive (on `host` when given), oldest first.

    `cleanup=False`: a health probe writes nothing, and RQ's clean-up would judge staleness by
    this process's clock; a dead scheduler's hash has expired by Redis's clock, and `all`
    skips a name whose hash is gone.
    """
    return [
        s.name
        for s in CronScheduler.all(redis, cleanup=False)
        if host is None or s.hostname == host
    ]


def polled_systems(config: Config, connectors: Mapping[str, Connector]) -> list[str]:
    """Systems that the cron polls or sweeps (an interval of 0 means never)."""
    return [
        name
        for name, settings in config.systems.items()
        if interval_for(settings, connectors[name]) > 0
    ]


@dataclass(frozen=True)
class Readiness:
    """Each check by name (`web`, `redis`, `workers`, `cron`, `poll:<system>`) and its state."""

    checks: dict[str, State]

    @property
    def ready(self) -> bool:
        return all(state is State.OK for state in self.checks.values())

    @property
    def not_ready(self) -> list[str]:
        return [name for name, state in self.checks.items() if state is not State.OK]

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {name: state.value for name, state in self.checks.items()},
            "not_ready": self.not_ready,
        }


def readiness(redis: Redis, config: Config, connectors: Mapping[str, Connector]) -> Readiness:
    """Would a ticket be synced now? Web up (we are answering), Redis answering, a live worker,
    the cron alive, and a successful first poll or sweep of every polled system.

    A Redis failure is logged with its text and reported as a word, so an unauthenticated
    caller learns nothing about hosts, ports or credentials.
    """
    systems = polled_systems(config, connectors)
    polls = [f"poll:{name}" for name in systems]
    checks: dict[str, State] = {"web": State.OK}
    try:
        redis.ping()
        checks["redis"] = State.OK
        checks["workers"] = State.OK if live_workers(redis) else State.NONE_ALIVE
        checks["cron"] = State.OK if live_crons(redis) else State.NONE_ALIVE
        for name, check in zip(systems, polls, strict=True):
            checks[check] = State.OK if poll_status(redis, name).get("last_ok") else State.NOT_YET
    except RedisError as exc:
        log.warning("readyz: redis unreachable: %s: %s", type(exc).__name__, exc)
        checks["redis"] = State.UNREACHABLE
        for check in ("workers", "cron", *polls):
            checks[check] = State.UNKNOWN
    return Readiness(checks)


def _redis_url(redis_url: str | None, config_path: str | None) -> str:
    if redis_url:
        return redis_url
    if not config_path:
        raise click.UsageError("no Redis: set BRIDGE_REDIS_URL or BRIDGE_CONFIG (or pass one)")
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # No redis_url: `bridge run`'s embedded Redis, on its socket in data_dir.
    return resolve_url(config.redis_url, config.data_dir)


DEFAULT_WEB_URL = "http://127.0.0.1:8080/healthz"  # the image's gunicorn --bind


def _check_web(url: str) -> None:
    """The web process answers its liveness URL with 200 (a probe has 5 s; this waits 4)."""
    try:
        status = requests.get(url, timeout=4, allow_redirects=False).status_code
    except requests.RequestException as exc:
        click.echo(f"web: cannot reach {url} ({type(exc).__name__})", err=True)
        raise SystemExit(1) from None
    if status != 200:
        click.echo(f"web: {url} answered {status}", err=True)
        raise SystemExit(1)
    click.echo(f"web: {url} answered 200")


@click.command(name="python -m bridge.healthcheck")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.option("--redis-url", envvar="BRIDGE_REDIS_URL", help="Default: $BRIDGE_REDIS_URL.")
@click.option(
    "--config",
    "config_path",
    envvar="BRIDGE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file whose redis_url is used when no URL is given (default: $BRIDGE_CONFIG).",
)
@click.option(
    "--host",
    default=socket.gethostname,
    show_default="this host",
    help="Host name the worker or cron registered with (in a container: the container's).",
)
@click.option(
    "--url",
    envvar="BRIDGE_HEALTHCHECK_URL",
    default=DEFAULT_WEB_URL,
    show_default=True,
    help="web: the URL to fetch (default also from $BRIDGE_HEALTHCHECK_URL).",
)
def main(role: str, redis_url: str | None, config_path: str | None, host: str, url: str) -> None:
    """Exit 0 when ROLE (web, worker or cron) on this host is alive, else 1.

    Only this host's processes count: a worker or cron alive in another container must not
    make this one look healthy.
    """
    if Role(role) is Role.WEB:
        _check_web(url)
        return
    redis = connect_web(_redis_url(redis_url, config_path))  # short timeouts: a probe has 5 s
    try:
        alive = live_workers(redis, host) if Role(role) is Role.WORKER else live_crons(redis, host)
    except RedisError as exc:
        click.echo(f"{role}: cannot reach Redis ({type(exc).__name__})", err=True)
        raise SystemExit(1) from None
    finally:
        redis.close()
    if not alive:
        click.echo(f"{role}: none alive on {host}", err=True)
        raise SystemExit(1)
    click.echo(f"{role}: {len(alive)} alive on {host}")


if __name__ == "__main__":
    main()
