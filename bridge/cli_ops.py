"""Operator commands: status, links, resync, manual link, dry-run, online check.

Attached to the `bridge` group by bridge.cli (attach()); the failed-job commands live in
bridge.cli_failed. They read and act on Redis and the queue through bridge.ops.inspect, the
same reader as the web console, so both always agree. `dry-run`, `check-config --online` and
the existence check of `resync` and `link` read from ticket systems but never write to them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from bridge.checks import check_system
from bridge.cli_alerts import attach as attach_alerts
from bridge.cli_failed import attach as attach_failed
from bridge.cli_pause import attach as attach_pause
from bridge.cli_pause import status_lines
from bridge.cli_support import (
    ProblemFound,
    echo_json,
    open_redis,
    socket_of,
    system_failure,
    table,
    timeline_table,
)
from bridge.cli_support import redis_url as redis_url_of
from bridge.config import Config
from bridge.durations import fmt_age
from bridge.errors import BridgeError, PermanentError, RetryableError
from bridge.exit_codes import ExitCode
from bridge.findings import Level, worst
from bridge.models import SystemRef
from bridge.ops import actions
from bridge.ops.inspect import Inspector, OpsError
from bridge.ops.overview import Match, QueueOverview, SourceHealth
from bridge.pause import Pause, PauseStore, ScopeKind, not_contacted, scope_states

CONFIG_HELP = "Config file (default: $BRIDGE_CONFIG)."
JSON_HELP = "Print one JSON document instead of the table."
Loader = Callable[[str | None], Config]


def check_online(
    config: Config, echo: Callable[[str], Any], paused: Mapping[str, Pause] | None = None
) -> ExitCode:
    """Check every system live (read-only): credentials, then what the mappings use there.

    Each system's findings come from its connector's check module (bridge.checks); a system
    that refuses the credentials is FAILED (a problem), one that cannot be reached is
    UNREACHABLE. UNREACHABLE outranks PROBLEM: the check of that system did not happen at all.
    A system in `paused` is not asked at all (nothing is sent to it in its maintenance window)
    and counts as no problem, as in `bridge status`; None: the pauses are not known.
    """
    code = ExitCode.OK
    if paused is None:
        echo("  (Redis not reached: pauses are not known; every system is checked)")
    for name in config.systems:
        if paused and name in paused:
            echo(f"  {not_contacted(paused[name])}")
            continue
        try:
            findings = check_system(config, name)
        except RetryableError as exc:
            code = ExitCode.UNREACHABLE
            echo(f"  {name}: FAILED, cannot reach it: {exc}")
            continue
        except BridgeError as exc:
            code = max(code, ExitCode.PROBLEM)
            echo(f"  {name}: FAILED {exc}")
            continue
        level = worst(findings)
        if level is Level.PROBLEM:
            code = max(code, ExitCode.PROBLEM)
        echo(f"  {name}: {_HEADINGS[level]}")
        for finding in findings:
            echo(f"    {_MARKS[finding.level]} {finding.text}")
    return code


_HEADINGS = {Level.OK: "OK", Level.WARNING: "OK with warnings", Level.PROBLEM: "PROBLEMS"}
_MARKS = {Level.OK: "ok     ", Level.WARNING: "warning", Level.PROBLEM: "PROBLEM"}


def status_problems(overview: QueueOverview, sources: list[SourceHealth]) -> list[str]:
    """What makes `bridge status` exit PROBLEM: nothing is synced, or a system went quiet."""
    problems = []
    if not overview.workers:
        stale = len(overview.stale_workers)
        problems.append(
            f"no live worker listens on queue {overview.name}: nothing will be synced"
            + (f" ({stale} registration(s) without a pulse: killed workers)" if stale else "")
        )
    for s in sources:
        if s.alert:
            heard = (
                f"last heard from {fmt_age(s.silent_for)} ago"
                if s.last_seen
                else "never heard from"
            )
            problems.append(
                f"system {s.system} is SILENT: {heard} (alert after {fmt_age(s.threshold)})"
            )
    return problems


def _status_text(
    o: QueueOverview, sources: list[SourceHealth], waiting: int, paused: set[str]
) -> None:
    click.echo(
        f"queue {o.name}: {o.queued} queued, {o.waiting_slot} waiting for their ticket's "
        f"slot, {o.started} running, {o.scheduled} scheduled, "
        f"{o.parked} parked, {o.failed - o.parked} failed, {len(o.workers)} live worker(s)"
    )
    rows = [
        [w.name, w.state if w.alive else "dead (no pulse)", w.current_job or "-",
         fmt_age(w.heartbeat_age) + (" ago" if w.heartbeat_age is not None else "")]
        for w in [*o.workers, *o.stale_workers]
    ]  # fmt: skip
    if rows:
        click.echo("\n" + table(["worker", "state", "job", "heartbeat"], rows))
    rows = [
        [
            s.system,
            s.mode,
            fmt_age(s.silent_for) + (" ago" if s.last_seen else ""),
            (fmt_age(s.poll_lag) + " ago") if s.poll_last_ok else "-",
            fmt_age(s.threshold),
            "PAUSED" if s.system in paused else "SILENT" if s.alert else "ok",
        ]
        for s in sources
    ]
    click.echo(
        "\n" + table(["system", "how", "last seen", "poll lag", "alert after", "state"], rows)
    )
    click.echo(f"\n{waiting} escalation(s) waiting for data")


def _source_json(s: SourceHealth, paused: bool) -> dict[str, Any]:
    return {**asdict(s), "silent": s.alert and not paused, "paused": paused}


def _match_json(m: Match) -> dict[str, Any]:
    return {
        "ref": str(m.ref),
        "route": m.route,
        "link": None if m.link is None else {**asdict(m.link), "first": str(m.link.first),
                                             "second": str(m.link.second)},
        "waiting": m.waiting,
        "timeline": m.timeline,
        "not_copied": [asdict(item) for item in m.not_copied],
    }  # fmt: skip


def require_ticket(ins: Inspector, ref: SystemRef) -> None:
    """Read the ticket on its system before an action queues anything for it: a mistyped id
    is refused now, not parked with a 404 by the job later. A paused system is not asked
    (nothing is sent to it during its maintenance window): the sync waits for its resume."""
    if PauseStore(ins.redis, ins.clock).system_paused(ref.system) is not None:
        click.echo(f"{ref.system} is paused: {ref} not read; its sync waits for the resume")
        return
    try:
        exists = ins.ticket_exists(ref)
    except RetryableError as exc:
        raise system_failure(ref.system, exc) from None
    except PermanentError as exc:
        raise ProblemFound(f"cannot read {ref} on its system: {exc}; nothing queued") from None
    except OpsError as exc:
        raise click.ClickException(str(exc)) from None
    if not exists:
        raise ProblemFound(f"{ref.system} has no ticket {ref.id}: nothing queued (check the id)")


def attach(main: click.Group, load: Loader) -> None:
    """Add the operator commands to the `bridge` group."""

    def connect(config_path: str | None) -> tuple[Config, Inspector]:
        config = load(config_path)
        return config, Inspector(open_redis(config), config)

    config_option = click.option("--config", "config_path", help=CONFIG_HELP)
    json_option = click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
    attach_failed(main, connect, config_option, json_option)
    attach_pause(main, connect, config_option, json_option)
    attach_alerts(main, load, config_option)

    @main.command()
    @config_option
    @json_option
    @click.pass_context
    def status(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
        """Queues, workers, failed/parked jobs and when each system was last heard from.

        Exits 1 when no live worker listens or a system is SILENT, 3 when Redis cannot be
        reached.
        """
        config, ins = connect(config_path)
        overview = ins.queue_overview()
        sources = ins.sources()
        waiting = ins.waiting()
        states = scope_states(PauseStore(ins.redis, ins.clock), config)
        # A system in its maintenance window is quiet on purpose: not a SILENT problem.
        paused = {s.scope.name for s in states if s.paused and s.scope.kind is ScopeKind.SYSTEM}
        problems = status_problems(overview, [s for s in sources if s.system not in paused])
        if as_json:
            echo_json(
                {
                    "queue": asdict(overview),
                    "systems": [_source_json(s, s.system in paused) for s in sources],
                    "pauses": [s.as_dict() for s in states if s.pause is not None or s.held],
                    "waiting_for_data": len(waiting),
                    "problems": problems,
                }
            )
        else:
            _status_text(overview, sources, len(waiting), paused)
            for line in status_lines(states, ins.clock()):
                click.echo(line)
            for problem in problems:
                click.echo(f"PROBLEM: {problem}")
        if problems:
            ctx.exit(ExitCode.PROBLEM)

    @main.group()
    def links() -> None:
        """Links between first- and second-level tickets."""

    @links.command("show")
    @config_option
    @json_option
    @click.argument("system")
    @click.argument("ticket")
    def links_show(config_path: str | None, as_json: bool, system: str, ticket: str) -> None:
        """A ticket's link and its sync timeline (both sides, oldest first)."""
        _, ins = connect(config_path)
        try:
            matches = ins.search(ticket, system)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        if not matches:
            raise ProblemFound(f"the bridge knows nothing about {system}#{ticket}")
        if as_json:
            echo_json([_match_json(m) for m in matches])
            return
        for m in matches:
            if m.link is not None:
                click.echo(f"{m.link.first} <-> {m.link.second} on route {m.route}")
                click.echo(f"  url {m.link.second_url}, linked {m.link.created_at}")
            elif m.waiting is not None:
                click.echo(f"{m.ref}: not escalated, waiting for {', '.join(m.waiting['missing'])}")
            else:
                click.echo(f"{m.ref}: not linked")
            click.echo(timeline_table(m.timeline, ins.config))

    @main.command()
    @config_option
    @click.argument("system")
    @click.argument("ticket")
    def resync(config_path: str | None, system: str, ticket: str) -> None:
        """Queue a fresh sync of the pair a ticket belongs to (after reading the ticket on its
        system: a ticket it does not have is refused, exit 1, nothing queued)."""
        _, ins = connect(config_path)
        ticket = ticket.strip().lstrip("#")
        require_ticket(ins, SystemRef(system, ticket))
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
        a, b = SystemRef(system_a, ticket_a), SystemRef(system_b, ticket_b)
        for ref in (a, b):
            require_ticket(ins, ref)
        try:
            record = actions.link(ins, a, b)
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
        # Without Redis (no URL and no embedded Redis running) it still explains, assuming
        # no links exist.
        path = socket_of(redis_url_of(config))
        redis = None if path is not None and not path.exists() else open_redis(config)
        pauses = PauseStore(redis) if redis is not None else None
        try:
            for line in explain(config, system, payload.read_bytes(), parsed, redis, pauses):
                click.echo(line)
        except RetryableError:
            raise  # the group's one line: a system could not be reached
        except BridgeError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
