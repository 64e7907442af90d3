"""`bridge failed inbox | group | rejected`: the failure inbox and the refused webhooks.

The same reading as the console's /ops/inbox (bridge.ops.inbox_ops); retry and discard of a
group are `bridge failed retry --group G` and `bridge failed discard --group G --yes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from bridge.cli_support import echo_json, table
from bridge.config import Config
from bridge.durations import fmt_age, parse_duration
from bridge.failures.inbox_model import Filter
from bridge.ops import inbox_ops
from bridge.ops.inbox_ops import GroupView
from bridge.ops.inspect import Inspector, OpsError
from bridge.telemetry import rejected

Connect = Callable[[str | None], tuple[Config, Inspector]]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
SAMPLE_SHOWN = 10  # ticket ids `failed group` prints (--json has every one the group keeps)


class DurationParam(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(f"{value!r} is not a duration: {exc}", param, ctx)


def view_json(v: GroupView) -> dict[str, Any]:
    g = v.group
    return {
        **asdict(g),
        "kind": g.kind.value,
        "outcome": g.outcome.value,
        "cause": g.cause,
        "sample": [{"route": r, "ticket": t} for r, t in g.sample],
        "next_retry": v.next_retry,
        "next": v.next_note,
        "running": v.running,
    }


def _row(v: GroupView, ins: Inspector) -> list[str]:
    g = v.group
    first, last = g.seen_age(ins.clock())
    tickets = "-" if g.kind.value == "poll" else f"{g.open_tickets}/{g.tickets}"
    return [g.id, g.system, g.outcome.value, str(g.count), tickets, fmt_age(first),
            fmt_age(last), str(g.attempts or "-"), f"{g.cause} | next: {v.next_note}"]  # fmt: skip


def attach(failed: click.Group, connect: Connect, config_option: Decorator,
           json_option: Decorator) -> None:  # fmt: skip
    """Add the inbox commands to the `bridge failed` group."""

    @failed.command("inbox")
    @config_option
    @json_option
    @click.option("--route", default="", help="Only groups with tickets on this route.")
    @click.option("--system", default="", help="Only groups of this system.")
    @click.option("--ticket", default="", help="Only the group of this ticket (either side).")
    @click.option("--newer-than", type=DurationParam(), help="First seen within, e.g. 1h.")
    @click.option("--older-than", type=DurationParam(), help="First seen longer ago, e.g. 1d.")
    @click.option("--closed", is_flag=True, help="The recently closed groups instead.")
    def inbox(
        config_path: str | None,
        as_json: bool,
        route: str,
        system: str,
        ticket: str,
        newer_than: float | None,
        older_than: float | None,
        closed: bool,
    ) -> None:
        """Failures grouped by system and cause: count, first and last seen, tickets, next
        retry. One line per group, however many tickets or polls it stands for."""
        _, ins = connect(config_path)
        tickets = inbox_ops.ticket_candidates(ins, ticket) if ticket else ()
        where = Filter(route, system, tickets, newer_than, older_than)
        views = [] if ticket and not tickets else inbox_ops.views(ins, where, closed=closed)
        if as_json:
            echo_json([view_json(v) for v in views])
            return
        if not views:
            click.echo("no " + ("closed " if closed else "open ") + "failure group"
                       + (" matches the filter" if where.active else ""))  # fmt: skip
            return
        headers = ["group", "system", "state", "count", "tickets", "first", "last", "tries",
                   "cause | next"]  # fmt: skip
        click.echo(table(headers, [_row(v, ins) for v in views], wrap_last=True))
        click.echo("\n`bridge failed group G` shows one in full; `bridge failed retry --group G`"
                   " or `discard --group G --yes` act on all of its jobs")  # fmt: skip

    @failed.command("group")
    @config_option
    @json_option
    @click.argument("group_id")
    def group(config_path: str | None, as_json: bool, group_id: str) -> None:
        """One failure group in full: the whole latest reason, its tickets and jobs."""
        _, ins = connect(config_path)
        try:
            found = inbox_ops.group_jobs(ins, group_id)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        v = inbox_ops.view(ins, found.group)
        if as_json:
            echo_json({**view_json(v), "failed_jobs": found.failed,
                       "scheduled_jobs": found.scheduled})  # fmt: skip
            return
        g = v.group
        first, last = g.seen_age(ins.clock())
        click.echo(f"group    {g.id} ({'open' if g.is_open else 'closed: ' + g.closed_why})")
        click.echo(f"system   {g.system} ({g.kind.value}"
                   + (f" on route {', '.join(g.routes)}" if g.routes else "") + ")")  # fmt: skip
        click.echo(f"cause    {g.cause} ({g.outcome.value})")
        click.echo(f"count    {g.count} failure(s)" + ("" if g.kind.value == "poll" else
                   f", {g.tickets} ticket(s), {g.open_tickets} not synced since"))  # fmt: skip
        click.echo(f"seen     first {g.first_seen} ({fmt_age(first)} ago), "
                   f"last {g.last_seen} ({fmt_age(last)} ago)")  # fmt: skip
        click.echo(f"tries    {g.attempts or '-'}" + (f" (latest job {g.last_job})"
                                                      if g.last_job else ""))  # fmt: skip
        click.echo(f"next     {v.next_note}")
        click.echo(f"jobs     {len(found.failed)} failed or parked, "
                   f"{len(found.scheduled)} waiting for a scheduled retry")  # fmt: skip
        click.echo(f"reason   {g.reason}")
        if g.sample:
            shown = ", ".join(f"{r}:{t}" for r, t in g.sample[:SAMPLE_SHOWN])
            more = g.tickets - min(len(g.sample), SAMPLE_SHOWN)
            click.echo(f"tickets  {shown}" + (f" and {more} more" if more > 0 else ""))

    @failed.command("rejected")
    @config_option
    @json_option
    @click.option("--system", default="", help="Only webhooks to this system.")
    @click.option("--limit", type=click.IntRange(1, rejected.KEPT), default=50,
                  show_default=True, help="Newest entries shown.")  # fmt: skip
    def refused(config_path: str | None, as_json: bool, system: str, limit: int) -> None:
        """The last webhooks the bridge refused (signature, body, size, unknown system)."""
        _, ins = connect(config_path)
        entries = rejected.latest(ins.redis, system, limit)
        if as_json:
            echo_json([asdict(e) for e in entries])
            return
        if not entries:
            click.echo("no rejected webhook" + (f" for {system}" if system else ""))
            return
        rows = [[e.at, e.system, str(e.status), e.remote_addr or "-", f"{e.reason}: {e.detail}"]
                for e in entries]  # fmt: skip
        click.echo(table(["at", "system", "status", "from", "reason"], rows, wrap_last=True))
