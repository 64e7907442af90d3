"""ZendeskConnector against `responses` fakes built from Zendesk's documented payloads.

Shapes follow api-facts.md section 1.2 (tickets, audits, comments with cursor pagination, the
two-step upload). Each test asserts what was sent (method, path, query, JSON body, headers) as
well as how the answer was read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from bridge.errors import ConfigError, PermanentError, RateLimited, RetryableError
from bridge.models import (
    Attachment,
    NewComment,
    SystemRef,
    TicketChanges,
    TicketDraft,
)
from bridge.protocol import Connector, SystemSettings
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import REST

URL = "https://acme.zendesk.com"
API = f"{URL}/api/v2"
SETTINGS = SystemSettings(
    name="helpdesk",
    type="zendesk",
    url=URL,
    auth={"email": "bridge@acme.test", "token": "s3cr3t"},
    webhook_secret="whsec",
    bridge_user="900",
)


def make(settings: SystemSettings = SETTINGS, attempts: int = 1) -> ZendeskConnector:
    """No inline retries and no sleeping: wait_max=0 makes tenacity's waits zero."""
    return ZendeskConnector(settings, http=REST.client(settings, attempts=attempts, wait_max=0))


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def ticket_json(**overrides: Any) -> dict[str, Any]:
    """A ticket as GET /api/v2/tickets/{id} documents it."""
    ticket: dict[str, Any] = {
        "id": 35436,
        "url": f"{API}/tickets/35436.json",
        "external_id": None,
        "type": "incident",
        "subject": "Printer on fire",
        "raw_subject": "Printer on fire",
        "description": "The printer is on fire. Please help.",
        "priority": "high",
        "status": "open",
        "requester_id": 20978392,
        "submitter_id": 20978392,
        "assignee_id": 235323,
        "tags": ["enterprise", "printer"],
        "custom_fields": [
            {"id": 27642, "value": "745"},
            {"id": 27648, "value": "yes"},
            {"id": 27650, "value": None},
        ],
        "fields": [{"id": 27642, "value": "745"}],
        "created_at": "2009-07-20T22:55:29Z",
        "updated_at": "2011-05-05T10:38:52Z",
        "via": {"channel": "web"},
    }
    ticket.update(overrides)
    return ticket


REQUESTER = {"id": 20978392, "name": "Jane Doe", "email": "jane@example.com", "role": "end-user"}


def comment_json(comment_id: int, created_at: str, **overrides: Any) -> dict[str, Any]:
    comment: dict[str, Any] = {
        "id": comment_id,
        "type": "Comment",
        "author_id": 235323,
        "body": f"**Comment** {comment_id}",
        "html_body": f"<p><b>Comment</b> {comment_id}</p>",
        "plain_body": f"Comment {comment_id}",
        "public": True,
        "attachments": [],
        "audit_id": comment_id + 1,
        "via": {"channel": "web"},
        "metadata": {},
        "created_at": created_at,
    }
    comment.update(overrides)
    return comment


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)


# -------------------------------------------------------------------------------- basics


def test_implements_the_protocol() -> None:
    conn = make()
    assert isinstance(conn, Connector)
    assert conn.kind == "zendesk"
    assert conn.ticket_url("7") == "https://acme.zendesk.com/agent/tickets/7"


def test_api_token_auth_header(rsps: responses.RequestsMock) -> None:
    expected = "Basic " + base64.b64encode(b"bridge@acme.test/token:s3cr3t").decode()
    rsps.get(
        f"{API}/tickets/1",
        json={"ticket": ticket_json(id=1), "users": [REQUESTER]},
        match=[matchers.header_matcher({"Authorization": expected, "Accept": "application/json"})],
    )
    make().get_ticket("1")


def test_oauth_bearer_header(rsps: responses.RequestsMock) -> None:
    settings = SystemSettings(name="zd", type="zendesk", url=URL, auth={"oauth_token": "abc"})
    rsps.get(
        f"{API}/tickets/1",
        json={"ticket": ticket_json(id=1), "users": [REQUESTER]},
        match=[matchers.header_matcher({"Authorization": "Bearer abc"})],
    )
    make(settings).get_ticket("1")


def test_missing_auth_is_a_config_error() -> None:
    settings = SystemSettings(name="zd", type="zendesk", url=URL, auth={"email": "a@b.c"})
    with pytest.raises(ConfigError, match="email"):
        ZendeskConnector(settings)


# ---------------------------------------------------------------------------- get_ticket


def test_get_ticket_maps_documented_fields(rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{API}/tickets/35436",
        json={"ticket": ticket_json(external_id="MANTIS-9"), "users": [REQUESTER]},
        match=[matchers.query_param_matcher({"include": "users"})],
    )
    ticket = make().get_ticket("35436")
    assert ticket.ref == SystemRef("helpdesk", "35436")
    assert ticket.subject == "Printer on fire"
    assert ticket.description == "The printer is on fire. Please help."
    assert (ticket.status, ticket.priority, ticket.type) == ("open", "high", "incident")
    assert ticket.tags == ("enterprise", "printer")
    assert ticket.fields == {"27642": "745", "27648": "yes", "27650": None}
    assert ticket.requester_email == "jane@example.com"
    assert ticket.requester_name == "Jane Doe"
    assert ticket.external_id == "MANTIS-9"
    assert ticket.url == "https://acme.zendesk.com/agent/tickets/35436"
    assert ticket.created_at == datetime(2009, 7, 20, 22, 55, 29, tzinfo=UTC)
    assert ticket.updated_at == datetime(2011, 5, 5, 10, 38, 52, tzinfo=UTC)


def test_null_priority_and_type(rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{API}/tickets/5",
        json={"ticket": ticket_json(id=5, priority=None, type=None), "users": [REQUESTER]},
    )
    ticket = make().get_ticket("5")
    assert ticket.priority is None
    assert ticket.type is None


def test_requester_fetched_only_when_not_sideloaded(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/5", json={"ticket": ticket_json(id=5), "users": []})
    rsps.get(f"{API}/users/20978392", json={"user": REQUESTER})
    ticket = make().get_ticket("5")
    assert ticket.requester_email == "jane@example.com"
    assert len(rsps.calls) == 2


def test_unreadable_requester_does_not_block_the_ticket(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/5", json={"ticket": ticket_json(id=5)})
    rsps.get(f"{API}/users/20978392", status=404, json={"error": "RecordNotFound"})
    ticket = make().get_ticket("5")
    assert ticket.requester_email is None


@pytest.mark.parametrize(
    ("status", "body", "headers", "error"),
    [
        (404, {"error": "RecordNotFound", "description": "Not found"}, {}, PermanentError),
        (401, {"error": "Couldn't authenticate you"}, {}, PermanentError),
        (503, {"error": "Unavailable"}, {}, RetryableError),
        (409, {"error": "Conflict"}, {}, RetryableError),
        (429, {"error": "TooManyRequests"}, {"Retry-After": "93"}, RateLimited),
    ],
)
def test_errors_are_classified(
    rsps: responses.RequestsMock,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    error: type[Exception],
) -> None:
    rsps.get(f"{API}/tickets/9", status=status, json=body, headers=headers)
    with pytest.raises(error) as info:
        make().get_ticket("9")
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after == 93
    if isinstance(info.value, PermanentError):
        assert info.value.status == status


def test_short_blip_is_retried_inline(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/9", status=502)
    rsps.get(f"{API}/tickets/9", json={"ticket": ticket_json(id=9), "users": [REQUESTER]})
    assert make(attempts=2).get_ticket("9").ref.id == "9"


def test_timeout_is_retryable(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/9", body=requests.ConnectTimeout("slow"))
    with pytest.raises(RetryableError, match="ConnectTimeout"):
        make().get_ticket("9")


def test_non_numeric_ticket_id_never_reaches_the_network() -> None:
    with pytest.raises(PermanentError, match="not a number"):
        make().get_ticket("1/../../users")


# ----------------------------------------------------------------------------- add_comment


def test_add_comment_sends_explicit_public_and_returns_audit_comment_id(
    rsps: responses.RequestsMock,
) -> None:
    audit = {
        "id": 2127301143,
        "ticket_id": 35436,
        "author_id": 900,
        "created_at": "2024-01-01T10:00:00Z",
        "events": [
            {"id": 1564244, "type": "Change", "field_name": "status", "value": "open"},
            {"id": 1564245, "type": "Comment", "body": "Note", "public": False, "attachments": []},
        ],
    }
    call = rsps.put(f"{API}/tickets/35436", json={"ticket": ticket_json(), "audit": audit})
    comment_id = make().add_comment("35436", NewComment(body="Note", public=False))
    assert comment_id == "1564245"
    assert sent_json(call.calls[0]) == {"ticket": {"comment": {"body": "Note", "public": False}}}
    assert call.calls[0].request.headers["Content-Type"] == "application/json"


def test_add_comment_public_true_is_sent_too(rsps: responses.RequestsMock) -> None:
    audit = {"events": [{"id": 77, "type": "Comment"}]}
    call = rsps.put(f"{API}/tickets/1", json={"ticket": ticket_json(id=1), "audit": audit})
    make().add_comment("1", NewComment(body="Hi", public=True))
    assert sent_json(call.calls[0])["ticket"]["comment"]["public"] is True


def test_add_comment_without_audit_uses_newest_comment(rsps: responses.RequestsMock) -> None:
    rsps.put(f"{API}/tickets/1", json={"ticket": ticket_json(id=1)})
    rsps.get(
        f"{API}/tickets/1/comments",
        json={
            "comments": [
                comment_json(10, "2024-01-01T10:00:00Z"),
                comment_json(12, "2024-01-01T10:05:00Z"),
                comment_json(11, "2024-01-01T10:05:00Z"),
            ],
            "meta": {"has_more": False},
            "links": {"next": None},
        },
    )
    assert make().add_comment("1", NewComment(body="Hi", public=True)) == "12"


def test_add_comment_uploads_files_with_one_token(rsps: responses.RequestsMock) -> None:
    first = rsps.post(
        f"{API}/uploads",
        status=201,
        json={"upload": {"token": "6bk3gql82em5nmf", "attachment": {"id": 1}, "attachments": []}},
        match=[matchers.query_param_matcher({"filename": "crash.log"})],
    )
    second = rsps.post(
        f"{API}/uploads",
        status=201,
        json={"upload": {"token": "6bk3gql82em5nmf", "attachment": {"id": 2}, "attachments": []}},
        match=[matchers.query_param_matcher({"filename": "shot.png", "token": "6bk3gql82em5nmf"})],
    )
    put = rsps.put(
        f"{API}/tickets/1",
        json={"ticket": ticket_json(id=1), "audit": {"events": [{"id": 5, "type": "Comment"}]}},
    )
    comment = NewComment(
        body="see files",
        public=True,
        attachments=(
            Attachment("crash.log", "text/plain", content=b"Traceback..."),
            Attachment("shot.png", "image/png", content=b"\x89PNG"),
            Attachment("remote.pdf", "application/pdf", url="https://elsewhere/x.pdf"),
        ),
    )
    assert make().add_comment("1", comment) == "5"
    assert first.calls[0].request.body == b"Traceback..."
    assert first.calls[0].request.headers["Content-Type"] == "text/plain"
    assert second.calls[0].request.headers["Content-Type"] == "image/png"
    assert sent_json(put.calls[0]) == {
        "ticket": {"comment": {"body": "see files", "public": True, "uploads": ["6bk3gql82em5nmf"]}}
    }


def test_rate_limited_comment_is_not_retried_inline(rsps: responses.RequestsMock) -> None:
    rsps.put(f"{API}/tickets/1", status=429, headers={"Retry-After": "60"})
    with pytest.raises(RateLimited) as info:
        make(attempts=3).add_comment("1", NewComment(body="x", public=True))
    assert info.value.retry_after == 60
    assert len(rsps.calls) == 1


# --------------------------------------------------------------------------- update_ticket


def test_update_sends_only_what_differs(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/35436", json={"ticket": ticket_json(), "users": [REQUESTER]})
    put = rsps.put(
        f"{API}/tickets/35436",
        json={
            "ticket": ticket_json(status="pending", external_id="MANTIS-9"),
            "audit": {"events": []},
        },
    )
    changes = TicketChanges(
        status="Pending",
        priority="high",  # already high
        external_id="MANTIS-9",
        fields={"27642": 745, "27648": "no", "30000": "new"},  # 27642 is already "745"
    )
    ticket = make().update_ticket("35436", changes)
    assert sent_json(put.calls[0]) == {
        "ticket": {
            "status": "pending",
            "external_id": "MANTIS-9",
            "custom_fields": [{"id": 27648, "value": "no"}, {"id": 30000, "value": "new"}],
        }
    }
    assert ticket.status == "pending"
    assert ticket.external_id == "MANTIS-9"
    assert ticket.requester_email == "jane@example.com"


def test_update_with_nothing_new_sends_nothing(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/35436", json={"ticket": ticket_json(), "users": [REQUESTER]})
    ticket = make().update_ticket(
        "35436", TicketChanges(status="open", priority="HIGH", fields={"27642": "745"})
    )
    assert ticket.status == "open"
    assert [c.request.method for c in rsps.calls] == ["GET"]


def test_update_422_is_permanent_with_details(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/1", json={"ticket": ticket_json(id=1), "users": [REQUESTER]})
    rsps.put(
        f"{API}/tickets/1",
        status=422,
        json={
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
        },
    )
    with pytest.raises(PermanentError, match="closed prevents ticket update") as info:
        make().update_ticket("1", TicketChanges(status="solved"))
    assert info.value.status == 422


def test_update_rejects_non_numeric_field_key(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/tickets/1", json={"ticket": ticket_json(id=1), "users": [REQUESTER]})
    with pytest.raises(PermanentError, match="not a Zendesk ticket field id"):
        make().update_ticket("1", TicketChanges(fields={"product": "x"}))


# --------------------------------------------------------------------------- create_ticket


def test_create_ticket_payload_and_result(rsps: responses.RequestsMock) -> None:
    created = ticket_json(
        id=99,
        subject="Crash on save",
        description="Steps: ...",
        priority="urgent",
        status="new",
        tags=["escalated"],
        custom_fields=[{"id": 27642, "value": "A-1"}],
    )
    post = rsps.post(
        f"{API}/tickets",
        status=201,
        json={"ticket": created},
        headers={"Location": f"{API}/tickets/99.json"},
    )
    rsps.get(f"{API}/users/20978392", json={"user": REQUESTER})
    draft = TicketDraft(
        subject="Crash on save",
        description="Steps: ...",
        priority="Urgent",
        fields={"27642": "A-1"},
        tags=("escalated",),
    )
    ticket = make().create_ticket(draft)
    assert sent_json(post.calls[0]) == {
        "ticket": {
            "subject": "Crash on save",
            "comment": {"body": "Steps: ...", "public": True},
            "priority": "urgent",
            "tags": ["escalated"],
            "custom_fields": [{"id": 27642, "value": "A-1"}],
        }
    }
    assert post.calls[0].request.headers["Content-Type"] == "application/json"
    assert ticket.ref == SystemRef("helpdesk", "99")
    assert ticket.status == "new"
    assert ticket.fields == {"27642": "A-1"}
    assert ticket.url == "https://acme.zendesk.com/agent/tickets/99"


def test_create_ticket_minimal_draft(rsps: responses.RequestsMock) -> None:
    post = rsps.post(f"{API}/tickets", status=201, json={"ticket": ticket_json(id=3)})
    rsps.get(f"{API}/users/20978392", json={"user": REQUESTER})
    make().create_ticket(TicketDraft(subject="S", description="D"))
    assert sent_json(post.calls[0]) == {
        "ticket": {"subject": "S", "comment": {"body": "D", "public": True}}
    }


# --------------------------------------------------------------------------- list_comments


def test_list_comments_follows_cursor_pagination(rsps: responses.RequestsMock) -> None:
    attachment = {
        "id": 498483,
        "file_name": "crash.log",
        "content_url": "https://acme.zendesk.com/attachments/token/xyz/?name=crash.log",
        "mapped_content_url": None,
        "content_type": "text/plain",
        "size": 2532,
        "inline": False,
        "thumbnails": [],
    }
    next_url = f"{API}/tickets/1/comments.json?page[size]=100&page[after]=xxx"
    rsps.get(
        f"{API}/tickets/1/comments",
        json={
            "comments": [
                comment_json(1, "2024-01-01T10:00:00Z", attachments=[attachment]),
                comment_json(2, "2024-01-01T11:00:00Z", public=False, plain_body=""),
            ],
            "users": [{"id": 235323, "name": "Anna Example", "email": "anna@example.com"}],
            "meta": {"has_more": True, "after_cursor": "xxx", "before_cursor": "yyy"},
            "links": {"next": next_url, "prev": None},
        },
        match=[matchers.query_param_matcher({"page[size]": "100", "include": "users"})],
    )
    rsps.get(
        f"{API}/tickets/1/comments.json",
        json={
            "comments": [comment_json(3, "2024-01-01T12:00:00Z")],
            "meta": {"has_more": False, "after_cursor": "zzz", "before_cursor": "www"},
            "links": {"next": None, "prev": None},
        },
        match=[matchers.query_param_matcher({"page[size]": "100", "page[after]": "xxx"})],
    )
    comments = make().list_comments("1")
    assert [c.id for c in comments] == ["1", "2", "3"]
    first, second, _ = comments
    assert first.body == "Comment 1"
    assert second.body == "**Comment** 2"  # empty plain_body falls back to body
    assert (first.public, second.public) == (True, False)
    assert first.author_id == "235323"
    assert first.author_name == "Anna Example"  # from the sideloaded users
    assert first.created_at == datetime(2024, 1, 1, 10, tzinfo=UTC)
    [att] = first.attachments
    assert (att.filename, att.content_type, att.size) == ("crash.log", "text/plain", 2532)
    assert att.url == attachment["content_url"]


def test_list_comments_since_filters_strictly_after(rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{API}/tickets/1/comments",
        json={
            "comments": [
                comment_json(1, "2024-01-01T10:00:00Z"),
                comment_json(2, "2024-01-01T11:00:00Z"),
            ],
            "meta": {"has_more": False},
            "links": {"next": None},
        },
    )
    since = datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert [c.id for c in make().list_comments("1", since=since)] == ["2"]


def test_pagination_never_leaves_the_configured_host(rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{API}/tickets/1/comments",
        json={
            "comments": [],
            "meta": {"has_more": True},
            "links": {"next": "https://evil.example/api/v2/tickets/1/comments?page[after]=x"},
        },
    )
    second = rsps.get(
        f"{API}/tickets/1/comments",
        json={"comments": [comment_json(4, "2024-01-01T10:00:00Z")], "meta": {"has_more": False}},
        match=[matchers.query_param_matcher({"page[after]": "x"})],
    )
    assert [c.id for c in make().list_comments("1")] == ["4"]
    assert second.calls[0].request.url.startswith(URL)


def test_pagination_loop_is_detected(rsps: responses.RequestsMock) -> None:
    loop = f"{API}/tickets/1/comments.json?page[size]=100&page[after]=same"
    page = {"comments": [], "meta": {"has_more": True}, "links": {"next": loop}}
    rsps.get(f"{API}/tickets/1/comments", json=page)
    rsps.get(f"{API}/tickets/1/comments.json", json=page)
    with pytest.raises(PermanentError, match="repeats"):
        make().list_comments("1")
