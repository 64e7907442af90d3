"""ZammadConnector against `responses` fakes built from Zammad's documented payloads.

Shapes follow shared/reference/api-facts.md section 2 and the zammad-documentation samples:
flat tickets (names only with `expand=true`), articles with `attachments[].preferences`,
`{"error", "error_human"}` errors, instance-defined states and priorities.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from bridge.errors import ConfigError, PermanentError, RateLimited, RetryableError
from bridge.models import Attachment, EventKind, NewComment, SystemRef, TicketChanges, TicketDraft
from bridge.protocol import Capability, Connector, SystemSettings
from bridge.registry import build_connector
from connectors.zammad import ZammadConnector
from connectors.zammad import search as search_module
from connectors.zammad.client import REST

URL = "https://zammad.vendor.example"
API = f"{URL}/api/v1"
TOKEN = "zm-bridge-token"
NOW = datetime(2021, 11, 9, 12, 0, tzinfo=UTC)

STATES = [
    {"id": 1, "name": "new", "state_type_id": 1, "active": True},
    {"id": 2, "name": "open", "state_type_id": 2, "active": True},
    {"id": 3, "name": "pending reminder", "state_type_id": 3, "active": True},
    {"id": 4, "name": "closed", "state_type_id": 5, "active": True},
    {"id": 6, "name": "removed", "state_type_id": 7, "active": False},
]
PRIORITIES = [
    {"id": 1, "name": "1 low", "active": True},
    {"id": 2, "name": "2 normal", "active": True},
    {"id": 3, "name": "3 high", "active": True},
]


def make_settings(**options: Any) -> SystemSettings:
    options.setdefault("customer", "david@example.com")
    return SystemSettings(
        name="vendor",
        type="zammad",
        url=URL,
        auth={"token": TOKEN},
        webhook_secret="s",
        bridge_user="5",
        options=options,
    )


def make_connector(attempts: int = 1, **options: Any) -> ZammadConnector:
    settings = make_settings(**options)
    return ZammadConnector(
        settings,
        REST.client(settings, attempts=attempts, wait_max=0),
        clock=lambda: NOW,
    )


def ticket(**overrides: Any) -> dict[str, Any]:
    """`GET /tickets/19?expand=true` as `attributes_with_association_names` renders it."""
    data: dict[str, Any] = {
        "id": 19,
        "group_id": 2,
        "priority_id": 2,
        "state_id": 2,
        "organization_id": None,
        "number": "22019",
        "title": "Help me!",
        "owner_id": 3,
        "customer_id": 10,
        "note": None,
        "first_response_at": None,
        "close_at": None,
        "last_contact_at": "2021-11-08T14:17:41.994Z",
        "create_article_type_id": 10,
        "create_article_sender_id": 1,
        "article_count": 2,
        "escalation_at": None,
        "pending_time": None,
        "type": "Incident",
        "time_unit": None,
        "preferences": {},
        "updated_by_id": 3,
        "created_by_id": 5,
        "created_at": "2021-11-08T14:17:41.913Z",
        "updated_at": "2021-11-09T08:00:00.250Z",
        "article_ids": [30, 31],
        "ticket_time_accounting_ids": [],
        "group": "2nd Level",
        "state": "open",
        "priority": "2 normal",
        "owner": "chris@chrispresso.com",
        "customer": "david@example.com",
        "created_by": "bridge@vendor.example",
        "updated_by": "chris@chrispresso.com",
        "organization": None,
        "create_article_type": "note",
        "create_article_sender": "Agent",
        "erp_ref": "A-1",
        "customer_ticket": "ZD-4711",
    }
    data.update(overrides)
    return data


def article(article_id: int, body: str, created_at: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": article_id,
        "ticket_id": 19,
        "type_id": 10,
        "sender_id": 1,
        "from": "Christopher Miller",
        "to": "",
        "cc": "",
        "subject": "Help me!",
        "body": body,
        "content_type": "text/plain",
        "internal": False,
        "preferences": {},
        "origin_by_id": None,
        "created_by_id": 3,
        "updated_by_id": 3,
        "created_at": created_at,
        "updated_at": created_at,
        "attachments": [],
        "type": "note",
        "sender": "Agent",
        "created_by": "chris@chrispresso.com",
        "updated_by": "chris@chrispresso.com",
    }
    data.update(overrides)
    return data


ARTICLES = [
    article(31, "Any news?", "2021-11-09T08:00:00.201Z", internal=True),
    article(
        30,
        "It crashes.\n\nEscalated from https://helpdesk.example/t/1",
        "2021-11-08T14:17:41.950Z",
        **{"from": "Ticket Bridge", "created_by_id": 5, "created_by": "bridge@vendor.example"},
        attachments=[
            {
                "id": 123,
                "filename": "trace.log",
                "size": "12",
                "preferences": {"Mime-Type": "text/plain", "Charset": "UTF-8"},
            }
        ],
    ),
]
CUSTOMER = {
    "id": 10,
    "login": "david@example.com",
    "firstname": "David",
    "lastname": "Bell",
    "email": "david@example.com",
}


def register_read(ticket_data: dict[str, Any] | None = None) -> None:
    """The four GETs behind get_ticket: ticket, its first article, customer, tags (and the
    article list, for the tests that read comments too)."""
    responses.get(
        f"{API}/tickets/19",
        json=ticket_data or ticket(),
        match=[matchers.query_param_matcher({"expand": "true"})],
    )
    responses.get(f"{API}/ticket_articles/30", json=ARTICLES[1])
    responses.get(f"{API}/ticket_articles/by_ticket/19", json=ARTICLES)
    responses.get(f"{API}/users/10", json=CUSTOMER)
    responses.get(
        f"{API}/tags",
        json={"tags": ["crash", "export"]},
        match=[matchers.query_param_matcher({"object": "Ticket", "o_id": "19"})],
    )


def register_lookups() -> None:
    responses.get(f"{API}/ticket_states", json=STATES)
    responses.get(f"{API}/ticket_priorities", json=PRIORITIES)


def sent(method: str, path: str) -> list[Any]:
    return [
        json.loads(c.request.body or b"null")
        for c in responses.calls
        if c.request.method == method and str(c.request.url).split("?")[0] == f"{API}/{path}"
    ]


# -------------------------------------------------------------------------------- basics


def test_protocol_capabilities_and_registry() -> None:
    conn = make_connector()
    assert isinstance(conn, Connector)
    assert conn.kind == "zammad"
    assert conn.capabilities == {
        Capability.WEBHOOKS,
        Capability.POLLING,
        Capability.ATTACHMENTS,
        Capability.FIND_CREATED,
    }
    assert isinstance(build_connector(make_settings()), ZammadConnector)
    assert conn.ticket_url("19") == f"{URL}/#ticket/zoom/19"


@responses.activate
def test_token_and_oauth_headers() -> None:
    responses.get(f"{API}/ticket_states", json=STATES)
    make_connector().lookups.table("state")
    oauth = SystemSettings(name="v", type="zammad", url=URL + "/", auth={"oauth_token": "o1"})
    ZammadConnector(oauth).lookups.table("state")
    assert responses.calls[0].request.headers["Authorization"] == f"Token token={TOKEN}"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer o1"
    assert responses.calls[1].request.url == f"{API}/ticket_states"
    assert "Content-Type" not in responses.calls[0].request.headers


def test_missing_auth_is_a_config_error() -> None:
    settings = SystemSettings(name="v", type="zammad", url=URL, auth={"password": "x"})
    with pytest.raises(ConfigError, match="auth needs `token`"):
        ZammadConnector(settings)


# -------------------------------------------------------------------------------- reading


@responses.activate
def test_get_ticket_maps_the_documented_shape_to_utc() -> None:
    register_read()
    result = make_connector(external_id_field="customer_ticket").get_ticket("19")

    assert result.ref == SystemRef("vendor", "19")
    assert result.subject == "Help me!"
    assert result.description.startswith("It crashes.")  # the oldest article, not list order
    assert (result.status, result.priority, result.type) == ("open", "2 normal", "Incident")
    assert result.tags == ("crash", "export")
    assert dict(result.fields) == {"erp_ref": "A-1", "customer_ticket": "ZD-4711"}
    assert result.external_id == "ZD-4711"
    assert (result.requester_email, result.requester_name) == ("david@example.com", "David Bell")
    assert result.url == f"{URL}/#ticket/zoom/19"
    assert result.created_at == datetime(2021, 11, 8, 14, 17, 41, 913000, tzinfo=UTC)
    assert result.updated_at is not None and result.updated_at.tzinfo is UTC
    assert result.updated_by == "3"


@responses.activate
def test_get_ticket_reads_the_first_article_alone_at_200_articles() -> None:
    ids = list(range(499, 299, -1))  # Zammad lists them newest first
    responses.get(f"{API}/tickets/19", json=ticket(article_ids=ids, article_count=len(ids)))
    responses.get(f"{API}/ticket_articles/300", json=article(300, "It crashes.", "2021-11-08T14Z"))
    responses.get(f"{API}/users/10", json=CUSTOMER)
    responses.get(f"{API}/tags", json={"tags": []})
    assert make_connector().get_ticket("19").description == "It crashes."
    paths = [str(c.request.url).split("?")[0].removeprefix(API) for c in responses.calls]
    assert paths == ["/tickets/19", "/ticket_articles/300", "/users/10", "/tags"]


@responses.activate
def test_a_ticket_without_its_article_ids_reads_the_description_from_the_list() -> None:
    data = ticket()
    del data["article_ids"]
    responses.get(f"{API}/tickets/19", json=data)
    responses.get(f"{API}/ticket_articles/by_ticket/19", json=ARTICLES)
    responses.get(f"{API}/users/10", json=CUSTOMER)
    responses.get(f"{API}/tags", json={"tags": []})
    assert make_connector().get_ticket("19").description.startswith("It crashes.")


@responses.activate
def test_unreadable_customer_does_not_hide_the_ticket() -> None:
    responses.get(f"{API}/tickets/19", json=ticket(article_ids=[]))
    responses.get(f"{API}/ticket_articles/by_ticket/19", json=[])
    responses.get(
        f"{API}/users/10", status=403, json={"error": "Not authorized", "error_human": "x"}
    )
    responses.get(f"{API}/tags", json={"tags": []})
    result = make_connector().get_ticket("19")
    assert result.requester_email is None and result.description == ""
    assert result.external_id is None  # no external_id_field configured


@responses.activate
def test_not_found_is_permanent_with_zammads_reason() -> None:
    responses.get(
        f"{API}/tickets/99",
        status=404,
        json={
            "error": "Couldn't find Ticket with 'id'=99",
            "error_human": "Couldn't find Ticket with 'id'=99",
        },
    )
    with pytest.raises(PermanentError, match="Couldn't find Ticket with 'id'=99") as info:
        make_connector().get_ticket("99")
    assert info.value.status == 404


def test_odd_ticket_ids_never_reach_the_url() -> None:
    with pytest.raises(PermanentError, match="is not a number"):
        make_connector().get_ticket("19/../users")


@responses.activate
def test_list_comments_oldest_first_with_authors_visibility_and_files() -> None:
    responses.get(
        f"{API}/ticket_articles/by_ticket/19",
        json=[*ARTICLES, article(32, "from phone", "2021-11-09T09:00:00.000Z", origin_by_id=10)],
    )
    comments = make_connector().list_comments("19")
    assert [c.id for c in comments] == ["30", "31", "32"]
    first, note, phone = comments
    assert (first.public, first.author_id, first.author_name) == (True, "5", "Ticket Bridge")
    assert note.public is False
    assert phone.author_id == "10"  # origin_by_id: written on behalf of the customer
    assert first.created_at == datetime(2021, 11, 8, 14, 17, 41, 950000, tzinfo=UTC)
    [attachment] = first.attachments
    assert attachment.url == f"{API}/ticket_attachment/19/30/123"
    assert (attachment.id, attachment.filename, attachment.size) == ("123", "trace.log", 12)
    assert attachment.content_type == "text/plain"

    later = make_connector().list_comments("19", since=datetime(2021, 11, 9, 8, 0, 0, 201000))
    assert [c.id for c in later] == ["32"]  # naive since = UTC; exclusive


# -------------------------------------------------------------------------------- creating


@responses.activate
def test_create_ticket_sends_the_documented_body() -> None:
    register_lookups()
    responses.post(
        f"{API}/tickets",
        status=201,
        json=ticket(id=20, state="new", priority="3 high", customer_ticket="ZD-1"),
        match=[matchers.query_param_matcher({"expand": "true"})],
    )
    draft = TicketDraft(
        subject="Export crashes",
        description="Steps: open invoice 0.",
        priority="3 High",
        fields={"customer_ticket": "ZD-1"},
        tags=("customer", "export"),
        source_url="https://helpdesk.example/t/1",
        attachments=(Attachment("a.log", "text/plain", content=b"line 1\n"),),
    )
    created = make_connector(group="2nd Level").create_ticket(draft)

    [body] = sent("POST", "tickets")
    assert body == {
        "title": "Export crashes",
        "group": "2nd Level",
        "customer": "david@example.com",
        "state_id": 1,
        "priority_id": 3,
        "customer_ticket": "ZD-1",
        "tags": "customer,export",
        "article": {
            "subject": "Export crashes",
            "body": "Steps: open invoice 0.\n\nEscalated from https://helpdesk.example/t/1",
            "type": "note",
            "internal": False,
            "content_type": "text/plain",
            "attachments": [
                {
                    "filename": "a.log",
                    "data": base64.b64encode(b"line 1\n").decode(),
                    "mime-type": "text/plain",
                }
            ],
        },
    }
    post = next(c for c in responses.calls if c.request.method == "POST")
    assert post.request.headers["Content-Type"] == "application/json"
    assert created.ref == SystemRef("vendor", "20")
    assert (created.status, created.priority) == ("new", "3 high")
    assert created.description.endswith("Escalated from https://helpdesk.example/t/1")
    assert created.tags == ("customer", "export")


@responses.activate
def test_create_uses_customer_id_project_as_group_and_default_group() -> None:
    register_lookups()
    responses.post(f"{API}/tickets", status=201, json=ticket(id=21))
    make_connector(customer="42").create_ticket(TicketDraft(subject="S", description="D"))
    make_connector(customer=" 42 ").create_ticket(
        TicketDraft(subject="S", description="D", project="Billing")
    )
    first, second = sent("POST", "tickets")
    assert (first["customer_id"], first["group"]) == (42, "Users")
    assert "customer" not in first and "priority_id" not in first
    assert second["group"] == "Billing"
    assert first["article"]["body"] == "D"  # no source URL, no extra line


def test_create_without_customer_option_is_refused_before_any_request() -> None:
    conn = make_connector()
    conn.settings = make_settings(customer="")
    with responses.RequestsMock() as mock:
        with pytest.raises(PermanentError, match=r"options\.customer"):
            conn.create_ticket(TicketDraft(subject="S", description="D"))
        assert len(mock.calls) == 0


@responses.activate
def test_unknown_priority_refreshes_the_cache_once_then_names_the_known_ones() -> None:
    register_lookups()
    with pytest.raises(PermanentError, match=r"no active ticket priority 'urgent'.*3 high"):
        make_connector().create_ticket(TicketDraft(subject="S", description="D", priority="urgent"))
    assert len(sent("GET", "ticket_priorities")) == 2
    assert sent("POST", "tickets") == []


@responses.activate
def test_lost_create_answer_is_not_sent_again() -> None:
    register_lookups()
    responses.post(f"{API}/tickets", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(RetryableError) as info:
        make_connector(attempts=3).create_ticket(TicketDraft(subject="S", description="D"))
    assert info.value.maybe_applied is True
    assert len(sent("POST", "tickets")) == 1


@responses.activate
def test_create_500_is_maybe_applied_and_not_repeated() -> None:
    register_lookups()
    responses.post(f"{API}/tickets", status=500, json={"error": "Error ID 1x: contact admin"})
    with pytest.raises(RetryableError, match="Error ID") as info:
        make_connector(attempts=3).create_ticket(TicketDraft(subject="S", description="D"))
    assert info.value.maybe_applied is True
    assert len(sent("POST", "tickets")) == 1


@responses.activate
def test_create_422_is_permanent_with_the_reason() -> None:
    register_lookups()
    message = "No lookup value found for 'group': \"Nope\""
    responses.post(f"{API}/tickets", status=422, json={"error": message, "error_human": message})
    with pytest.raises(PermanentError, match="No lookup value found") as info:
        make_connector(group="Nope").create_ticket(TicketDraft(subject="S", description="D"))
    assert info.value.status == 422


@responses.activate
def test_core_keys_are_not_custom_fields() -> None:
    with pytest.raises(PermanentError, match="'state_id' is a core"):
        make_connector().create_ticket(
            TicketDraft(subject="S", description="D", fields={"state_id": "4"})
        )


# -------------------------------------------------------------------------------- updating


@responses.activate
def test_update_sends_only_what_differs() -> None:
    register_read()
    register_lookups()
    responses.put(
        f"{API}/tickets/19",
        json=ticket(state="closed", customer_ticket="ZD-9"),
        match=[matchers.query_param_matcher({"expand": "true"})],
    )
    result = make_connector(external_id_field="customer_ticket").update_ticket(
        "19",
        TicketChanges(
            status="Closed",
            priority="2 normal",  # already so
            external_id="ZD-9",
            fields={"erp_ref": "A-1", "severity": "major"},  # erp_ref already so
        ),
    )
    assert sent("PUT", "tickets/19") == [
        {"state_id": 4, "customer_ticket": "ZD-9", "severity": "major"}
    ]
    assert result.status == "closed" and result.external_id == "ZD-9"
    assert result.description.startswith("It crashes.")  # carried over from the re-read
    assert result.requester_email == "david@example.com"


@responses.activate
def test_update_that_is_already_true_sends_nothing() -> None:
    register_read()
    result = make_connector().update_ticket(
        "19",
        TicketChanges(status="open", priority="2 normal", fields={"erp_ref": "A-1"}),
    )
    assert sent("PUT", "tickets/19") == []
    assert sent("GET", "ticket_states") == []  # no lookup needed when nothing changes
    assert result.status == "open"


@responses.activate
def test_pending_state_gets_a_pending_time_and_lookups_are_cached() -> None:
    register_read()
    register_lookups()
    responses.put(f"{API}/tickets/19", json=ticket(state="pending reminder"))
    conn = make_connector(pending_hours=48)
    conn.update_ticket("19", TicketChanges(status="pending reminder"))
    conn.update_ticket("19", TicketChanges(status="closed"))
    first, second = sent("PUT", "tickets/19")
    assert first == {"state_id": 3, "pending_time": "2021-11-11T12:00:00Z"}
    assert second == {"state_id": 4}
    assert len(sent("GET", "ticket_states")) == 1


@responses.activate
def test_inactive_state_is_not_written() -> None:
    register_read()
    register_lookups()
    with pytest.raises(PermanentError, match="no active ticket state 'removed'"):
        make_connector().update_ticket("19", TicketChanges(status="removed"))


# -------------------------------------------------------------------------------- comments


@responses.activate
def test_add_comment_is_an_internal_note_with_files_from_content_and_path(
    tmp_path: Path,
) -> None:
    big = bytes(range(256)) * 700  # > one base64 chunk, to prove chunked encoding is exact
    path = tmp_path / "dump.bin"
    path.write_bytes(big)
    responses.post(f"{API}/ticket_articles", status=201, json=article(33, "x", "2021-11-09Z"))
    comment = NewComment(
        body="Looking into it",
        public=False,
        attachments=(
            Attachment("a.txt", "text/plain", content=b"hello"),
            Attachment("dump.bin", path=str(path)),
            Attachment("remote.png", "image/png", url="https://elsewhere/x.png"),
        ),
    )
    assert make_connector().add_comment("19", comment) == "33"
    [body] = sent("POST", "ticket_articles")
    assert {k: v for k, v in body.items() if k != "attachments"} == {
        "ticket_id": 19,
        "body": "Looking into it",
        "type": "note",
        "internal": True,
        "content_type": "text/plain",
    }
    assert [(a["filename"], a["mime-type"]) for a in body["attachments"]] == [
        ("a.txt", "text/plain"),
        ("dump.bin", "application/octet-stream"),
    ]
    assert base64.b64decode(body["attachments"][1]["data"]) == big


@responses.activate
def test_public_comment_and_lost_answer_not_repeated() -> None:
    responses.post(f"{API}/ticket_articles", body=requests.ReadTimeout("lost"))
    with pytest.raises(RetryableError):
        make_connector(attempts=3).add_comment("19", NewComment(body="hi", public=True))
    [body] = sent("POST", "ticket_articles")
    assert body["internal"] is False


@responses.activate
def test_rate_limit_from_a_proxy_is_rate_limited() -> None:
    responses.post(f"{API}/ticket_articles", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as info:
        make_connector().add_comment("19", NewComment(body="hi", public=True))
    assert info.value.retry_after == 30


# -------------------------------------------------------------------------------- polling


@responses.activate
def test_changes_since_pages_until_older_than_since(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "PAGE_SIZE", 2)
    pages = {
        "1": [
            ticket(id=3, updated_at="2021-11-09T11:00:00.500Z", updated_by_id=5, state="closed"),
            ticket(id=2, updated_at="2021-11-09T10:30:00.000Z"),
        ],
        "2": [
            ticket(id=7, updated_at="2021-11-09T10:00:00.000Z"),
            ticket(id=1, updated_at="2021-11-09T09:59:59.999Z"),
        ],
    }
    for page, hits in pages.items():
        responses.get(
            f"{API}/tickets/search",
            json=hits,
            match=[
                matchers.query_param_matcher(
                    {
                        "query": "updated_at:[2021-11-09T10:00:00Z TO *]",
                        "sort_by": "updated_at",
                        "order_by": "desc",
                        "expand": "true",
                        "page": page,
                        "per_page": "2",
                    }
                )
            ],
        )
    events = make_connector().changes_since(datetime(2021, 11, 9, 10, 0, tzinfo=UTC))
    assert [e.ref.id for e in events] == ["3", "2", "7"]
    first = events[0]
    assert first.kind is EventKind.TICKET_UPDATED
    assert first.occurred_at == datetime(2021, 11, 9, 11, 0, 0, 500000, tzinfo=UTC)
    assert first.delivery_id == "poll:3:2021-11-09T11:00:00.500000+00:00"
    assert first.actor_id == "5"
    assert first.data == {"status": "closed", "priority": "2 normal"}
    assert len(responses.calls) == 2


@responses.activate
def test_changes_since_understands_the_non_expanded_answer() -> None:
    responses.get(
        f"{API}/tickets/search",
        json={
            "tickets": [9],
            "tickets_count": 1,
            "assets": {"Ticket": {"9": ticket(id=9, updated_at="2021-11-09T11:00:00.000Z")}},
        },
    )
    [event] = make_connector().changes_since(datetime(2021, 11, 9, 10, 0, tzinfo=UTC))
    assert event.ref.id == "9"


@responses.activate
def test_find_created_matches_the_first_article() -> None:
    responses.get(
        f"{API}/tickets/search",
        json=[ticket(id=20, created_at="2021-11-09T11:00:00.000Z"), ticket(id=19)],
        match=[
            matchers.query_param_matcher(
                {
                    "query": "created_at:[2021-11-08T00:00:00Z TO *] AND created_by_id:5",
                    "sort_by": "created_at",
                    "order_by": "desc",
                    "expand": "true",
                    "page": "1",
                    "per_page": "100",
                }
            )
        ],
    )
    responses.get(
        f"{API}/ticket_articles/by_ticket/20",
        json=[article(40, "Escalated from https://helpdesk.example/t/2", "2021-11-09T11Z")],
    )
    register_read()
    found = make_connector().find_created(
        "https://helpdesk.example/t/1", datetime(2021, 11, 8, tzinfo=UTC)
    )
    assert found is not None and found.ref.id == "19"
    assert (
        make_connector().find_created("https://nowhere/1", datetime(2021, 11, 8, tzinfo=UTC))
        is None
    )


# ------------------------------------------------------------------------------ attachments


class CountingBytes(io.BytesIO):
    """Counts what the client really pulled from the fake server's body."""

    served = 0

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.served += count
        return count


@responses.activate
def test_fetch_attachment_streams_into_dest() -> None:
    content = b"x" * 100_000
    responses.get(f"{API}/ticket_attachment/19/30/123", body=content)
    dest = io.BytesIO()
    attachment = Attachment("trace.log", url=f"{API}/ticket_attachment/19/30/123")
    assert make_connector().fetch_attachment(attachment, dest, max_bytes=200_000) == 100_000
    assert dest.getvalue() == content
    assert responses.calls[0].request.headers["Authorization"] == f"Token token={TOKEN}"


@responses.activate
def test_fetch_attachment_refuses_large_files() -> None:
    url = f"{API}/ticket_attachment/19/30/123"
    responses.get(url, body=b"x" * 1000, headers={"Content-Length": "1000"})
    with pytest.raises(PermanentError, match="over the limit") as info:
        make_connector().fetch_attachment(Attachment("a", url=url), io.BytesIO(), 999)
    assert info.value.status == 413


@responses.activate
def test_fetch_attachment_stops_when_the_stream_exceeds_the_limit() -> None:
    url = f"{API}/ticket_attachment/19/30/124"
    raw = CountingBytes(b"a" * 1_000_000)
    source = io.BufferedReader(raw)  # a stream: responses sends no Content-Length for it
    responses.get(url, body=source)
    dest = io.BytesIO()
    with pytest.raises(PermanentError, match="more than the limit of 100000") as info:
        make_connector().fetch_attachment(Attachment("a", url=url), dest, 100_000)
    assert info.value.status == 413
    assert len(dest.getvalue()) <= 100_000
    assert raw.served < 1_000_000  # the rest was never read


def test_fetch_attachment_never_sends_the_token_elsewhere() -> None:
    with responses.RequestsMock() as mock:
        for url in (
            "https://evil.example/api/v1/ticket_attachment/1/2/3",
            "http://zammad.vendor.example/x",
            None,
        ):
            with pytest.raises(PermanentError):
                make_connector().fetch_attachment(Attachment("a", url=url), io.BytesIO(), 10)
        assert len(mock.calls) == 0


def test_config_requires_a_zammad_token() -> None:
    from marshmallow import ValidationError

    from bridge.config import SystemSchema

    base = {"type": "zammad", "url": "https://zammad.vendor.example", "bridge_user": "5"}
    SystemSchema().load({**base, "auth": {"token": "t"}})
    SystemSchema().load({**base, "auth": {"oauth_token": "o"}})
    with pytest.raises(ValidationError, match=r"zammad needs auth\.token"):
        SystemSchema().load({**base, "auth": {"email": "x"}})
