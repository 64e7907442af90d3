"""MantisConnector against `responses` fakes built from MantisBT's documented payloads.

Shapes follow shared/reference/api-facts.md section 3: `{"issues": [...]}` for a single issue,
enum objects with localized labels, server-local offsets, absent keys for nulls/empty arrays,
and empty-body errors that carry their reason only in the HTTP reason phrase.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from bridge.errors import (
    ConfigError,
    PayloadError,
    PermanentError,
    RateLimited,
    ReadOnlyTicket,
    RetryableError,
)
from bridge.models import Attachment, NewComment, SystemRef, TicketChanges, TicketDraft
from bridge.protocol import Capability, Connector, SystemSettings
from connectors.common import parse_utc as parse_time
from connectors.mantis import MantisConnector, poll
from connectors.mantis.client import REST
from connectors.mantis.enums import EnumKind, load_enums, stock_enums
from connectors.mantis.parse import parse_note

URL = "https://bugs.vendor.example/mantis"
API = f"{URL}/api/rest"
TOKEN = "Zx9-bridge-token"


class ReasonResponse(responses.Response):
    """A fake answer with a custom HTTP reason phrase, as Mantis sends for many errors."""

    def __init__(self, *args: Any, reason: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reason = reason

    def get_response(self, request: requests.PreparedRequest) -> Any:
        response = super().get_response(request)
        response.reason = self._reason
        return response


def changed_issues(
    connector: MantisConnector, project_id: int | str, since: datetime, page_size: int = 50
) -> list[tuple[str, datetime]]:
    """`(issue id, updated_at)` as the poll's walk (`poll.updated_since`) returns them."""
    params = {"project_id": project_id, "select": "id,updated_at"}
    issues = poll.updated_since(connector.http, params, since, page_size, "list issues")
    return [(str(i["id"]), u) for i in issues if (u := parse_time(i.get("updated_at")))]


def make_settings(**options: Any) -> SystemSettings:
    return SystemSettings(
        name="vendor",
        type="mantis",
        url=URL,
        auth={"token": TOKEN},
        bridge_user="7",
        options=options,
    )


def make_connector(attempts: int = 1, **options: Any) -> MantisConnector:
    settings = make_settings(**options)
    http = REST.client(settings, attempts=attempts, wait_max=0)
    return MantisConnector(settings, http, enums=stock_enums())


def enum(code: int, name: str, label: str | None = None) -> dict[str, Any]:
    return {"id": code, "name": name, "label": label or name}


def full_issue(**overrides: Any) -> dict[str, Any]:
    """An issue as `mc_issue_get` renders it (German labels to prove we map on `name`)."""
    issue: dict[str, Any] = {
        "id": 123,
        "summary": "Export crashes on empty invoice",
        "description": "Steps: open invoice 0, click export.",
        "project": {"id": 3, "name": "Billing"},
        "category": {"id": 12, "name": "Export"},
        "reporter": {
            "id": 7,
            "name": "bridge",
            "real_name": "Ticket Bridge",
            "email": "bridge@customer.example",
        },
        "handler": {"id": 9, "name": "dev.anna"},
        "status": {**enum(50, "assigned", "zugewiesen"), "color": "#c2dfff"},
        "resolution": enum(10, "open", "offen"),
        "view_state": enum(10, "public", "öffentlich"),
        "priority": enum(40, "high", "hoch"),
        "severity": enum(60, "major", "schwer"),
        "reproducibility": enum(70, "have not tried", "nicht getestet"),
        "sticky": False,
        "created_at": "2025-03-04T10:15:00+01:00",
        "updated_at": "2025-03-05T08:00:30+01:00",
        "custom_fields": [
            {"field": {"id": 4, "name": "Customer ticket"}, "value": "ZD-4711"},
            {"field": {"id": 5, "name": "Affected versions"}, "value": "1.2|1.3"},
        ],
        "tags": [{"id": 1, "name": "customer"}, {"id": 2, "name": "export"}],
        "history": [
            {
                "created_at": "2025-03-04T10:15:00+01:00",
                "user": {"id": 7, "name": "bridge"},
                "type": {"id": 1, "name": "issue-new"},
                "message": "New Issue",
            },
            {
                "created_at": "2025-03-05T08:00:30+01:00",
                "user": {"id": 9, "name": "dev.anna"},
                "field": {"name": "status", "label": "Status"},
                "type": {"id": 0, "name": "field-updated"},
                "old_value": "10",
                "new_value": "50",
                "message": "Status",
                "change": "new => assigned",
            },
        ],
    }
    issue.update(overrides)
    return issue


def note(
    note_id: int,
    text: str,
    created_at: str,
    *,
    private: bool = False,
    note_type: str = "note",
    reporter: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": note_id,
        "reporter": reporter or {"id": 9, "name": "dev.anna", "real_name": "Anna Dev"},
        "text": text,
        "view_state": enum(50, "private", "privat") if private else enum(10, "public"),
        "attachments": attachments or [],
        "type": note_type,
        "created_at": created_at,
        "updated_at": created_at,
    }


def sent_json(call_index: int = -1) -> Any:
    return json.loads(responses.calls[call_index].request.body or b"")


# -- reading -------------------------------------------------------------------------------


@responses.activate
def test_get_ticket_parses_documented_issue_and_normalises_to_utc() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]}, headers={"ETag": "abc"})

    ticket = make_connector().get_ticket("123")

    assert ticket.ref == SystemRef("vendor", "123")
    assert ticket.subject == "Export crashes on empty invoice"
    assert ticket.description == "Steps: open invoice 0, click export."
    assert ticket.status == "assigned"  # name, not the localized label "zugewiesen"
    assert ticket.priority == "high"
    assert ticket.type == "Export"
    assert ticket.tags == ("customer", "export")
    assert ticket.fields == {"Customer ticket": "ZD-4711", "Affected versions": "1.2|1.3"}
    assert ticket.requester_email == "bridge@customer.example"
    assert ticket.requester_name == "Ticket Bridge"
    assert ticket.url == f"{URL}/view.php?id=123"
    assert ticket.created_at == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert ticket.updated_at == datetime(2025, 3, 5, 7, 0, 30, tzinfo=UTC)
    assert ticket.created_at is not None and ticket.created_at.tzinfo is UTC
    assert ticket.updated_by == "9"
    assert ticket.external_id is None

    request = responses.calls[0].request
    assert request.headers["Authorization"] == TOKEN  # bare token, no "Bearer"
    assert "Content-Type" not in request.headers


@responses.activate
def test_get_ticket_tolerates_absent_keys() -> None:
    minimal = {
        "id": 5,
        "summary": "Only the basics",
        "reporter": {"id": 2, "name": "jdoe"},
        "created_at": "2025-01-01T00:30:00+01:00",
    }
    responses.get(f"{API}/issues/5", json={"issues": [minimal]})

    ticket = make_connector().get_ticket("5")

    assert ticket.description == ""
    assert ticket.status is None and ticket.priority is None and ticket.type is None
    assert ticket.tags == () and dict(ticket.fields) == {}
    assert ticket.requester_email is None
    assert ticket.requester_name == "jdoe"
    assert ticket.created_at == datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    assert ticket.updated_at is None and ticket.updated_by is None


@responses.activate
def test_external_id_is_read_from_configured_custom_field() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})

    ticket = make_connector(external_id_field="Customer ticket").get_ticket("123")

    assert ticket.external_id == "ZD-4711"


@responses.activate
def test_empty_issue_list_is_a_permanent_404() -> None:
    responses.get(f"{API}/issues/77", json={"issues": []})

    with pytest.raises(PermanentError) as err:
        make_connector().get_ticket("77")

    assert err.value.status == 404
    assert "77" in str(err.value)


@responses.activate
def test_empty_body_404_reports_the_reason_phrase() -> None:
    responses.add(
        ReasonResponse(
            "GET", f"{API}/issues/123", status=404, body=b"", reason="Issue #123 not found"
        )
    )

    with pytest.raises(PermanentError) as err:
        make_connector().get_ticket("123")

    assert err.value.status == 404
    assert "404 Issue #123 not found" in str(err.value)


@responses.activate
def test_json_error_message_is_reported() -> None:
    body = {
        "message": "Category field must be supplied.",
        "code": 11,
        "localized": "Kategorie fehlt",
    }
    responses.post(f"{API}/issues", status=400, json=body)

    with pytest.raises(PermanentError) as err:
        make_connector().create_ticket(TicketDraft("s", "d", project="Billing"))

    assert err.value.status == 400
    assert "Category field must be supplied." in str(err.value)


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [
        (401, {}, PermanentError),
        (403, {}, PermanentError),
        (422, {}, PermanentError),
        (409, {}, RetryableError),
        (500, {}, RetryableError),
        (503, {}, RetryableError),
    ],
)
@responses.activate
def test_http_failures_map_onto_the_error_tree(
    status: int, headers: dict[str, str], error: type[Exception]
) -> None:
    responses.get(f"{API}/issues/1", status=status, body=b"", headers=headers)

    with pytest.raises(error) as err:
        make_connector().get_ticket("1")

    assert type(err.value) is error
    assert f"{status}" in str(err.value)


@responses.activate
def test_anti_spam_429_is_rate_limited_with_retry_after() -> None:
    responses.add(
        ReasonResponse(
            "POST",
            f"{API}/issues/1/notes",
            status=429,
            body=b"",
            headers={"Retry-After": "120"},
            reason="Hit rate limit threshold",
        )
    )

    with pytest.raises(RateLimited) as err:
        make_connector().add_comment("1", NewComment("hi", public=True))

    assert err.value.retry_after == 120
    assert "Hit rate limit threshold" in str(err.value)


@responses.activate
def test_short_blips_are_retried_inside_the_call_without_sleeping() -> None:
    responses.get(f"{API}/issues/123", status=503, body=b"")
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})

    ticket = make_connector(attempts=2).get_ticket("123")

    assert ticket.status == "assigned"
    assert len(responses.calls) == 2


def test_missing_token_is_a_config_error() -> None:
    settings = SystemSettings(name="vendor", type="mantis", url=URL, auth={})
    with pytest.raises(ConfigError, match=r"auth\.token"):
        MantisConnector(settings)


def test_protocol_surface() -> None:
    connector = make_connector()
    assert isinstance(connector, Connector)
    assert connector.kind == "mantis"
    assert connector.capabilities == frozenset(
        {
            Capability.POLLING,
            Capability.ATTACHMENTS,
            Capability.FIND_CREATED,
            Capability.READS_TOGETHER,
        }
    )
    assert connector.ticket_url("42") == f"{URL}/view.php?id=42"


def test_webhooks_are_refused_with_a_payload_error() -> None:
    connector = make_connector()
    with pytest.raises(PayloadError, match="MantisBT has no webhooks; it is polled") as err:
        connector.verify_webhook({}, b"{}")
    assert err.value.http_status == 400
    with pytest.raises(PayloadError, match="no webhooks"):
        connector.parse_webhook({}, b"{}")


# -- comments ------------------------------------------------------------------------------


@responses.activate
def test_list_comments_keeps_notes_only_with_visibility_authors_and_utc() -> None:
    notes = [
        note(
            31,
            "Can you send the log?",
            "2025-03-04T11:00:00+01:00",
            attachments=[
                {"id": 88, "filename": "trace.txt", "size": 120, "content_type": "text/plain"}
            ],
        ),
        note(32, "worked 15 min", "2025-03-04T11:05:00+01:00", note_type="timelog"),
        note(33, "Internal: regression from 1.2", "2025-03-04T12:00:00+01:00", private=True),
        note(34, "reminder for anna", "2025-03-04T12:30:00+01:00", note_type="reminder"),
    ]
    responses.get(
        f"{API}/issues/123",
        json={"issues": [{"id": 123, "notes": notes}]},
        match=[responses.matchers.query_param_matcher({"select": "id,notes"})],
    )

    comments = make_connector().list_comments("123")

    assert [c.id for c in comments] == ["31", "33"]
    first, second = comments
    assert first.body == "Can you send the log?"
    assert first.public is True
    assert first.author_id == "9"
    assert first.author_name == "Anna Dev"
    assert first.created_at == datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    assert first.attachments[0].filename == "trace.txt"
    assert first.attachments[0].content_type == "text/plain"
    assert first.attachments[0].size == 120
    assert first.attachments[0].url == f"{API}/issues/123/files/88"
    assert second.public is False


@responses.activate
def test_list_comments_since_filters_strictly_after() -> None:
    notes = [
        note(1, "old", "2025-03-04T11:00:00+01:00"),
        note(2, "same second", "2025-03-04T12:00:00+01:00"),
        note(3, "new", "2025-03-04T12:00:01+01:00"),
    ]
    responses.get(f"{API}/issues/123", json={"issues": [{"id": 123, "notes": notes}]})

    since = datetime(2025, 3, 4, 11, 0, tzinfo=UTC)  # == note 2 in UTC
    comments = make_connector().list_comments("123", since=since)

    assert [c.body for c in comments] == ["new"]


@responses.activate
def test_list_comments_without_notes_key_is_empty() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [{"id": 123}]})
    assert make_connector().list_comments("123") == []


@responses.activate
def test_add_comment_posts_note_with_view_state_and_files() -> None:
    created = note(55, "Fixed in 1.4", "2025-03-06T09:00:00+01:00", private=True)
    responses.post(
        f"{API}/issues/123/notes",
        status=201,
        json={"note": created, "issue": full_issue()},
    )

    note_id = make_connector().add_comment(
        "123",
        NewComment(
            "Fixed in 1.4",
            public=False,
            attachments=(
                Attachment("fix.patch", content=b"--- a\n+++ b\n"),
                Attachment("remote.png", url="https://cdn.example/remote.png"),
            ),
        ),
    )

    assert note_id == "55"
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == TOKEN
    assert sent_json() == {
        "text": "Fixed in 1.4",
        "view_state": {"name": "private"},
        "files": [{"name": "fix.patch", "content": base64.b64encode(b"--- a\n+++ b\n").decode()}],
    }


@responses.activate
def test_add_public_comment_without_files_sends_no_files_key() -> None:
    responses.post(
        f"{API}/issues/9/notes",
        status=201,
        json={"note": note(1, "hi", "2025-03-06T09:00:00+01:00"), "issue": {"id": 9}},
    )

    make_connector().add_comment("9", NewComment("hi", public=True))

    assert sent_json() == {"text": "hi", "view_state": {"name": "public"}}


@responses.activate
def test_add_comment_without_note_in_answer_is_permanent() -> None:
    responses.post(f"{API}/issues/9/notes", status=201, body=b"")
    with pytest.raises(PermanentError, match="no note id"):
        make_connector().add_comment("9", NewComment("hi", public=True))


# -- create --------------------------------------------------------------------------------


@responses.activate
def test_create_ticket_sends_documented_body_and_parses_created_issue() -> None:
    responses.post(f"{API}/issues", status=201, json={"issue": full_issue(id=124)})

    draft = TicketDraft(
        subject="Export crashes on empty invoice",
        description="Steps: open invoice 0, click export.",
        priority="high",
        project="3",
        category="Export",
        fields={"Customer ticket": "ZD-4711", "5": "1.3"},
        tags=("customer",),
        source_url="https://help.customer.example/agent/tickets/4711",
        attachments=(Attachment("crash.log", content=b"boom"), Attachment("no-content.txt")),
    )
    ticket = make_connector(severity={"name": "major"}).create_ticket(draft)

    assert ticket.ref == SystemRef("vendor", "124")
    assert ticket.url == f"{URL}/view.php?id=124"
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    assert sent_json() == {
        "summary": "Export crashes on empty invoice",
        "description": "Steps: open invoice 0, click export.",
        "project": {"id": 3},
        "category": {"name": "Export"},
        "priority": {"name": "high"},
        "severity": {"name": "major"},
        "additional_information": (
            "Escalated from https://help.customer.example/agent/tickets/4711"
        ),
        "custom_fields": [
            {"field": {"name": "Customer ticket"}, "value": "ZD-4711"},
            {"field": {"id": 5}, "value": "1.3"},
        ],
        "tags": [{"name": "customer"}],
        "files": [{"name": "crash.log", "content": base64.b64encode(b"boom").decode()}],
    }


@responses.activate
def test_create_ticket_uses_option_defaults_for_project_and_category() -> None:
    responses.post(f"{API}/issues", status=201, json={"issue": full_issue()})

    make_connector(project="Billing", category=12).create_ticket(TicketDraft("s", "d"))

    body = sent_json()
    assert body["project"] == {"name": "Billing"}
    assert body["category"] == {"id": 12}
    assert "priority" not in body and "severity" not in body and "files" not in body


def test_create_ticket_without_any_project_fails_before_calling() -> None:
    with responses.RequestsMock() as mock, pytest.raises(PermanentError, match="no project"):
        make_connector().create_ticket(TicketDraft("s", "d"))
    assert len(mock.calls) == 0


@responses.activate
def test_create_ticket_accepted_for_moderation_is_permanent() -> None:
    responses.add(
        ReasonResponse(
            "POST", f"{API}/issues", status=202, body=b"", reason="Accepted for moderation"
        )
    )

    with pytest.raises(PermanentError, match="must not be moderated") as err:
        make_connector(project="Billing").create_ticket(TicketDraft("s", "d"))

    assert err.value.status == 202


# -- update --------------------------------------------------------------------------------


@responses.activate
def test_update_ticket_patches_only_what_differs() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})
    resolved = full_issue(status={**enum(80, "resolved", "erledigt"), "color": "#d2f5b0"})
    responses.patch(f"{API}/issues/123", json={"issues": [resolved]}, headers={"ETag": "n"})

    ticket = make_connector().update_ticket(
        "123",
        TicketChanges(
            status="resolved",
            priority="high",  # already high
            fields={"Customer ticket": "ZD-4711", "Affected versions": ["1.2", "1.3", "1.4"]},
        ),
    )

    assert ticket.status == "resolved"
    assert [c.request.method for c in responses.calls] == ["GET", "PATCH"]
    assert responses.calls[1].request.headers["Content-Type"] == "application/json"
    assert sent_json() == {
        "status": {"name": "resolved"},
        "custom_fields": [{"field": {"name": "Affected versions"}, "value": "1.2|1.3|1.4"}],
    }


@responses.activate
def test_update_ticket_sends_nothing_when_already_true() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})

    ticket = make_connector().update_ticket(
        "123",
        TicketChanges(status="assigned", priority="high", fields={"4": "ZD-4711"}),
    )

    assert ticket.status == "assigned"
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_update_ticket_compares_custom_fields_addressed_by_id() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})
    responses.patch(f"{API}/issues/123", json={"issues": [full_issue()]})

    make_connector().update_ticket("123", TicketChanges(priority="urgent", fields={"4": "ZD-1"}))

    assert sent_json() == {
        "priority": {"name": "urgent"},
        "custom_fields": [{"field": {"id": 4}, "value": "ZD-1"}],
    }


@responses.activate
def test_update_ticket_writes_external_id_to_the_configured_field() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue(custom_fields=[])]})
    responses.patch(f"{API}/issues/123", json={"issues": [full_issue()]})

    ticket = make_connector(external_id_field="Customer ticket").update_ticket(
        "123", TicketChanges(external_id="ZD-4711")
    )

    assert sent_json() == {
        "custom_fields": [{"field": {"name": "Customer ticket"}, "value": "ZD-4711"}]
    }
    assert ticket.external_id == "ZD-4711"


@responses.activate
def test_update_ticket_ignores_external_id_without_a_configured_field() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})

    make_connector().update_ticket("123", TicketChanges(external_id="ZD-4711"))

    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_update_ticket_of_missing_issue_is_permanent() -> None:
    responses.add(
        ReasonResponse("GET", f"{API}/issues/9", status=404, body=b"", reason="Issue #9 not found")
    )
    with pytest.raises(PermanentError, match="Issue #9 not found"):
        make_connector().update_ticket("9", TicketChanges(status="resolved"))


# -- polling helper ------------------------------------------------------------------------


def _page(*pairs: tuple[int, str]) -> dict[str, Any]:
    return {"issues": [{"id": i, "updated_at": u} for i, u in pairs]}


@responses.activate
def test_list_changed_pages_until_older_than_since() -> None:
    def params(page: int) -> list[Any]:
        return [
            responses.matchers.query_param_matcher(
                {"project_id": "3", "page": str(page), "page_size": "2", "select": "id,updated_at"}
            )
        ]

    responses.get(
        f"{API}/issues",
        json=_page((9, "2025-03-05T12:00:00+01:00"), (4, "2025-03-05T11:00:00+01:00")),
        match=params(1),
    )
    responses.get(
        f"{API}/issues",
        json=_page((7, "2025-03-05T10:00:00+01:00"), (2, "2025-03-05T09:59:59+01:00")),
        match=params(2),
    )

    since = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)  # 10:00+01:00, issue 7 included
    changed = changed_issues(make_connector(), 3, since, page_size=2)

    assert changed == [
        ("9", datetime(2025, 3, 5, 11, 0, tzinfo=UTC)),
        ("4", datetime(2025, 3, 5, 10, 0, tzinfo=UTC)),
        ("7", datetime(2025, 3, 5, 9, 0, tzinfo=UTC)),
    ]
    assert len(responses.calls) == 2


@responses.activate
def test_list_changed_terminates_on_an_empty_page() -> None:
    responses.get(
        f"{API}/issues",
        json=_page((9, "2025-03-05T12:00:00+01:00"), (4, "2025-03-05T11:00:00+01:00")),
        match=[responses.matchers.query_param_matcher({"page": "1"}, strict_match=False)],
    )
    responses.get(
        f"{API}/issues",
        json={"issues": []},
        match=[responses.matchers.query_param_matcher({"page": "2"}, strict_match=False)],
    )

    changed = changed_issues(make_connector(), 3, datetime(2000, 1, 1, tzinfo=UTC), page_size=2)

    assert [i for i, _ in changed] == ["9", "4"]
    assert len(responses.calls) == 2


@responses.activate
def test_list_changed_terminates_on_a_short_page() -> None:
    responses.get(f"{API}/issues", json=_page((9, "2025-03-05T12:00:00+01:00")))

    changed = changed_issues(make_connector(), 3, datetime(2000, 1, 1, tzinfo=UTC), page_size=50)

    assert [i for i, _ in changed] == ["9"]
    assert len(responses.calls) == 1


@responses.activate
def test_ticket_and_comments_come_from_one_request() -> None:
    notes = [
        note(31, "Can you send the log?", "2025-03-04T11:00:00+01:00"),
        note(32, "worked 15 min", "2025-03-04T11:05:00+01:00", note_type="timelog"),
    ]
    responses.get(f"{API}/issues/123", json={"issues": [full_issue(notes=notes)]})
    connector = make_connector()
    assert Capability.READS_TOGETHER in connector.capabilities

    ticket, comments = connector.get_ticket_and_comments("123")

    assert len(responses.calls) == 1
    assert "select" not in (responses.calls[0].request.url or "")
    assert ticket == connector.get_ticket("123")
    assert comments == connector.list_comments("123")
    assert [c.id for c in comments] == ["31"]


def test_a_time_out_of_range_in_utc_is_no_time() -> None:
    from connectors.mantis.parse import parse_time

    assert parse_time("9999-12-31T23:59:59-14:00") is None
    assert parse_time("2026-12-01T12:19:55+01:00") == datetime(2026, 12, 1, 11, 19, 55, tzinfo=UTC)


# -- what a real 2.28 answers (mantis-real.md) ------------------------------------------------


@responses.activate
def test_the_note_shape_of_a_read_only_refusal_names_level_and_project() -> None:
    refusal = {"message": "Issue '123' is read-only.", "code": 1103, "localized": "x"}
    responses.add(
        ReasonResponse(
            "POST", f"{API}/issues/123/notes", json=refusal, status=403, reason=refusal["message"]
        )
    )
    responses.get(f"{API}/issues/123", json={"issues": [full_issue(status=enum(90, "closed"))]})
    responses.get(
        f"{API}/projects/3",
        json={"projects": [{"id": 3, "name": "Billing", "access_level": enum(55, "developer")}]},
    )
    with pytest.raises(ReadOnlyTicket) as err:
        make_connector().add_comment("123", NewComment("Retest failed", public=True))
    assert str(err.value).startswith(
        "MantisBT refuses changes to closed issue 123 for the bridge user "
        "(access level DEVELOPER on project Billing): give the bridge user MANAGER"
    )


@responses.activate
def test_the_patch_shape_of_a_read_only_refusal_stands_when_nothing_more_can_be_read() -> None:
    responses.get(f"{API}/issues/123", json={"issues": [full_issue()]})
    responses.patch(f"{API}/issues/123", json={"message": "Issue '123' is readonly"}, status=403)
    responses.get(f"{API}/projects/3", status=503)
    with pytest.raises(ReadOnlyTicket) as err:
        make_connector().update_ticket("123", TicketChanges(status="new"))
    assert err.value.access_level is None
    assert "issue 123 for the bridge user: give the bridge user MANAGER" in str(err.value)


@responses.activate
def test_an_other_403_is_not_read_only() -> None:
    responses.post(
        f"{API}/issues/123/notes",
        json={"message": "Access denied", "code": 13, "localized": "Access denied"},
        status=403,
    )
    with pytest.raises(PermanentError) as err:
        make_connector().add_comment("123", NewComment("x", public=True))
    assert not isinstance(err.value, ReadOnlyTicket)


@responses.activate
def test_too_big_with_no_note_to_find_stays_a_refusal() -> None:
    responses.post(
        f"{API}/issues/123/notes",
        json={"message": "File 'a.bin' too big", "code": 500, "localized": "x"},
        status=400,
    )
    responses.get(f"{API}/issues/123", json={"issues": [{"id": 123}]})
    files = (Attachment("a.bin", content=b"abc"),)
    with pytest.raises(PermanentError, match=r"File 'a\.bin' too big") as err:
        make_connector().add_comment("123", NewComment("x", True, files))
    assert err.value.status == 400


@responses.activate
def test_enums_come_from_config_and_an_option_left_out_is_not_checked() -> None:
    configs = [
        {"option": "status_enum_string", "value": [{"id": "10", "name": "open", "label": "x"}]},
        {"option": "max_file_size", "value": 1000},
    ]
    responses.get(f"{API}/config", json={"configs": configs})
    enums = load_enums(make_connector().http, 3)
    assert enums.values == {EnumKind.STATUS: {"open": 10}}
    assert enums.max_file_size == 1000
    enums.check(EnumKind.PRIORITY, {"name": "anything"})  # the site did not say: no check
    enums.check(EnumKind.STATUS, {"id": 10})
    with pytest.raises(ConfigError, match="status id 20 is not one of"):
        enums.check(EnumKind.STATUS, {"id": 20})
    query = responses.calls[0].request.url or ""
    assert "option%5B%5D=status_enum_string" in query and "project_id=3" in query


def test_a_note_by_a_user_whose_real_name_is_hidden_shows_the_username() -> None:
    note = {"id": 4, "reporter": {"id": 2, "name": "dana"}, "text": "t", "type": "note"}
    assert parse_note(note, API, "1").author_name == "dana"


@responses.activate
def test_the_file_limit_falls_back_to_the_option_when_config_cannot_be_read() -> None:
    responses.get(f"{API}/config", status=503)
    settings = make_settings(max_attachment_bytes=1234)
    connector = MantisConnector(settings, REST.client(settings, attempts=1, wait_max=0))
    assert connector.max_attachment_bytes == 1234
    with pytest.raises(RetryableError):  # a write still needs the site's lists
        connector.update_ticket("1", TicketChanges(status="new"))
