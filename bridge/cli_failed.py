"""`bridge failed ...`: the failed and parked jobs, in a list, one in full, retried, discarded.

Attached by bridge.cli_ops; the reading is bridge.ops.inspect and bridge.ops.job_detail, the
same as the web console's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from bridge.cli_support import echo_json, table, timeline_table
from bridge.config import Config
from bridge.ops.inspect import FailedJob, Inspector, OpsError, fmt_age
from bridge.ops.job_detail import job_detail

Connect = Callable[[str | None], tuple[Config, Inspector]]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
TIMELINE_TAIL = 30  # entries of the pair's story `failed show` prints (--json has them all)


def _row(j: FailedJob) -> list[str]:
    return [j.id, "parked" if j.parked else "failed", fmt_age(j.age), j.ref, j.route,
            str(j.attempts or "-"), j.reason]  # fmt: skip


def _json(j: FailedJob) -> dict[str, Any]:
    return {**asdict(j), "ref": j.ref, "kind": "parked" if j.parked else "failed"}


def attach(
    main: click.Group, connect: Connect, config_option: Decorator, json_option: Decorator
) -> None:
    """Add the `failed` group to the `bridge` group."""

    @main.group()
    def failed() -> None:
        """Failed and parked jobs."""

    @failed.command("list")
    @config_option
    @json_option
    @click.option("--limit", type=click.IntRange(1), default=200, show_default=True,
                  help="Newest jobs shown.")  # fmt: skip
    def failed_list(config_path: str | None, as_json: bool, limit: int) -> None:
        """List failed and parked jobs, newest first, with the whole reason."""
        _, ins = connect(config_path)
        jobs = ins.failed_jobs(limit=limit)
        if as_json:
            echo_json([_json(j) for j in jobs])
            return
        if not jobs:
            click.echo("no failed or parked jobs")
            return
        headers = ["job", "kind", "age", "ticket", "route", "tries", "reason"]
        click.echo(table(headers, [_row(j) for j in jobs], wrap_last=True))

    @failed.command("show")
    @config_option
    @json_option
    @click.option("--traceback", "with_traceback", is_flag=True,
                  help="Also print the last failed run's traceback.")  # fmt: skip
    @click.argument("job_id")
    def failed_show(
        config_path: str | None, as_json: bool, with_traceback: bool, job_id: str
    ) -> None:
        """One job in full: its whole reason, tries, next retry and its ticket's timeline."""
        _, ins = connect(config_path)
        try:
            detail = job_detail(ins, job_id)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        if as_json:
            echo_json({**asdict(detail), "job": _json(detail.job)})
            return
        j = detail.job
        click.echo(f"job      {j.id} ({'parked' if j.parked else detail.status})")
        click.echo(f"what     {j.description}")
        click.echo(f"where    {j.ref or '-'}" + (f" on route {j.route}" if j.route else ""))
        click.echo(f"received {j.received_at or '-'} ({fmt_age(j.age)} ago)")
        click.echo(f"tries    {j.attempts} failed attempt(s)"
                   + (f" since {detail.failing_since}" if detail.failing_since else "")
                   + f", {detail.retries_left} retr(y/ies) left")  # fmt: skip
        click.echo(f"next     {detail.next_retry_note}")
        click.echo(f"reason   {j.reason}")
        if detail.traceback and with_traceback:
            click.echo("\ntraceback of the last failed run\n" + detail.traceback)
        elif detail.traceback:
            click.echo("(--traceback prints the last failed run's traceback)")
        if detail.timeline:
            tail = detail.timeline[-TIMELINE_TAIL:]
            more = len(detail.timeline) - len(tail)
            click.echo(f"\ntimeline{f' (last {len(tail)}, {more} earlier)' if more else ''}")
            click.echo(timeline_table(tail))

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
