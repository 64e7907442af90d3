"""Who may use the operator console, and CSRF protection for its actions.

Accepted: `Authorization: Bearer <ops.token>`, HTTP Basic with ops.username/ops.password, or a
console session from the login form (kept in Redis, see ops_sessions; it stops working when a
credential changes and is deleted at logout). Without a login, a browser (it asks for HTML and
sends no Authorization header) is sent to the login page and back to where it was going; a
script gets 401 with a Basic challenge, as before. Every POST carries the per-session CSRF token,
or is refused with 400. Comparisons are constant-time; no credential is ever rendered or
logged. Failed attempts are counted by ops_limits, using `attempted_user` to name them.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as ResponseBase

from bridge.settings.ops import OpsSettings
from bridge.web.ops_sessions import ConsoleSessions

REALM = 'Basic realm="Ticket Bridge operator console", charset="UTF-8"'
TOKEN_USER = "token"  # the name a token login counts against (the token has no user)


def ops_settings() -> OpsSettings:
    ops = current_app.extensions["bridge"]["config"].ops
    assert ops is not None  # the blueprint is only registered with an ops section
    return ops


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic() -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic` header, if it is one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ("", "")  # an attempt all the same: it is counted, under the client address
    user, _, password = decoded.partition(":")
    return user, password


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def attempted_user() -> str | None:
    """The name this request tries to authenticate as, or None when it presents nothing.

    A form with a token is checked as a token login only (see check_credentials), so the
    attempt always counts against the name that was really tested.
    """
    form = request.form if request.method == "POST" else {}
    if form.get("token"):
        return TOKEN_USER
    if form.get("username") or form.get("password"):
        return str(form.get("username", ""))
    if _bearer() is not None:
        return TOKEN_USER
    basic = _basic()
    return basic[0] if basic is not None else None


def check_credentials(ops: OpsSettings, username: str, password: str, token: str) -> bool:
    """The login form's check: the token when one is given, else username + password."""
    if token:
        return _same(token, ops.token)
    return _same(username, ops.username) and _same(password, ops.password)


def header_user(ops: OpsSettings) -> str | None:
    """The operator named by the Authorization header, if it holds valid credentials."""
    if _same(_bearer(), ops.token):
        return TOKEN_USER
    basic = _basic()
    if basic and _same(basic[0], ops.username) and _same(basic[1], ops.password):
        return basic[0]
    return None


def metrics_allowed(ops: OpsSettings | None) -> bool:
    """/metrics is open unless `ops.metrics_token` or `ops.protect_metrics` asks for a login."""
    if ops is None or not (ops.metrics_token or ops.protect_metrics):
        return True
    if ops.metrics_token and _same(_bearer(), ops.metrics_token):
        return True
    return ops.protect_metrics and header_user(ops) is not None


def _session_key() -> str:
    return str(current_app.extensions["bridge"]["ops_key"])


def session_user(ops: OpsSettings) -> str | None:
    user = session.get("ops_user")
    if not user:
        return None
    if _same(session.get("ops_cred"), ops.fingerprint(_session_key())):
        return str(user)
    session.clear()  # made under other credentials: delete it rather than keep renewing it
    return None


def log_in(ops: OpsSettings, user: str) -> None:
    session.clear()
    session["ops_user"] = user
    session["ops_cred"] = ops.fingerprint(_session_key())
    session["csrf"] = secrets.token_urlsafe(32)
    interface = current_app.session_interface
    assert isinstance(interface, ConsoleSessions)  # installed with the blueprint
    interface.new_id(session)


def log_out() -> None:
    session.clear()  # an empty, modified session is deleted from Redis with its cookie


def current_user() -> str | None:
    ops = ops_settings()
    return header_user(ops) or session_user(ops)


def csrf_token() -> str:
    """The session's CSRF token (created on first use); forms carry it in a hidden field."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def csrf_ok() -> bool:
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    return _same(given, session.get("csrf"))


def wants_login_page() -> bool:
    """A browser on its way in: it asks for HTML and presents no credentials of its own.

    A script presents its Bearer or Basic header (a wrong one must be answered 401, and
    counted), or asks for something other than HTML (curl sends `*/*`).
    """
    if request.headers.get("Authorization"):
        return False
    return any(
        mime in ("text/html", "application/xhtml+xml") for mime, _ in request.accept_mimetypes
    )


def safe_next(target: str | None) -> str | None:
    """Where to go after the login: a console path on this host, never another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith("/ops/"):
        return None
    return target


def unauthorized() -> ResponseBase:
    if wants_login_page():
        # Back to the page after the login; a form post whose session ran out goes to the
        # overview (its URL only takes a POST, and the console sends no Referer).
        target = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
        return redirect(url_for("ops.login", next=target), 303)
    body = render_template("ops/message.html", title="Log in", status=401,
                           text="The operator console needs a login.", login=True)  # fmt: skip
    return Response(body, 401, {"WWW-Authenticate": REALM})


def bad_csrf() -> Response:
    body = render_template(
        "ops/message.html",
        title="Form expired",
        status=400,
        text="The form's security token is missing or wrong. Reload the page and try again.",
        login=False,
    )
    return Response(body, 400)


def guard() -> Any:
    """before_request of the console: log-in page is open, everything else needs a user."""
    if request.endpoint in ("ops.login", "ops.static"):
        return bad_csrf() if request.method == "POST" and not csrf_ok() else None
    if current_user() is None:
        return unauthorized()
    if request.method == "POST" and not csrf_ok():
        return bad_csrf()
    return None
