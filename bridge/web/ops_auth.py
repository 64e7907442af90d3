"""Who may use the operator console, and CSRF protection for its actions.

Accepted: `Authorization: Bearer <ops.token>`, HTTP Basic with ops.username/ops.password, or a
console session from the login form (a signed cookie; it stops working when a credential
changes). Every POST carries the per-session CSRF token from that cookie, or is refused with 400.
Comparisons are constant-time; no credential is ever rendered or logged.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Any

from flask import Response, current_app, render_template, request, session

from bridge.ops.settings import OpsSettings

REALM = 'Basic realm="Ticket Bridge operator console", charset="UTF-8"'


def ops_settings() -> OpsSettings:
    ops = current_app.extensions["bridge"]["config"].ops
    assert ops is not None  # the blueprint is only registered with an ops section
    return ops


def _same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def check_credentials(ops: OpsSettings, username: str, password: str, token: str) -> bool:
    """The login form's check: the token, or username + password."""
    return _same(token, ops.token) or (
        _same(username, ops.username) and _same(password, ops.password)
    )


def header_user(ops: OpsSettings) -> str | None:
    """The operator named by the Authorization header, if it holds valid credentials."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and _same(value, ops.token):
        return "token"
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        if _same(user, ops.username) and _same(password, ops.password):
            return user
    return None


def session_user(ops: OpsSettings) -> str | None:
    user = session.get("ops_user")
    if user and _same(session.get("ops_cred"), ops.fingerprint()):
        return str(user)
    return None


def log_in(ops: OpsSettings, user: str) -> None:
    session.clear()
    session["ops_user"] = user
    session["ops_cred"] = ops.fingerprint()
    session["csrf"] = secrets.token_urlsafe(32)


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


def unauthorized() -> Response:
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
    if request.endpoint in ("ops.login", "static"):
        return bad_csrf() if request.method == "POST" and not csrf_ok() else None
    if current_user() is None:
        return unauthorized()
    if request.method == "POST" and not csrf_ok():
        return bad_csrf()
    return None
