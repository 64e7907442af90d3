"""The console's maintenance windows: the Pauses page, its Pause and Resume buttons, and the
banner every console page shows while something is paused.

Routes are added to the console's blueprint (attach), so they share its login guard, CSRF
check, redaction and security headers. The logic is bridge.pause and bridge.resume; this
module only reads forms and renders.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from redis.exceptions import RedisError

from bridge.pause import (
    PauseError,
    PauseStore,
    Scope,
    ScopeKind,
    check_scope,
    fmt_when,
    parse_until,
    scope_states,
)
from bridge.queue import get_queue
from bridge.resume import resume
from bridge.web import ops_auth


def _store() -> PauseStore:
    return PauseStore(current_app.extensions["bridge"]["redis"])


def _config() -> Any:
    return current_app.extensions["bridge"]["config"]


def pauses() -> Any:
    states = scope_states(_store(), _config())
    return render_template(
        "ops/pauses.html",
        routes=[s for s in states if s.scope.kind is ScopeKind.ROUTE],
        systems_states=[s for s in states if s.scope.kind is ScopeKind.SYSTEM],
        now=_store().clock(),
        systems=list(_config().systems),
    )


def _form_scope() -> Scope:
    try:
        scope = Scope.parse(request.form.get("scope", ""))
    except PauseError:
        raise PauseError("choose a route or a system to pause") from None
    return check_scope(_config(), scope)


def pause() -> Any:
    store = _store()
    try:
        scope = _form_scope()
        until_text = request.form.get("until", "").strip()
        until = parse_until(until_text, store.clock()) if until_text else None
        done = store.pause(
            scope, request.form.get("reason", ""), until, by=f"console:{ops_auth.current_user()}"
        )
    except PauseError as exc:
        flash(str(exc), "error")
    else:
        end = f" until {fmt_when(done.until)}" if done.until else " until resumed"
        flash(
            f"{scope.label.capitalize()} is paused{end}. Webhooks are still accepted and "
            "queued; nothing is sent to it.",
            "ok",
        )
    return redirect(url_for("ops.pauses"), 303)


def resume_view() -> Any:
    ext = current_app.extensions["bridge"]
    try:
        scope = _form_scope()
    except PauseError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ops.pauses"), 303)
    config, redis = _config(), ext["redis"]
    drained = resume(redis, config, ext["connectors"], get_queue(redis, config), scope)
    text = drained.summary()
    flash(text[:1].upper() + text[1:] + ".", "ok")
    return redirect(url_for("ops.pauses"), 303)


def banner() -> dict[str, Any]:
    """What base.html shows on every page while something is paused (not to a visitor who is
    not logged in: the login page tells nothing about the bridge)."""
    if request.endpoint in ("ops.login", "ops.static") or ops_auth.current_user() is None:
        return {"active_pauses": [], "paused_systems": set()}
    try:
        active = _store().active()
    except RedisError:  # the page itself says Redis is away; the banner adds nothing
        return {"active_pauses": [], "paused_systems": set()}
    systems = {p.scope.name for p in active if p.scope.kind is ScopeKind.SYSTEM}
    return {"active_pauses": active, "paused_systems": systems}


def attach(bp: Blueprint) -> None:
    bp.add_url_rule("/pauses", "pauses", pauses, methods=["GET"])
    bp.add_url_rule("/pauses/pause", "pause", pause, methods=["POST"])
    bp.add_url_rule("/pauses/resume", "resume", resume_view, methods=["POST"])
    bp.context_processor(banner)
    bp.add_app_template_filter(fmt_when, "when")
