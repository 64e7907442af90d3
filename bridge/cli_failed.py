"""`bridge failed ...`: the failed and parked jobs, in a list, one in full, retried, discarded
(one job, all of them, or a whole failure-inbox group).

Attached by bridge.cli_ops; the reading is bridge.ops.inspect and bridge.ops.job_detail, the
same as the web console's. The inbox's own commands (`inbox`, `group`, `rejected`) are in
bridge.cli_inbox.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from bridge.cli_inbox import attach as attach_inbox
from bridge.cli_support import echo_json, table, timeline_table
from bridge.config import Config
from bridge.durations import fmt_age
from bridge.ops import inbox_ops
from bridge.ops.inspect import Inspector, OpsError
from bridge.ops.job_detail import job_detail
from bridge.ops.overview import FailedJob

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
    @click.option("--group", "group_id", help="Retry every job of a failure-inbox group.")
    def failed_retry(
        config_path: str | None, job_id: str | None, retry_all: bool, group_id: str | None
    ) -> None:
        """Put a failed or parked job (or all of them, or a whole group) back on the queue."""
        if sum((bool(job_id), retry_all, bool(group_id))) != 1:
            raise click.UsageError("give a job id, --group G or --all")
        _, ins = connect(config_path)
        if group_id:
            try:
                done = inbox_ops.retry_group(ins, group_id)
            except OpsError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"group {group_id}: {done.summary('queued again')}")
            return
        if retry_all:
            done_ids = ins.retry_all()
            click.echo(f"{len(done_ids)} job(s) queued again")
            return
        try:
            ins.retry(str(job_id))
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"job {job_id} queued again")

    @failed.command("discard")
    @config_option
    @click.argument("job_id", required=False)
    @click.option("--group", "group_id", help="Discard every failed job of a failure-inbox group.")
    @click.option("--yes", is_flag=True, help="Do not ask before discarding a group.")
    def failed_discard(
        config_path: str | None, job_id: str | None, group_id: str | None, yes: bool
    ) -> None:
        """Delete a failed or parked job (or every one of a group) for good."""
        if bool(job_id) == bool(group_id):
            raise click.UsageError("give a job id or --group G")
        _, ins = connect(config_path)
        if group_id:
            try:
                found = inbox_ops.group_jobs(ins, group_id)
                _confirm_discard(found, yes)
                done = inbox_ops.discard_group(ins, group_id)
            except OpsError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"group {group_id}: {done.summary('discarded')}; the entry is closed")
            return
        try:
            ins.discard(str(job_id))
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"job {job_id} discarded")

    attach_inbox(failed, connect, config_option, json_option)


def _confirm_discard(found: inbox_ops.GroupJobs, yes: bool) -> None:
    """Discarding is for good: asked in a terminal, `--yes` elsewhere (scripts, cron)."""
    if yes:
        return
    question = (f"discard {len(found.failed)} job(s) of group {found.group.id} "
                f"({found.group.system}: {found.group.cause}) for good?")  # fmt: skip
    if not sys.stdin.isatty():
        raise click.UsageError(f"{question} Add --yes to confirm.")
    click.confirm(question, abort=True)
