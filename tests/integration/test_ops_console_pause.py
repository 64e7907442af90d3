"""The console's Pauses page, its buttons, the banner, the login page for browsers and worker
liveness; Flask test client, real Redis, real jobs (burst worker in the test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from bridge import keyspace
from bridge.maintenance import pulse
from bridge.pause import PauseStore, Scope, ScopeKind
from bridge.queue import get_queue
from bridge.sandbox.stack import Stack
from tests.integration.ops_helpers import (
    COMPLETE,
    DESCRIPTION,
    OPS,
    bearer,
    csrf_of,
    ops_app,
)

VENDOR = Scope(ScopeKind.SYSTEM, "vendor")
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def row(page: str, scope: str) -> str:
    start = page.index(f'data-scope="{scope}"')
    return page[start : page.index("</tr>", start)]


def test_pause_and_resume_from_the_console(stack: Stack) -> None:
    stack.poll()
    client = ops_app(stack).test_client()
    csrf = csrf_of(client, "/ops/pauses", headers=bearer())
    page = client.get("/ops/pauses", headers=bearer()).get_data(as_text=True)
    assert "RUNNING" in row(page, "system:vendor") and "RUNNING" in row(page, "route:acme")

    answer = client.post("/ops/pauses/pause", headers=bearer(), data={
        "csrf_token": csrf, "scope": "system:vendor", "reason": "MantisBT upgrade",
        "until": "2h"})  # fmt: skip
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/ops/pauses")
    page = client.get("/ops/pauses", headers=bearer()).get_data(as_text=True)
    assert "System vendor is paused until" in page  # the flash
    vendor = row(page, "system:vendor")
    assert "PAUSED" in vendor and "MantisBT upgrade" in vendor and "by console:token" in vendor
    assert PauseStore(stack.redis).get(VENDOR) is not None

    # Every page says so, and the overview's source row too.
    overview = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert "Paused: <b>system vendor</b> (MantisBT upgrade)" in overview
    source = overview[overview.index('data-system="vendor"') :]
    assert "PAUSED" in source[: source.index("</tr>")]

    stack.mantis.clear_log()
    tid = stack.zendesk.create_ticket_as(
        stack.zd_customer, "Checkout broken", DESCRIPTION, custom_fields=COMPLETE
    )["id"]
    assert stack.settle()
    assert stack.mantis.requests() == [] and stack.mantis.issues() == []
    page = client.get("/ops/pauses", headers=bearer()).get_data(as_text=True)
    vendor = row(page, "system:vendor")
    assert '<td class="held">1</td>' in vendor and "Resume and sync 1" in vendor
    held = client.get(f"/ops/search?ticket={tid}&system=helpdesk", headers=bearer())
    assert "<b>Held</b>: system vendor is paused (MantisBT upgrade)" in held.get_data(as_text=True)

    answer = client.post("/ops/pauses/resume", headers=bearer(),
                         data={"csrf_token": csrf, "scope": "system:vendor"})  # fmt: skip
    assert answer.status_code == 303
    page = client.get("/ops/pauses", headers=bearer()).get_data(as_text=True)
    assert "Resumed system vendor: 1 held sync(s) queued, a poll of vendor queued." in page
    assert "RUNNING" in row(page, "system:vendor") and "Paused: <b>" not in page
    assert stack.settle()
    (issue,) = stack.mantis.issues()
    story = client.get(f"/ops/search?ticket={tid}", headers=bearer()).get_data(as_text=True)
    assert f"<b>Escalated</b>: to vendor #{issue['id']} (MantisBT)" in story
    assert "{&#39;" not in story and "{'" not in story  # no Python dicts in the timeline


def test_pause_form_mistakes_are_flashed_never_a_500(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    csrf = csrf_of(client, "/ops/pauses", headers=bearer())
    for form, says in (
        ({"scope": "system:nope"}, "no system &#39;nope&#39; in the config"),
        ({"scope": "planet:x"}, "choose a route or a system to pause"),
        ({"scope": "route:acme", "until": "soon"}, "neither an ISO time"),
        ({"scope": "route:acme", "until": "2001-01-01T00:00Z"}, "not in the future"),
    ):
        answer = client.post("/ops/pauses/pause", headers=bearer(),
                             data={"csrf_token": csrf, **form})  # fmt: skip
        assert answer.status_code == 303, form
        page = client.get("/ops/pauses", headers=bearer()).get_data(as_text=True)
        assert says in page, (form, says)
    assert PauseStore(stack.redis).all() == []
    no_csrf = client.post("/ops/pauses/pause", headers=bearer(), data={"scope": "route:acme"})
    assert no_csrf.status_code == 400
    assert client.post("/ops/pauses/resume", data={"scope": "route:acme"}).status_code == 401


def test_a_browser_gets_the_login_page_and_comes_back(stack: Stack) -> None:
    PauseStore(stack.redis).pause(VENDOR, "secret maintenance")
    client = ops_app(stack).test_client()
    sent = client.get("/ops/pauses?x=1", headers=HTML)
    assert sent.status_code == 303
    where = urlsplit(sent.headers["Location"])
    assert where.path == "/ops/login" and parse_qs(where.query)["next"] == ["/ops/pauses?x=1"]
    login = client.get(sent.headers["Location"], headers=HTML)
    assert login.status_code == 200 and "secret maintenance" not in login.get_data(as_text=True)
    csrf = csrf_of(client, sent.headers["Location"], headers=HTML)
    answer = client.post("/ops/login", headers=HTML, data={
        "csrf_token": csrf, "username": OPS["username"], "password": OPS["password"],
        "next": "/ops/pauses?x=1"})  # fmt: skip
    assert answer.status_code == 303 and answer.headers["Location"] == "/ops/pauses?x=1"
    assert "secret maintenance" in client.get("/ops/pauses", headers=HTML).get_data(as_text=True)


def test_scripts_keep_their_401_and_a_next_never_leaves_the_console(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    for headers in ({}, {"Accept": "*/*"}, {"Accept": "application/json"},
                    {**HTML, **bearer("wrong-token-0123456789")}):  # fmt: skip
        answer = client.get("/ops/", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/ops/", headers={**HTML, **bearer()}).status_code == 200
    form = client.post("/ops/jobs/x/retry", headers=HTML)  # a session that ran out: to login
    assert form.status_code == 303 and form.headers["Location"] == "/ops/login"
    for target in ("https://evil.example/ops/", "//evil.example/ops/", "/elsewhere",
                   "/ops/\\\\evil.example"):  # fmt: skip
        fresh = ops_app(stack).test_client()
        csrf = csrf_of(fresh, "/ops/login")
        answer = fresh.post("/ops/login", data={
            "csrf_token": csrf, "token": OPS["token"], "next": target})  # fmt: skip
        assert answer.status_code == 303 and answer.headers["Location"] == "/ops/", target


def test_the_overview_tells_live_from_dead_workers_by_their_pulse(stack: Stack) -> None:
    queue = get_queue(stack.redis, stack.config)
    idle, killed = (SimpleWorker([queue], connection=stack.redis, serializer=JSONSerializer)
                    for _ in range(2))  # fmt: skip
    for worker in (idle, killed):
        worker.register_birth()
        old = datetime.now(UTC) - timedelta(minutes=5)  # RQ's heartbeat of an idle worker
        stack.redis.hset(worker.key, "last_heartbeat", utcformat(old))
        pulse(stack.redis, {worker.name: ""})
    stack.redis.delete(keyspace.alive(killed.name))  # killed: its registration is still there
    page = ops_app(stack).test_client().get("/ops/", headers=bearer()).get_data(as_text=True)
    table = page[page.index('id="workers"') :]
    live = table[table.index(idle.name) :]
    live = live[: live.index("</tr>")]
    assert " s ago" in live and "min ago" not in live
    dead = table[table.index(killed.name) :]
    assert "DEAD" in dead[: dead.index("</tr>")]
    assert "<b>1</b>workers" in page
