"""Operator commands: status, failed jobs, links, resync, manual link, dry-run, online check.

Attached to the `bridge` group by bridge.cli (attach()). They read and act on Redis and the
queue through bridge.ops.inspect, the same reader as the web console, so both always agree.
`dry-run` and `check-config --online` read from ticket systems but never write to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from redis import Redis

from bridge.checks import check_system
from bridge.config import Config
from bridge.errors import BridgeError
from bridge.findings import Level, worst
from bridge.models import SystemRef
from bridge.ops import actions
from bridge.ops.inspect import Inspector, OpsError, fmt_age

CONFIG_HELP = "Config file (default: $BRIDGE_CONFIG)."
Loader = Callable[[str | None], Config]
UrlOf = Callable[[Config], str]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 70) -> str:
    """A plain aligned table; long cells are cut with an ellipsis so rows stay one line."""
    cells = [[_cut(str(c), max_width) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def check_online(config: Config, echo: Callable[[str], Any]) -> bool:
    """Check every system live (read-only): credentials, then what the mappings use there.

    Each system's findings come from its connector's check module (bridge.checks); a system
    that cannot be reached or refuses the credentials is FAILED. False when anything is wrong.
    """
    ok = True
    for name in config.systems:
        try:
            findings = check_system(config, name)
        except BridgeError as exc:
            ok = False
            echo(f"  {name}: FAILED {exc}")
            continue
        level = worst(findings)
        ok = ok and level is not Level.PROBLEM
        echo(f"  {name}: {_HEADINGS[level]}")
        for finding in findings:
            echo(f"    {_MARKS[finding.level]} {finding.text}")
    return ok


_HEADINGS = {Level.OK: "OK", Level.WARNING: "OK with warnings", Level.PROBLEM: "PROBLEMS"}
_MARKS = {Level.OK: "ok     ", Level.WARNING: "warning", Level.PROBLEM: "PROBLEM"}


def attach(main: click.Group, load: Loader, redis_url: UrlOf) -> None:
    """Add the operator commands to the `bridge` group."""

    def connect(config_path: str | None) -> tuple[Config, Inspector]:
        from bridge.redis_runtime import connect as redis_connect

        config = load(config_path)
        url = redis_url(config)
        if not url:
            raise click.ClickException(
                "no redis_url configured: set redis_url or BRIDGE_REDIS_URL (for `bridge run` "
                "with the embedded Redis, the URL it printed at start)"
            )
        redis: Redis = redis_connect(url)
        return config, Inspector(redis, config)

    config_option = click.option("--config", "config_path", help=CONFIG_HELP)

    @main.command()
    @config_option
    def status(config_path: str | None) -> None:
        """Queues, workers, failed/parked jobs and when each system was last heard from."""
        _, ins = connect(config_path)
        o = ins.queue_overview()
        click.echo(
            f"queue {o.name}: {o.queued} queued, {o.started} running, {o.scheduled} scheduled, "
            f"{o.parked} parked, {o.failed - o.parked} failed, {len(o.workers)} worker(s)"
        )
        if not o.workers:
            click.echo("WARNING: no worker listens on this queue")
        rows = [
            [w.name, w.state, w.current_job or "-", fmt_age(w.heartbeat_age)] for w in o.workers
        ]
        if rows:
            click.echo("\n" + table(["worker", "state", "job", "heartbeat"], rows))
        rows = [
            [
                s.system,
                s.mode,
                fmt_age(s.silent_for) + (" ago" if s.last_seen else ""),
                (fmt_age(s.poll_lag) + " ago") if s.poll_last_ok else "-",
                fmt_age(s.threshold),
                "SILENT" if s.alert else "ok",
            ]
            for s in ins.sources()
        ]
        click.echo(
            "\n" + table(["system", "how", "last seen", "poll lag", "alert after", "state"], rows)
        )
        waiting = ins.waiting()
        click.echo(f"\n{len(waiting)} escalation(s) waiting for data")

    @main.group()
    def failed() -> None:
        """Failed and parked jobs."""

    @failed.command("list")
    @config_option
    def failed_list(config_path: str | None) -> None:
        """List failed and parked jobs, newest first, with the reason."""
        _, ins = connect(config_path)
        jobs = ins.failed_jobs()
        if not jobs:
            click.echo("no failed or parked jobs")
            return
        rows = [
            [j.id, "parked" if j.parked else "failed", fmt_age(j.age), j.ref, j.route, j.reason]
            for j in jobs
        ]
        click.echo(table(["job", "kind", "age", "ticket", "route", "reason"], rows))

    @failed.command("retry")
    @config_option
    @click.argument("job_id", required=False)
    @click.option("--all", "retry_all", is_flag=True, help="Retry every failed and parked job.")
    def failed_retry(config_path: str | None, job_id: str | None, retry_all: bool) -> None:
        """Put a failed or parked job (or all of them) back on the queue."""
        if bool(job_id) == retry_all:
            raise click.UsageError("give a job id or --all")
        _, ins = connect(config_path)
        if retry_all:
            done = ins.retry_all()
            click.echo(f"{len(done)} job(s) queued again")
            return
        try:
            ins.retry(str(job_id))
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"job {job_id} queued again")

    @failed.command("discard")
    @config_option
    @click.argument("job_id")
    def failed_discard(config_path: str | None, job_id: str) -> None:
        """Delete a failed or parked job for good."""
        _, ins = connect(config_path)
        try:
            ins.discard(job_id)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"job {job_id} discarded")

    @main.group()
    def links() -> None:
        """Links between first- and second-level tickets."""

    @links.command("show")
    @config_option
    @click.argument("system")
    @click.argument("ticket")
    def links_show(config_path: str | None, system: str, ticket: str) -> None:
        """A ticket's link and its sync timeline (both sides, oldest first)."""
        _, ins = connect(config_path)
        try:
            matches = ins.search(ticket, system)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        if not matches:
            raise click.ClickException(f"the bridge knows nothing about {system}#{ticket}")
        for m in matches:
            if m.link is not None:
                click.echo(f"{m.link.first} <-> {m.link.second} on route {m.route}")
                click.echo(f"  url {m.link.second_url}, linked {m.link.created_at}")
            elif m.waiting is not None:
                click.echo(f"{m.ref}: not escalated, waiting for {', '.join(m.waiting['missing'])}")
            else:
                click.echo(f"{m.ref}: not linked")
            rows = [
                [
                    e.get("at", ""),
                    e["ticket"],
                    e.get("action", ""),
                    ", ".join(
                        f"{k}={v}" for k, v in e.items() if k not in ("at", "action", "ticket")
                    ),
                ]
                for e in m.timeline
            ]
            click.echo(table(["at", "ticket", "action", "details"], rows, max_width=90))

    @main.command()
    @config_option
    @click.argument("system")
    @click.argument("ticket")
    def resync(config_path: str | None, system: str, ticket: str) -> None:
        """Queue a fresh sync of the pair a ticket belongs to."""
        _, ins = connect(config_path)
        try:
            ids = actions.resync(ins, system, ticket)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        for job_id in ids:
            click.echo(f"queued {job_id}")

    @main.command("link")
    @config_option
    @click.argument("system_a")
    @click.argument("ticket_a")
    @click.argument("system_b")
    @click.argument("ticket_b")
    @click.option("--no-sync", is_flag=True, help="Only store the link; do not queue a sync.")
    def link_cmd(
        config_path: str | None,
        system_a: str,
        ticket_a: str,
        system_b: str,
        ticket_b: str,
        no_sync: bool,
    ) -> None:
        """Link two existing tickets; the next sync writes the reference and the link note."""
        _, ins = connect(config_path)
        try:
            record = actions.link(ins, SystemRef(system_a, ticket_a), SystemRef(system_b, ticket_b))
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"linked {record.first} <-> {record.second} on route {record.route}")
        if not no_sync:
            for job_id in actions.resync(ins, record.first.system, record.first.id):
                click.echo(f"queued {job_id}")

    @main.command("dry-run")
    @config_option
    @click.argument("system")
    @click.argument("payload", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--header", "headers", multiple=True, help="A webhook header, 'Name: value'.")
    def dry_run(config_path: str | None, system: str, payload: Path, headers: tuple[str]) -> None:
        """Show what the bridge would decide for a webhook payload, writing nothing."""
        from bridge.ops.dryrun import explain

        config = load(config_path)
        if system not in config.systems:
            raise click.ClickException(f"unknown system {system!r}")
        parsed = {k.strip(): v.strip() for k, _, v in (h.partition(":") for h in headers)}
        redis = None
        if redis_url(config):
            from bridge.redis_runtime import connect as redis_connect

            redis = redis_connect(redis_url(config))
        try:
            for line in explain(config, system, payload.read_bytes(), parsed, redis):
                click.echo(line)
        except BridgeError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
