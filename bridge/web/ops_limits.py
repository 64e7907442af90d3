"""Failed logins are rate-limited per client address and per user name (Flask-Limiter).

Every request that presents credentials (login form, Bearer or Basic header) and is answered
401 counts as one failure. After `ops.login_attempts` failures within `ops.login_window`
seconds, further attempts from that address, or for that user name, get 429 with Retry-After,
right or wrong, until the oldest failure leaves the (moving) window. Successful logins are
neither counted nor slowed; requests without credentials (a browser's first visit, a valid
session) are not attempts.

The counters live in the bridge's own Redis, through the app's existing connection pool, so
every web replica shares them. If Redis is unreachable the limits go on in memory, per
process, instead of failing open or breaking /metrics (which reports the outage).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from flask import Blueprint, Flask, Response, jsonify, render_template, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from redis import Redis

from bridge import keyspace
from bridge.settings.ops import OpsSettings
from bridge.web.ops_auth import attempted_user

CLIENT_SCOPE = "ops-auth-client"
USER_SCOPE = "ops-auth-user"


def _user_key() -> str:
    # Hashed: a name of any length (up to the body limit) gives a short key, and Redis never
    # holds the names people tried. Never empty: Flask-Limiter skips a limit with an empty key.
    name = (attempted_user() or "").encode("utf-8", "surrogatepass")
    return "user:" + hashlib.sha256(name).hexdigest()[:32]


def _no_credentials() -> bool:
    return attempted_user() is None


def _failed(response: Response) -> bool:
    return response.status_code == 401


def refusal(retry_after: int) -> Response:
    """429 for a browser (a page that says when to try again) or a script (JSON)."""
    text = f"Too many failed logins. Try again in {retry_after} seconds."
    wants_json = request.path.startswith("/metrics") or (
        request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    )
    if wants_json:
        response = jsonify(error="Too Many Requests", detail=text, retry_after=retry_after)
    else:
        body = render_template("ops/message.html", title="Too many attempts", status=429,
                               text=text, login=False)  # fmt: skip
        response = Response(body, mimetype="text/html")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def install_limits(
    app: Flask,
    ops: OpsSettings,
    redis: Redis,
    console: Blueprint,
    metrics: Blueprint,
    clock: Callable[[], float] = time.time,
) -> Limiter:
    """Limit the console's (and /metrics') failed logins; nothing else in the app is limited.

    `clock` only computes Retry-After; the windows themselves are the limits library's.
    """

    def on_breach(limit: RequestLimit) -> Response:
        return refusal(max(1, int(limit.reset_at - clock())))

    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri="redis://",  # the scheme only: the connection is the app's own pool
        storage_options={"connection_pool": redis.connection_pool},  # type: ignore[dict-item]
        strategy="moving-window",
        key_prefix=keyspace.OPS_LIMITS,
        in_memory_fallback_enabled=True,
        on_breach=on_breach,
    )
    window = f"{ops.login_attempts} per {ops.login_window} second"
    per_client = limiter.shared_limit(window, CLIENT_SCOPE, exempt_when=_no_credentials,
                                      deduct_when=_failed)  # fmt: skip
    per_user = limiter.shared_limit(window, USER_SCOPE, key_func=_user_key,
                                    exempt_when=_no_credentials, deduct_when=_failed)  # fmt: skip
    per_client(console)
    per_user(console)
    per_client(metrics)  # a metrics token is guessed per address; it has no user name

    # Checked before the app's generic HTTPException handler (which would drop Retry-After).
    app.register_error_handler(RateLimitExceeded, _breached)
    return limiter


def _breached(exc: RateLimitExceeded) -> Response:
    # on_breach always builds the response; the fallback only guards a limit added without it.
    return exc.response if isinstance(exc.response, Response) else refusal(60)
