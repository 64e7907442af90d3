"""The real MantisConnector against the MantisBT sandbox served on a loopback port.

These prove the connector and the sandbox agree on the wire (auth header, bodies, reason
phrases, paging) and that the sandbox behaves like Mantis where the bridge depends on it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from bridge.errors import PayloadError, PermanentError, RateLimited, RetryableError
from bridge.models import Attachment, NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from bridge.sandbox.mantis import SERVER_TZ, MantisSandbox
from bridge.sandbox.server import BackgroundServer
from connectors.common import parse_utc as parse_time
from connectors.mantis import MantisConnector, poll
from connectors.mantis.client import REST

BRIDGE_TOKEN = "bridge-secret-token"
DEV_TOKEN = "dev-secret-token"
LIST = "/api/rest/issues"


class Clock:
    """A settable server clock: Mantis stamps whole seconds, tests need distinct ones."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 4, 10, 0, 0, tzinfo=SERVER_TZ)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int = 60) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Env:
    sandbox: MantisSandbox
    clock: Clock
    url: str
    bridge_id: int
    dev_id: int
    project_id: int

    def connector(self, token: str = BRIDGE_TOKEN, attempts: int = 1, **options: Any) -> Any:
        settings = SystemSettings(
            name="vendor",
            type="mantis",
            url=self.url,
            auth={"token": token},
            bridge_user=str(self.bridge_id),
            options={"project": "Billing", "category": "General", **options},
        )
        return MantisConnector(settings, REST.client(settings, attempts, wait_max=0))

    def raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": BRIDGE_TOKEN, **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.url}/api/rest/{path}", headers=headers, timeout=5, **kwargs
        )


class AppSwitch:
    """One loopback server per module (stopping one costs werkzeug's 0.5 s poll interval);
    each test plugs its own fresh sandbox in."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[AppSwitch, str]]:
    switch = AppSwitch()
    with BackgroundServer(switch) as url:
        yield switch, url


@pytest.fixture
def env(served: tuple[AppSwitch, str]) -> Env:
    switch, url = served
    clock = Clock()
    sandbox = MantisSandbox(now=clock)
    bridge_id = sandbox.add_user(
        "bridge", BRIDGE_TOKEN, real_name="Ticket Bridge", email="bridge@customer.example"
    )
    dev_id = sandbox.add_user("dev.anna", DEV_TOKEN, real_name="Anna Dev")
    project_id = sandbox.add_project(
        "Billing", categories=("General", "Export"), custom_fields=("Customer ticket", "Build")
    )
    switch.app = sandbox.app
    return Env(sandbox, clock, url, bridge_id, dev_id, project_id)


def changed_issues(
    connector: MantisConnector, project_id: int | str, since: datetime, page_size: int = 50
) -> list[tuple[str, datetime]]:
    """`(issue id, updated_at)` as the poll's walk (`poll.updated_since`) returns them."""
    params = {"project_id": project_id, "select": "id,updated_at"}
    issues = poll.updated_since(connector.http, params, since, page_size, "list issues")
    return [(str(i["id"]), u) for i in issues if (u := parse_time(i.get("updated_at")))]


def draft(**overrides: Any) -> TicketDraft:
    values: dict[str, Any] = {
        "subject": "Export crashes",
        "description": "Open invoice 0, click export.",
        "priority": "high",
        "category": "Export",
        "fields": {"Customer ticket": "ZD-4711"},
        "tags": ("customer",),
        "attachments": (Attachment("crash.log", content=b"Traceback..."),),
    }
    values.update(overrides)
    return TicketDraft(**values)


def test_create_then_get_round_trip(env: Env) -> None:
    connector = env.connector()

    created = connector.create_ticket(draft())
    fetched = connector.get_ticket(created.ref.id)

    assert created == fetched
    assert fetched.status == "new"
    assert fetched.priority == "high"
    assert fetched.type == "Export"
    assert fetched.tags == ("customer",)
    assert fetched.fields == {"Customer ticket": "ZD-4711", "Build": ""}
    assert fetched.requester_email == "bridge@customer.example"
    assert fetched.requester_name == "Ticket Bridge"
    assert fetched.created_at == datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    assert fetched.url == f"{env.url}/view.php?id={created.ref.id}"
    assert fetched.updated_by == str(env.bridge_id)

    stored = env.sandbox.issue(int(created.ref.id))
    assert stored["created_at"] == "2025-03-04T10:00:00+01:00"
    assert stored["reporter"]["id"] == env.bridge_id
    assert stored["attachments"][0]["filename"] == "crash.log"
    assert stored["attachments"][0]["size"] == len(b"Traceback...")
    assert stored["status"] == {"id": 10, "name": "new", "label": "new", "color": "#fcbdbd"}
    assert stored["priority"] == {"id": 40, "name": "high", "label": "high"}
    assert "handler" not in stored and "relationships" not in stored  # null/empty removed

    post = next(r for r in env.sandbox.requests() if r["method"] == "POST")
    assert post["headers"]["Authorization"] == BRIDGE_TOKEN
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["json"]["files"] == [
        {"name": "crash.log", "content": base64.b64encode(b"Traceback...").decode()}
    ]


def test_get_returns_issue_list_with_etag_and_if_match_is_enforced(env: Env) -> None:
    issue_id = env.connector().create_ticket(draft()).ref.id

    response = env.raw("GET", f"issues/{issue_id}")
    assert list(response.json()) == ["issues"] and len(response.json()["issues"]) == 1
    etag = response.headers["ETag"]
    assert env.raw("GET", f"issues/{issue_id}", headers={"If-None-Match": etag}).status_code == 304

    stale = env.raw(
        "PATCH",
        f"issues/{issue_id}",
        json={"priority": {"name": "low"}},
        headers={"If-Match": "stale"},
    )
    assert stale.status_code == 412
    assert env.sandbox.issue(int(issue_id))["priority"]["name"] == "high"


def test_bad_token_is_permanent_401(env: Env) -> None:
    with pytest.raises(PermanentError) as err:
        env.connector(token="Bearer " + BRIDGE_TOKEN).get_ticket("1")
    assert err.value.status == 401


def test_unknown_issue_reports_the_reason_phrase(env: Env) -> None:
    response = env.raw("GET", "issues/999")
    assert response.status_code == 404 and response.content == b""
    assert response.reason == "Issue #999 not found"

    with pytest.raises(PermanentError) as err:
        env.connector().get_ticket("999")
    assert err.value.status == 404
    assert "404 Issue #999 not found" in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"category": "Nope"}, 404, "Category 'Nope' not found"),
        ({"fields": {"Unknown": "x"}}, 404, "Custom field 'Unknown' not found"),
        ({"project": "Elsewhere"}, 404, "Project 'Elsewhere' not found"),
    ],
)
def test_create_validation_errors_are_permanent_with_the_vendor_message(
    env: Env, overrides: dict[str, Any], status: int, message: str
) -> None:
    with pytest.raises(PermanentError) as err:
        env.connector().create_ticket(draft(**overrides))
    assert err.value.status == status
    assert message in str(err.value)
    assert env.sandbox.issues() == []


def test_create_without_category_is_400(env: Env) -> None:
    connector = env.connector(category=None)
    with pytest.raises(PermanentError, match="Category field must be supplied") as err:
        connector.create_ticket(draft(category=None))
    assert err.value.status == 400


def test_moderated_create_is_permanent(env: Env) -> None:
    env.sandbox.moderate_new_issues = True
    with pytest.raises(PermanentError, match="moderat"):
        env.connector().create_ticket(draft())
    assert env.sandbox.issues() == []


def test_update_writes_history_once_and_then_is_a_no_op(env: Env) -> None:
    connector = env.connector(external_id_field="Customer ticket")
    issue_id = connector.create_ticket(draft(fields={})).ref.id
    env.clock.tick()

    changes = TicketChanges(status="feedback", priority="urgent", external_id="ZD-1")
    updated = connector.update_ticket(issue_id, changes)
    assert (updated.status, updated.priority, updated.external_id) == ("feedback", "urgent", "ZD-1")
    assert updated.updated_at == datetime(2025, 3, 4, 9, 1, tzinfo=UTC)

    env.sandbox.clear_log()
    again = connector.update_ticket(issue_id, changes)
    assert again == updated
    assert [r["method"] for r in env.sandbox.requests()] == ["GET"]

    history = env.sandbox.issue(int(issue_id))["history"]
    changed = [
        (h["field"]["name"], h["old_value"], h["new_value"]) for h in history if "field" in h
    ]
    assert changed == [
        ("status", "new", "feedback"),
        ("priority", "high", "urgent"),
        ("Customer ticket", "", "ZD-1"),
    ]
    assert {h["user"]["id"] for h in history} == {env.bridge_id}


def test_vendor_changes_are_seen_with_their_author(env: Env) -> None:
    connector = env.connector()
    issue_id = connector.create_ticket(draft()).ref.id
    env.clock.tick()

    env.sandbox.set_status_as(env.dev_id, int(issue_id), "resolved")

    ticket = connector.get_ticket(issue_id)
    assert ticket.status == "resolved"
    assert ticket.updated_by == str(env.dev_id)
    with pytest.raises(ValueError):
        env.sandbox.set_status_as(env.dev_id, 999, "closed")


def test_comments_both_ways(env: Env) -> None:
    connector = env.connector()
    issue_id = connector.create_ticket(draft()).ref.id
    env.clock.tick()

    note_id = connector.add_comment(
        issue_id,
        NewComment(
            "Customer log attached", public=True, attachments=(Attachment("a.txt", content=b"A"),)
        ),
    )
    env.clock.tick()
    vendor_note = env.sandbox.add_note_as(
        env.dev_id, int(issue_id), "Regression in 1.2", private=True
    )
    env.clock.tick()

    comments = connector.list_comments(issue_id)
    assert [c.id for c in comments] == [note_id, str(vendor_note["id"])]
    mine, theirs = comments
    assert (mine.public, mine.author_id, mine.body) == (
        True,
        str(env.bridge_id),
        "Customer log attached",
    )
    assert mine.attachments[0].filename == "a.txt"
    # A DEVELOPER is not shown other users' real names: the username stands in.
    assert (theirs.public, theirs.author_id, theirs.author_name) == (
        False,
        str(env.dev_id),
        "dev.anna",
    )
    assert theirs.created_at == datetime(2025, 3, 4, 9, 2, tzinfo=UTC)

    assert connector.list_comments(issue_id, since=mine.created_at) == [theirs]
    note_get = next(r for r in env.sandbox.requests() if r["query"].get("select"))
    assert note_get["query"] == {"select": "id,notes"}

    issue = env.sandbox.issue(int(issue_id))
    assert issue["notes"][1]["view_state"] == {"id": 50, "name": "private", "label": "private"}
    assert issue["notes"][1]["type"] == "note"
    assert [h["type"]["name"] for h in issue["history"]].count("note-added") == 2


def test_a_reporter_may_write_private_notes(env: Env) -> None:
    env.sandbox.add_user("reporter.rita", "rita-token", access="reporter")
    issue_id = env.connector().create_ticket(draft()).ref.id
    note_id = env.connector(token="rita-token").add_comment(issue_id, NewComment("x", False))
    [note] = [n for n in env.sandbox.issue(int(issue_id))["notes"] if str(n["id"]) == note_id]
    assert note["view_state"]["name"] == "private"


def test_list_changed_pages_newest_first_and_terminates(env: Env) -> None:
    connector = env.connector()
    ids = []
    for n in range(5):
        ids.append(connector.create_ticket(draft(subject=f"issue {n}")).ref.id)
        env.clock.tick()
    env.sandbox.add_note_as(env.dev_id, int(ids[1]), "bump")  # issue 1 is now the newest

    everything = changed_issues(connector, env.project_id, datetime(2000, 1, 1, tzinfo=UTC), 2)
    assert [i for i, _ in everything] == [ids[1], ids[4], ids[3], ids[2], ids[0]]
    listed = [r for r in env.sandbox.requests() if (r["method"], r["path"]) == ("GET", LIST)]
    pages = [r["query"]["page"] for r in listed]
    assert pages == ["1", "2", "3"]  # the third is short: no extra empty-page request

    since = datetime(2025, 3, 4, 9, 3, tzinfo=UTC)  # created_at of issue 3
    assert [i for i, _ in changed_issues(connector, env.project_id, since, 2)] == [
        ids[1],
        ids[4],
        ids[3],
    ]


def test_list_past_the_end_is_empty_and_unknown_project_404(env: Env) -> None:
    env.connector().create_ticket(draft())
    page = env.raw("GET", "issues", params={"project_id": env.project_id, "page": 5})
    assert page.json() == {"issues": []}
    missing = env.raw("GET", "issues", params={"project_id": 99})
    assert missing.status_code == 404 and missing.reason == "Project '99' doesn't exist"


def test_files_endpoint_answers_201_without_body(env: Env) -> None:
    issue_id = env.connector().create_ticket(draft(attachments=())).ref.id
    content = base64.b64encode(b"hello").decode()
    response = env.raw(
        "POST", f"issues/{issue_id}/files", json={"files": [{"name": "h.txt", "content": content}]}
    )
    assert response.status_code == 201 and response.content == b""
    files = env.raw("GET", f"issues/{issue_id}/files").json()["files"]
    assert [(f["filename"], f["content"]) for f in files] == [("h.txt", content)]


def test_users_me(env: Env) -> None:
    me = env.raw("GET", "users/me")
    assert me.json()["name"] == "bridge"
    assert me.json()["access_level"]["name"] == "developer"
    assert me.headers["X-Mantis-Username"] == "bridge"


def test_injected_faults_map_to_retry_and_rate_limit(env: Env) -> None:
    issue_id = env.connector().create_ticket(draft()).ref.id

    env.sandbox.fail_next(1, status=503)
    assert env.connector(attempts=2).get_ticket(issue_id).ref.id == issue_id

    env.sandbox.fail_next(1, status=500)
    with pytest.raises(RetryableError):
        env.connector().get_ticket(issue_id)

    env.sandbox.fail_next(1, status=429, retry_after=30)
    with pytest.raises(RateLimited) as err:
        env.connector(attempts=3).get_ticket(issue_id)
    assert err.value.retry_after == 30
    assert env.connector().get_ticket(issue_id).ref.id == issue_id


def test_webhooks_are_refused(env: Env) -> None:
    with pytest.raises(PayloadError):
        env.connector().parse_webhook({}, b"{}")


def test_delete_issue_and_helpers_reject_unknown_ids(env: Env) -> None:
    issue_id = env.connector().create_ticket(draft()).ref.id
    assert env.raw("DELETE", f"issues/{issue_id}").status_code == 204
    assert env.sandbox.issues() == []
    with pytest.raises(ValueError, match="not found"):
        env.sandbox.issue(int(issue_id))


def test_find_created_finds_the_bridges_own_issue_by_source_url(env: Env) -> None:
    connector = env.connector()
    start = env.clock.now
    connector.create_ticket(draft(source_url="https://zd.example/agent/tickets/1"))
    env.clock.tick()
    wanted = connector.create_ticket(draft(source_url="https://zd.example/agent/tickets/2"))
    env.clock.tick()
    # An issue by someone else quoting the URL is not the bridge's.
    env.connector(DEV_TOKEN).create_ticket(
        draft(description="see https://zd.example/agent/tickets/3")
    )
    found = connector.find_created("https://zd.example/agent/tickets/2", start)
    assert found is not None and found.ref == wanted.ref
    assert connector.find_created("https://zd.example/agent/tickets/3", start) is None
    later = env.clock.now + timedelta(hours=1)
    assert connector.find_created("https://zd.example/agent/tickets/2", later) is None
