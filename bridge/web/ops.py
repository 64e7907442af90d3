"""The operator console at /ops: what is stuck, why, for which ticket, and the buttons to fix it.

Server-rendered (Jinja2, no JavaScript), so it works from any browser at 3 a.m. Without an
`ops` config section the console is not registered at all (404). Every page is passed through
the secret redactor before it leaves, as a last line of defence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from bridge.config import Config
from bridge.ops.inspect import Inspector, OpsError, fmt_age
from bridge.ops.logs import redact, secrets_of
from bridge.web import ops_auth

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates")
bp.before_request(ops_auth.guard)


def _inspector() -> Inspector:
    ext = current_app.extensions["bridge"]
    return Inspector(ext["redis"], ext["config"], ext["connectors"])


@bp.after_request
def _redact(response: Response) -> Response:
    if response.mimetype == "text/html" and not response.direct_passthrough:
        secrets = current_app.extensions["bridge"]["ops_secrets"]
        response.set_data(redact(response.get_data(as_text=True), secrets))
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@bp.get("/")
def index() -> Any:
    ins = _inspector()
    failed = ins.failed_jobs()
    return render_template(
        "ops/index.html",
        overview=ins.queue_overview(),
        parked=[j for j in failed if j.parked],
        failed=[j for j in failed if not j.parked],
        sources=ins.sources(),
        waiting=ins.waiting(),
        systems=list(ins.config.systems),
    )


@bp.get("/search")
def search() -> Any:
    ins = _inspector()
    ticket = request.args.get("ticket", "").strip()
    system = request.args.get("system", "").strip() or None
    matches, error = [], None
    if ticket:
        try:
            matches = ins.search(ticket, system)
        except OpsError as exc:
            error = str(exc)
    return render_template(
        "ops/search.html",
        ticket=ticket,
        system=system or "",
        matches=matches,
        error=error,
        systems=list(ins.config.systems),
    )


def _job_action(action: Callable[[str], object], job_id: str, done: str) -> Any:
    """Run one job action, flash its outcome (or the reason it failed), back to the console."""
    try:
        action(job_id)
        flash(done, "ok")
    except OpsError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops.index"), 303)


@bp.post("/jobs/<job_id>/retry")
def retry(job_id: str) -> Any:
    return _job_action(_inspector().retry, job_id, f"Job {job_id} is queued again.")


@bp.post("/jobs/<job_id>/discard")
def discard(job_id: str) -> Any:
    return _job_action(_inspector().discard, job_id, f"Job {job_id} was discarded.")


@bp.post("/jobs/retry-all")
def retry_all() -> Any:
    done = _inspector().retry_all()
    flash(f"{len(done)} job(s) queued again.", "ok")
    return redirect(url_for("ops.index"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    ops = ops_auth.ops_settings()
    error = None
    if request.method == "POST":
        form = request.form
        if ops_auth.check_credentials(
            ops, form.get("username", ""), form.get("password", ""), form.get("token", "")
        ):
            ops_auth.log_in(ops, form.get("username") or "token")
            return redirect(url_for("ops.index"), 303)
        error = "Wrong credentials."
    status = 401 if error else 200
    return render_template("ops/login.html", error=error, ops=ops), status


@bp.post("/logout")
def logout() -> Any:
    from flask import session

    session.clear()
    return redirect(url_for("ops.login"), 303)


def install(app: Flask, config: Config) -> None:
    """Hook for create_app: /metrics always, the console only when `ops` is configured."""
    from bridge.web.metrics import bp as metrics_bp

    app.extensions["bridge"]["ops_secrets"] = secrets_of(config)
    app.register_blueprint(metrics_bp)
    app.jinja_env.filters["age"] = fmt_age
    app.jinja_env.globals["csrf_token"] = ops_auth.csrf_token
    if config.ops is None:
        return
    app.secret_key = config.ops.secret_key
    app.config.update(SESSION_COOKIE_NAME="bridge_ops", SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_HTTPONLY=True)  # fmt: skip
    app.register_blueprint(bp)
