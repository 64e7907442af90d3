"""Console sessions kept in Redis (Flask-Session): the cookie holds only a random id.

A signed cookie that carries the session can be tested offline against guessed keys, and it
stays valid after logout. Here the cookie is `secrets.token_urlsafe(32)`, the session lives in
the bridge's own Redis under `keyspace.OPS_SESSION` + id with a TTL of `ops.session_lifetime`
(renewed on every request), and logout deletes it. Flask-Session takes the existing connection,
so no second Redis client or setting is needed.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from flask.sessions import SessionMixin
from flask_session.redis import RedisSessionInterface
from redis import Redis

from bridge import keyspace
from bridge.settings.ops import CookieSecure, OpsSettings

COOKIE_NAME = "bridge_ops"


class ConsoleSessions(RedisSessionInterface):
    """Flask-Session's Redis store with a `Secure` flag that can follow the request's scheme."""

    def __init__(self, app: Flask, redis: Redis, secure: CookieSecure) -> None:
        super().__init__(app, client=redis, key_prefix=keyspace.OPS_SESSION, use_signer=False,
                         permanent=True, sid_length=32)  # fmt: skip
        self.secure = secure

    def get_cookie_secure(self, app: Flask) -> bool:
        # Flask's hook for the flag; `auto` needs the request, which a static setting cannot see.
        if self.secure is CookieSecure.AUTO:
            return bool(request.is_secure)
        return self.secure is CookieSecure.ALWAYS

    def new_id(self, session: SessionMixin) -> None:
        """A fresh id at login (the pre-login one is deleted): no session fixation."""
        self.regenerate(session)


def install_sessions(app: Flask, ops: OpsSettings, redis: Redis, key: str) -> None:
    app.secret_key = key
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=ops.session_lifetime),
        SESSION_REFRESH_EACH_REQUEST=True,
    )
    app.session_interface = ConsoleSessions(app, redis, ops.cookie_secure)
