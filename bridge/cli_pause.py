"""`bridge pause` and `bridge resume`: a maintenance window for a route or a system.

Attached to the `bridge` group by bridge.cli_ops. The state is in Redis (bridge.pause), so a
pause set here holds every worker, the cron's polls and the console at once; a resume queues
what was held (bridge.resume).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from bridge.cli_support import echo_json
from bridge.config import Config
from bridge.durations import fmt_age
from bridge.ops.inspect import Inspector
from bridge.pause import (
    Pause,
    PauseError,
    PauseStore,
    Scope,
    ScopeKind,
    ScopeState,
    check_scope,
    fmt_when,
    parse_until,
    scope_states,
)
from bridge.resume import resume

Connect = Callable[[str | None], tuple[Config, Inspector]]


def operator_name() -> str:
    """Who paused, for the record: the login name of whoever ran the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"


def _scope(config: Config, route: str | None, system: str | None) -> Scope:
    if bool(route) == bool(system):
        raise click.UsageError("name exactly one of --route or --system")
    scope = Scope(ScopeKind.ROUTE, route) if route else Scope(ScopeKind.SYSTEM, str(system))
    try:
        return check_scope(config, scope)
    except PauseError as exc:
        raise click.UsageError(str(exc)) from None


def describe(pause: Pause, now: datetime) -> str:
    """`system vendor paused 12 min ago (since ...), until ...: reason`."""
    ago = fmt_age((now - pause.since).total_seconds())
    until = f", until {fmt_when(pause.until)}" if pause.until else ", until resumed"
    ended = "" if pause.active(now) else " (run out; resumed at the cron's next tick)"
    reason = f": {pause.reason}" if pause.reason else ""
    since = fmt_when(pause.since)
    return f"{pause.scope.label} paused {ago} ago (since {since}{until}){ended}{reason}"


def status_lines(states: list[ScopeState], now: datetime) -> list[str]:
    """What `bridge status` says about pauses: one line per paused (or held-from) scope."""
    lines = []
    for state in states:
        if state.pause is not None:
            lines.append(f"PAUSED: {describe(state.pause, now)}; {state.held} pair(s) held")
        elif state.held:
            lines.append(f"held: {state.held} pair(s) of {state.scope.label} wait for a resume")
    return lines


def attach(main: click.Group, connect: Connect, config_option: Any, json_option: Any) -> None:
    route_option = click.option("--route", help="Pause every sync of this route.")
    system_option = click.option("--system", help="Pause everything that talks to this system.")

    @main.command()
    @config_option
    @route_option
    @system_option
    @click.option("--reason", default="", help="Why (shown in the console and status).")
    @click.option(
        "--until", "until_text", metavar="ISO|DURATION",
        help="End by itself at this time (ISO 8601, UTC unless an offset is given) or after "
             "this long (90m, 2h, 1d); default: until `bridge resume`.",
    )  # fmt: skip
    @json_option
    def pause(
        config_path: str | None,
        route: str | None,
        system: str | None,
        reason: str,
        until_text: str | None,
        as_json: bool,
    ) -> None:
        """Pause a route or a system for a maintenance window.

        Webhooks are still accepted and queued; syncs that would talk to it wait (not retried,
        not failed), polls of a paused system are skipped. `bridge resume` syncs what waited.
        """
        config, ins = connect(config_path)
        scope = _scope(config, route, system)
        store = PauseStore(ins.redis, ins.clock)
        try:
            until = parse_until(until_text, ins.clock()) if until_text else None
            done = store.pause(scope, reason, until, by=operator_name())
        except PauseError as exc:
            raise click.UsageError(str(exc)) from None
        if as_json:
            echo_json(done.as_dict(ins.clock()))
            return
        click.echo(describe(done, ins.clock()))
        what = "syncs of it wait" if scope.kind is ScopeKind.ROUTE else (
            f"syncs touching {scope.name} wait and its polls are skipped"
        )  # fmt: skip
        click.echo(f"webhooks are still accepted and queued; {what}")
        click.echo(f"end it with: bridge resume --{scope.kind.value} {scope.name}")

    @main.command("resume")
    @config_option
    @click.option("--route", help="End the pause of this route.")
    @click.option("--system", help="End the pause of this system.")
    @json_option
    def resume_cmd(
        config_path: str | None, route: str | None, system: str | None, as_json: bool
    ) -> None:
        """End a pause: queue a sync of every pair it held (and a poll of a polled system)."""
        config, ins = connect(config_path)
        scope = _scope(config, route, system)
        drained = resume(ins.redis, config, ins.connectors, ins.queue, scope, ins.clock)
        if as_json:
            echo_json(drained.as_dict())
            return
        click.echo(drained.summary())

    @main.command("pauses")
    @config_option
    @json_option
    def pauses_cmd(config_path: str | None, as_json: bool) -> None:
        """Every route and system: paused or running, since when, until when, pairs held."""
        config, ins = connect(config_path)
        states = scope_states(PauseStore(ins.redis, ins.clock), config)
        if as_json:
            echo_json([s.as_dict() for s in states])
            return
        now = ins.clock()
        for state in states:
            if state.pause is not None:
                click.echo(f"{describe(state.pause, now)}; {state.held} pair(s) held")
            else:
                held = f" ({state.held} pair(s) held: resume it)" if state.held else ""
                click.echo(f"{state.scope.label}: running{held}")
