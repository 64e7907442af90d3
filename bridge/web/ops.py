"""The operator console at /ops: what is stuck, why, for which ticket, and the buttons to fix it.

Server-rendered (Jinja2, no JavaScript, one static style sheet), so it works from any browser
at 3 a.m. and a strict Content-Security-Policy costs nothing. Without an `ops` config section
the console is not registered at all (404). Every page is passed through the secret redactor
before it leaves, as a last line of defence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
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
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge.config import Config
from bridge.durations import fmt_age
from bridge.maintenance import PULSE_EVERY
from bridge.ops import alert_log
from bridge.ops.inspect import Inspector, OpsError
from bridge.ops.timeline import Narrator
from bridge.settings.ops import session_secret
from bridge.telemetry.logs import redact, secrets_of
from bridge.telemetry.metrics import parse_time
from bridge.web import ops_auth, ops_pause
from bridge.web.ops_inbox import JOBS_SHOWN
from bridge.web.ops_inbox import bp as inbox_bp
from bridge.web.ops_limits import install_limits
from bridge.web.ops_sessions import install_sessions

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates",
               static_folder="static/ops", static_url_path="/static")  # fmt: skip
bp.before_request(ops_auth.guard)
ops_pause.attach(bp)  # /ops/pauses: maintenance windows
bp.register_blueprint(inbox_bp)  # /ops/inbox: the failure inbox, under the same guard

# No script and no inline style anywhere in the console: everything else is refused.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Search URLs name tickets; a link out to a tracker must not carry them along.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def fmt_stamp(iso: str | None) -> str:
    """`2030-06-01 03:05:10 UTC` for a stored ISO time (the raw value is in the cell's title);
    what cannot be read is shown as it is."""
    moment = parse_time(iso)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else (iso or "")


def _inspector() -> Inspector:
    ext = current_app.extensions["bridge"]
    return Inspector(ext["redis"], ext["config"], ext["connectors"])


@bp.after_request
def _finish(response: Response) -> Response:
    """Redact, and the security headers on every console response (401, 429 and login too)."""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        secrets = current_app.extensions["bridge"]["ops_secrets"]
        response.set_data(redact(response.get_data(as_text=True), secrets))
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.get("/")
def index() -> Any:
    """The failures only as the inbox's groups: one row per system and cause, not one per job
    (a revoked token would flood the page with identical rows); the jobs are one click away."""
    ins = _inspector()
    return render_template(
        "ops/index.html",
        overview=ins.queue_overview(),
        sources=ins.sources(),
        waiting=ins.waiting(),
        systems=list(ins.config.systems),
        pulse_every=PULSE_EVERY,
        alerts=None if ins.config.alerts is None else alert_log.view(ins.redis, ins.config.alerts),
        now=ins.clock(),
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
        narrator=Narrator(ins.config),
    )


@bp.get("/jobs")
def jobs() -> Any:
    """Every failed and parked job one by one, for the operator who needs a single job (its id,
    its own reason) rather than its group."""
    ins = _inspector()
    failed = ins.failed_jobs(JOBS_SHOWN)
    return render_template(
        "ops/jobs.html",
        parked=[j for j in failed if j.parked],
        failed=[j for j in failed if not j.parked],
        shown=JOBS_SHOWN,
        systems=list(ins.config.systems),
    )


def _back() -> Any:
    """To the page the button was on (the job list or a failure group), never off the console."""
    target = ops_auth.safe_next(request.form.get("next"))
    return redirect(target or url_for("ops.jobs"), 303)


def _job_action(action: Callable[[str], object], job_id: str, done: str) -> Any:
    """Run one job action, flash its outcome (or the reason it failed), back to the list."""
    try:
        action(job_id)
        flash(done, "ok")
    except OpsError as exc:
        flash(str(exc), "error")
    return _back()


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
    return _back()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    ops = ops_auth.ops_settings()
    error = None
    target = ops_auth.safe_next(request.values.get("next"))
    if request.method == "POST":
        form = request.form
        token, user = form.get("token", ""), form.get("username", "")
        if ops_auth.check_credentials(ops, user, form.get("password", ""), token):
            ops_auth.log_in(ops, ops_auth.TOKEN_USER if token else user)
            return redirect(target or url_for("ops.index"), 303)
        error = "Wrong credentials."  # a 401: counted by ops_limits
    status = 401 if error else 200
    return render_template("ops/login.html", error=error, ops=ops, next=target), status


@bp.post("/logout")
def logout() -> Any:
    ops_auth.log_out()
    return redirect(url_for("ops.login"), 303)


def install(app: Flask, config: Config) -> None:
    """Hook for create_app: /metrics always, the console only when `ops` is configured."""
    from bridge.web.metrics import bp as metrics_bp

    app.extensions["bridge"]["ops_secrets"] = secrets_of(config)
    app.register_blueprint(metrics_bp)
    app.jinja_env.filters["age"] = fmt_age
    app.jinja_env.filters["stamp"] = fmt_stamp
    app.jinja_env.globals["csrf_token"] = ops_auth.csrf_token
    ops = config.ops
    if ops is None:
        return
    ext = app.extensions["bridge"]
    key = session_secret(ops, config.data_dir)  # configured, or generated once in data_dir
    ext["ops_key"] = key
    ext["ops_secrets"] = sorted({*ext["ops_secrets"], key}, key=len, reverse=True)
    if ops.trusted_proxies:
        # Client address (rate limits) and https (Secure cookie) as the proxies saw them.
        n = ops.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    install_sessions(app, ops, ext["redis"], key)
    install_limits(app, ops, ext["redis"], bp, metrics_bp)
    app.register_blueprint(bp)
