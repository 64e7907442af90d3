"""The console's defences, on the stack's real Redis: lockouts, server-side sessions, the key.

Rate-limit windows are an hour long, so no test can cross one; the `redis` fixture flushes the
counters (and sessions) between tests. Client addresses are only WSGI environ values here.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge import keyspace
from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.sandbox.stack import Stack
from bridge.settings.ops import SECRET_KEY_FILE
from bridge.web import create_app
from bridge.web.ops_sessions import COOKIE_NAME
from tests.integration.ops_helpers import OPS, bearer, csrf_of, ops_app
from tests.unit.test_config import GOOD, write

LIMITED: dict[str, Any] = {"login_attempts": 3, "login_window": 3600}
RIGHT = {"username": OPS["username"], "password": OPS["password"]}
WRONG = {"username": OPS["username"], "password": "wrong password"}


def login(client: FlaskClient, addr: str = "127.0.0.1", **form: str) -> TestResponse:
    """GET the form for its CSRF token, then POST it, both from `addr`."""
    env = {"REMOTE_ADDR": addr}
    token = csrf_of(client, "/ops/login", environ_base=env)
    return client.post("/ops/login", data={"csrf_token": token, **form}, environ_base=env)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_refused(response: TestResponse, window: int = 3600) -> int:
    assert response.status_code == 429, response.get_data(as_text=True)[:300]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= window
    return retry_after


def sid_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    return cookie.value


def test_wrong_logins_lock_the_user_name_from_any_address(stack: Stack) -> None:
    app = ops_app(stack, **LIMITED)
    for i in range(3):  # three addresses, one wrong password each
        assert login(app.test_client(), f"127.0.0.{i + 2}", **WRONG).status_code == 401
    # The fourth attempt for that user is refused even with the right password, from anywhere.
    refused = login(app.test_client(), "127.0.0.9", **RIGHT)
    assert_refused(refused)
    page = refused.get_data(as_text=True)
    assert "Too many failed logins" in page and refused.mimetype == "text/html"
    basic_refused = app.test_client().get(
        "/ops/", headers=basic(OPS["username"], OPS["password"]),
        environ_base={"REMOTE_ADDR": "127.0.0.10"})  # fmt: skip
    assert_refused(basic_refused)
    scripted = app.test_client().get(
        "/ops/", headers={**basic(OPS["username"], "x"), "Accept": "application/json"}
    )
    assert_refused(scripted)
    assert scripted.get_json()["retry_after"] == int(scripted.headers["Retry-After"])
    # Another name (the token) is not locked: the lockout is per name, not for everyone.
    assert login(app.test_client(), "127.0.0.11", token=OPS["token"]).status_code == 303
    assert not [k for k in stack.redis.keys("*") if OPS["username"].encode() in k]  # hashed


def test_wrong_logins_lock_the_client_address_for_every_name(stack: Stack) -> None:
    app = ops_app(stack, **LIMITED)
    client = app.test_client()
    for name in ("alice", "bob"):
        assert login(client, "127.0.0.5", username=name, password="guess-guess").status_code == 401
    wrong_header = client.get("/ops/", headers=bearer("wrong-token-0123456789"),
                              environ_base={"REMOTE_ADDR": "127.0.0.5"})  # fmt: skip
    assert wrong_header.status_code == 401  # a header guess counts like a form guess
    assert_refused(login(client, "127.0.0.5", **RIGHT))
    assert_refused(client.get("/ops/", headers=bearer(), environ_base={"REMOTE_ADDR": "127.0.0.5"}))
    # The same operator from another address is fine: the name "oncall" has no failures.
    assert login(app.test_client(), "127.0.0.6", **RIGHT).status_code == 303


def test_successes_and_requests_without_credentials_are_not_counted(stack: Stack) -> None:
    app = ops_app(stack, **LIMITED)
    for _ in range(6):  # twice the limit
        assert login(app.test_client(), **RIGHT).status_code == 303
        assert app.test_client().get("/ops/", headers=bearer()).status_code == 200
        assert app.test_client().get("/ops/").status_code == 401  # no credentials: no attempt
    assert login(app.test_client(), **WRONG).status_code == 401  # still the first failure


def test_the_cookie_is_a_random_id_and_logout_deletes_the_session(stack: Stack) -> None:
    app = ops_app(stack, session_lifetime=600)
    client = app.test_client()
    assert login(client, **RIGHT).status_code == 303
    sid = sid_of(client)
    assert len(sid) >= 43 and "." not in sid  # token_urlsafe(32): no data, no signature
    assert 0 < stack.redis.ttl(keyspace.OPS_SESSION + sid) <= 600
    assert client.get("/ops/").status_code == 200

    client.post("/ops/logout", data={"csrf_token": csrf_of(client)})
    assert stack.redis.exists(keyspace.OPS_SESSION + sid) == 0
    thief = app.test_client()
    thief.set_cookie(COOKIE_NAME, sid)  # the cookie as it was before the logout
    assert thief.get("/ops/").status_code == 401


def test_the_login_issues_a_new_session_id(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    csrf_of(client, "/ops/login")
    before = sid_of(client)  # the anonymous session that holds the login form's CSRF token
    assert login(client, **RIGHT).status_code == 303
    assert sid_of(client) != before
    assert stack.redis.exists(keyspace.OPS_SESSION + before) == 0


@pytest.mark.parametrize("changed", ["password", "token"])
def test_changing_a_credential_revokes_every_session(stack: Stack, changed: str) -> None:
    client = ops_app(stack).test_client()
    assert login(client, **RIGHT).status_code == 303
    sid = sid_of(client)

    restarted = ops_app(stack).test_client()  # same config: the session survives a restart
    restarted.set_cookie(COOKIE_NAME, sid)
    assert restarted.get("/ops/").status_code == 200

    new_value = {"password": "a brand new password", "token": "new-token-0123456789abcdef"}
    reconfigured = ops_app(stack, **{changed: new_value[changed]}).test_client()
    reconfigured.set_cookie(COOKIE_NAME, sid)
    assert reconfigured.get("/ops/").status_code == 401
    assert stack.redis.exists(keyspace.OPS_SESSION + sid) == 0  # revoked, not merely ignored


def test_a_missing_secret_is_generated_once_and_kept_private(stack: Stack) -> None:
    first = ops_app(stack, secret_key=None)
    path = Path(stack.config.data_dir) / SECRET_KEY_FILE
    key = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and first.secret_key == key
    assert OPS["password"] not in key and OPS["token"] not in key

    client = first.test_client()
    assert login(client, **RIGHT).status_code == 303
    second = ops_app(stack, secret_key=None)  # a restart reads the same file
    assert second.secret_key == key
    again = second.test_client()
    again.set_cookie(COOKIE_NAME, sid_of(client))
    assert again.get("/ops/").status_code == 200
    for response in (client.get("/ops/"), client.get("/ops/login")):
        assert key not in response.get_data(as_text=True)


def test_a_short_secret_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    env = {"ZD_TOKEN": "zendesk-api-token-1"}
    section = 'ops:\n  token: "{}"\n  secret_key: "{}"\n'
    short = GOOD + section.format("t" * 20, "only-twenty-chars-xx")
    with pytest.raises(ConfigError, match=r"secret_key.*32\+ characters"):
        load_config(write(tmp_path, short), env)
    empty = load_config(write(tmp_path, GOOD + section.format("t" * 20, "")), env)
    assert empty.ops is not None and empty.ops.secret_key is None  # `${VAR:-}`: generated


def cookie_header(response: TestResponse) -> str:
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE_NAME)]
    return header


def test_session_cookie_flags_follow_https(stack: Stack) -> None:
    app = ops_app(stack)
    over_https = app.test_client()
    token = csrf_of(over_https, "/ops/login", base_url="https://bridge.example")
    answer = over_https.post("/ops/login", data={"csrf_token": token, **RIGHT},
                             base_url="https://bridge.example")  # fmt: skip
    assert answer.status_code == 303
    header = cookie_header(answer)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header

    plain = cookie_header(login(app.test_client(), **RIGHT))
    assert "Secure" not in plain and "HttpOnly" in plain and "SameSite=Lax" in plain
    forced = cookie_header(login(ops_app(stack, cookie_secure="true").test_client(), **RIGHT))
    assert "Secure" in forced


def test_forwarded_headers_count_only_behind_a_trusted_proxy(stack: Stack) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.77"}

    def via_proxy(app: Flask, **form: str) -> TestResponse:
        client = app.test_client()
        token = csrf_of(client, "/ops/login", headers=forwarded)
        return client.post("/ops/login", data={"csrf_token": token, **form}, headers=forwarded)

    assert "Secure" not in cookie_header(via_proxy(ops_app(stack), **RIGHT))
    behind = ops_app(stack, trusted_proxies=1, **LIMITED)
    assert "Secure" in cookie_header(via_proxy(behind, **RIGHT))
    for name in ("alice", "bob", "carol"):
        assert via_proxy(behind, username=name, password="guess-guess").status_code == 401
    assert_refused(via_proxy(behind, **RIGHT))  # the forwarded address is locked ...
    assert login(behind.test_client(), **RIGHT).status_code == 303  # ... not the proxy's


def test_metrics_token(stack: Stack) -> None:
    metrics_token = "metrics-token-0123456789abcdef"
    client = ops_app(stack, metrics_token=metrics_token, **LIMITED).test_client()
    assert client.get("/metrics", headers=bearer(metrics_token)).status_code == 200
    missing = client.get("/metrics")
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    assert client.get("/metrics", headers=bearer()).status_code == 401  # not the console token
    assert client.get("/metrics", headers=bearer("wrong-token-0123456789")).status_code == 401
    console_login = basic(OPS["username"], OPS["password"])  # only with protect_metrics
    assert client.get("/metrics", headers=console_login).status_code == 401
    refused = client.get("/metrics", headers=bearer(metrics_token))  # 3 failures (not `missing`)
    assert_refused(refused)
    assert refused.get_json()["error"] == "Too Many Requests"

    both = ops_app(stack, metrics_token=metrics_token, protect_metrics=True).test_client()
    assert both.get("/metrics", headers=bearer(), environ_base={"REMOTE_ADDR": "127.0.0.3"}
                    ).status_code == 200  # fmt: skip
    assert ops_app(stack).test_client().get("/metrics").status_code == 200  # open by default


def test_healthz_names_no_internal_error(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    from bridge.redis_runtime import _free_port, connect

    closed = connect(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    for config in (stack.config, ops_app(stack).extensions["bridge"]["config"]):
        answer = create_app(config, closed).test_client().get("/healthz")
        assert answer.status_code == 503
        assert answer.get_json() == {"status": "unavailable", "redis": "unreachable"}
    assert "ConnectionError" in caplog.text  # the detail is in the log only
    ok = create_app(stack.config, stack.redis).test_client().get("/healthz")
    assert ok.get_json() == {"status": "ok", "redis": "ok"}


def test_every_console_response_has_the_security_headers(stack: Stack) -> None:
    app = ops_app(stack, **LIMITED)
    client = app.test_client()
    for _ in range(3):
        login(client, **WRONG)
    responses = {
        "login page": client.get("/ops/login"),
        "no login": client.get("/ops/"),
        "console": client.get("/ops/", headers=bearer("x" * 20)),
        "search": app.test_client().get("/ops/search?ticket=1", headers=bearer(),
                                        environ_base={"REMOTE_ADDR": "127.0.0.8"}),
        "refused": login(client, **RIGHT),
        "bad csrf": app.test_client().post("/ops/login", data=RIGHT),
    }  # fmt: skip
    assert responses["refused"].status_code == 429
    for name, response in responses.items():
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp, name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["Referrer-Policy"] == "no-referrer", name
        page = response.get_data(as_text=True)
        for inline in ("<script", "<style", " style=", "onclick="):
            assert inline not in page, (name, inline)
    sheet = client.get("/ops/static/console.css")  # the one style sheet, no login needed
    assert sheet.status_code == 200 and sheet.mimetype == "text/css"
    sheet.close()


def test_only_the_console_sets_a_session_cookie(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    for path in ("/healthz", "/metrics"):
        answer = client.get(path)
        assert answer.status_code == 200 and "Set-Cookie" not in answer.headers, path
    assert stack.redis.keys(keyspace.OPS_SESSION + "*") == []
