"""The console's failure inbox at /ops/inbox: groups with filters, one group in full, retry or
discard of a whole group behind a confirmation page, and the refused webhooks.

A blueprint nested in the console's (bridge.web.ops), so the console's login guard, CSRF
check, rate limits, redaction and security headers apply unchanged. Only rendering here: the
reading and the actions are bridge.ops.inbox_ops, the same as `bridge failed`'s.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from bridge.durations import parse_duration
from bridge.failures.inbox_model import Filter
from bridge.ops import inbox_ops
from bridge.ops.inspect import Inspector, OpsError
from bridge.telemetry import rejected

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

AGES = ("", "15m", "1h", "6h", "24h", "7d")  # the age filter's choices
JOBS_SHOWN = 200  # newest jobs a console list shows (/ops/jobs, a group's page)


def _inspector() -> Inspector:
    ext = current_app.extensions["bridge"]
    return Inspector(ext["redis"], ext["config"], ext["connectors"])


def _seconds(value: str, name: str, errors: list[str]) -> float | None:
    if not value:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        errors.append(f"{name}: {value!r} is not a duration ({exc})")
        return None


def _common(ins: Inspector) -> dict[str, Any]:
    return {
        "systems": list(ins.config.systems),
        "routes": [r.name for r in ins.config.routes],
        "route_first": {r.name: r.first for r in ins.config.routes},
    }


@bp.app_template_global()
def inbox_summary() -> dict[str, Any]:
    """For the overview page: how many groups are open, and the newest few."""
    ins = _inspector()
    views = inbox_ops.views(ins)
    return {
        "views": views[:5],
        "open": len(views),
        "tickets": sum(v.group.open_tickets for v in views),
        "now": ins.clock(),
        "route_first": _common(ins)["route_first"],
    }


@bp.get("/")
def groups() -> Any:
    ins = _inspector()
    args = request.args
    errors: list[str] = []
    route, system = args.get("route", "").strip(), args.get("in_system", "").strip()
    ticket = args.get("ticket_id", "").strip()
    where = Filter(
        route=route,
        system=system,
        tickets=inbox_ops.ticket_candidates(ins, ticket) if ticket else (),
        newer_than=_seconds(args.get("newer_than", ""), "appeared within", errors),
        older_than=_seconds(args.get("older_than", ""), "open for more than", errors),
    )
    closed = args.get("closed") == "1"
    views = inbox_ops.views(ins, where, closed=closed)
    if ticket and not where.tickets:
        views = []  # a ticket the bridge does not know has no failure
    return render_template(
        "ops/inbox.html",
        views=views,
        closed=closed,
        where=where,
        form={"route": route, "in_system": system, "ticket_id": ticket,
              "newer_than": args.get("newer_than", ""), "older_than": args.get("older_than", "")},
        ages=AGES,
        errors=errors,
        now=ins.clock(),
        **_common(ins),
    )  # fmt: skip


@bp.get("/g/<gid>")
def group(gid: str) -> Any:
    ins = _inspector()
    try:
        found = inbox_ops.group_jobs(ins, gid)
    except OpsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ops.inbox.groups"), 303)
    return render_template(
        "ops/inbox_group.html",
        view=inbox_ops.view(ins, found.group),
        jobs=found,
        failed_jobs=inbox_ops.failed_of(ins, found, JOBS_SHOWN),
        now=ins.clock(),
        **_common(ins),
    )


ACTIONS = {
    "retry": ("Retry", "queued again", inbox_ops.retry_group),
    "discard": ("Discard", "discarded", inbox_ops.discard_group),
}


@bp.get("/g/<gid>/<action>")
def confirm(gid: str, action: str) -> Any:
    """The confirmation step: what the action will touch, and one button to do it."""
    if action not in ACTIONS:
        return render_template("ops/message.html", message="No such action."), 404
    ins = _inspector()
    try:
        found = inbox_ops.group_jobs(ins, gid)
    except OpsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ops.inbox.groups"), 303)
    return render_template(
        "ops/inbox_confirm.html",
        action=action,
        label=ACTIONS[action][0],
        view=inbox_ops.view(ins, found.group),
        jobs=found,
        **_common(ins),
    )


@bp.post("/g/<gid>/<action>")
def act(gid: str, action: str) -> Any:
    if action not in ACTIONS:
        return render_template("ops/message.html", message="No such action."), 404
    if request.form.get("confirm") != "yes":  # not confirmed: show what it would do first
        return redirect(url_for("ops.inbox.confirm", gid=gid, action=action), 303)
    _, verb, run = ACTIONS[action]
    try:
        done = run(_inspector(), gid)
        flash(f"Group {gid}: {done.summary(verb)}.", "ok")
    except OpsError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops.inbox.groups"), 303)


@bp.get("/rejected")
def refused() -> Any:
    ins = _inspector()
    system = request.args.get("in_system", "").strip()
    return render_template(
        "ops/rejected.html",
        entries=rejected.latest(ins.redis, system),
        kept=rejected.KEPT,
        form={"in_system": system},
        **_common(ins),
    )
