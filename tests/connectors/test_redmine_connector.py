"""The Redmine connector against `responses` fakes in Redmine 5's documented JSON shapes.

The same decisions tests/redmine checks on a live server, without one: payloads, the silent
drops Redmine makes (workflow, private notes, tracker), journal ids read back, polling pages,
the config's auth and options. (The shapes were taken from a live Redmine 5.0.4.)
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from marshmallow import ValidationError

from bridge.config import SystemSchema
from bridge.errors import PayloadError, PermanentError, RetryableError
from bridge.findings import Level, Usage
from bridge.models import Attachment, NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from connectors.redmine import RedmineConnector
from connectors.redmine.client import REST

URL = "https://redmine.vendor.example"
T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def make(**options: Any) -> RedmineConnector:
    settings = SystemSettings(
        "vendor", "redmine", URL, {"api_key": "k3y"}, bridge_user="5",
        options={"project": "bridge-test", **options},
    )  # fmt: skip
    return RedmineConnector(settings, REST.client(settings, attempts=1, wait_max=0))


def issue(issue_id: int = 7, status: str = "New", **extra: Any) -> dict[str, Any]:
    return {
        "id": issue_id,
        "project": {"id": 1, "name": "Bridge Test"},
        "tracker": {"id": 3, "name": "Support"},
        "status": {"id": {"New": 1, "Feedback": 4, "Closed": 5}.get(status, 2), "name": status},
        "priority": {"id": 2, "name": "Normal"},
        "author": {"id": 5, "name": "Ticket Bridge"},
        "subject": "Printer on fire",
        "description": "Escalated from https://zd.example/t/42",
        "custom_fields": [{"id": 1, "name": "Kundennummer", "value": "40711"},
                          {"id": 3, "name": "Helpdesk-Ticket", "value": None}],
        "created_on": "2025-03-04T10:00:00Z",
        "updated_on": "2025-03-04T10:05:00Z",
        "attachments": [],
        "journals": [],
        **extra,
    }  # fmt: skip


def journal(journal_id: int, user: int, notes: str, private: bool = False, **extra: Any) -> Any:
    return {"id": journal_id, "user": {"id": user, "name": f"user {user}"}, "notes": notes,
            "created_on": "2025-03-04T10:05:00Z", "private_notes": private, "details": [],
            **extra}  # fmt: skip


def serve_issue(*states: dict[str, Any]) -> None:
    """Answer the issue reads in order (the last one repeats)."""
    for state in states:
        responses.get(f"{URL}/issues/7.json", json={"issue": state})


def sent(method: str, path: str) -> list[Any]:
    return [
        json.loads(c.request.body or b"{}")
        for c in responses.calls
        if c.request.method == method and str(c.request.url).split("?")[0] == f"{URL}/{path}"
    ]


STATUSES = {"issue_statuses": [{"id": 1, "name": "New", "is_closed": False},
                               {"id": 2, "name": "In Progress", "is_closed": False},
                               {"id": 4, "name": "Feedback", "is_closed": False},
                               {"id": 5, "name": "Closed", "is_closed": True}]}  # fmt: skip


# ------------------------------------------------------------------------------ config


def test_config_needs_an_api_key_and_types_the_options() -> None:
    base = {"type": "redmine", "url": URL, "bridge_user": "5"}
    SystemSchema().load({**base, "auth": {"api_key": "k"}, "options": {"projects": ["a", 2]}})
    with pytest.raises(ValidationError, match=r"redmine needs auth\.api_key"):
        SystemSchema().load({**base, "auth": {"token": "t"}})
    with pytest.raises(ValidationError, match="give the id of a Redmine custom field"):
        SystemSchema().load({**base, "auth": {"api_key": "k"},
                             "options": {"external_id_field": "Helpdesk-Ticket"}})  # fmt: skip


@responses.activate
def test_the_api_key_goes_in_the_header_never_in_the_url() -> None:
    serve_issue(issue())
    make().get_ticket("7")
    request = responses.calls[0].request
    assert request.headers["X-Redmine-API-Key"] == "k3y"
    assert "k3y" not in str(request.url) and "include=journals%2Cattachments" in str(request.url)


# ------------------------------------------------------------------------------ reading


@responses.activate
def test_an_issue_reads_as_a_ticket_with_who_changed_its_status_and_when() -> None:
    serve_issue(issue(status="Feedback", journals=[
        journal(11, 9, "Which browser?", details=[
            {"property": "attr", "name": "status_id", "old_value": "1", "new_value": "4"}]),
        journal(12, 9, "", details=[{"property": "attr", "name": "priority_id"}]),
    ]))  # fmt: skip
    ticket = make(external_id_field="3").get_ticket("7")
    assert (ticket.status, ticket.priority, ticket.type) == ("feedback", "normal", "support")
    assert ticket.fields == {"1": "40711", "3": None} and ticket.external_id is None
    assert ticket.status_changed_by == "9" and ticket.updated_by == "9"
    assert ticket.status_changed_at == datetime(2025, 3, 4, 10, 5, tzinfo=UTC)
    assert ticket.url == f"{URL}/issues/7"


@responses.activate
def test_journals_with_notes_or_files_are_comments_and_files_download_from_our_host() -> None:
    files = [
        {
            "id": 31,
            "filename": "shot one.png",
            "filesize": 7,
            "content_type": "image/png",
            "content_url": "http://proxy.internal/attachments/download/31/shot%20one.png",
        }
    ]
    serve_issue(issue(attachments=files, journals=[
        journal(11, 9, "internal", private=True),
        journal(12, 9, "", details=[{"property": "attr", "name": "status_id"}]),
        journal(13, 9, "", details=[{"property": "attachment", "name": "31",
                                     "new_value": "shot one.png"}]),
    ]))  # fmt: skip
    comments = make().list_comments("7")
    assert [(c.id, c.body, c.public) for c in comments] == [("11", "internal", False),
                                                             ("13", "", True)]  # fmt: skip
    (shot,) = comments[1].attachments
    assert shot.url == f"{URL}/attachments/download/31/shot%20one.png"  # not the proxy's host
    responses.get(shot.url, body=b"PNGDATA")
    dest = io.BytesIO()
    assert make().fetch_attachment(shot, dest, 100) == 7 and dest.getvalue() == b"PNGDATA"


# ------------------------------------------------------------------------------ writing


@responses.activate
def test_create_resolves_names_to_ids_and_attaches_files_by_upload_token() -> None:
    responses.get(
        f"{URL}/projects.json",
        json={
            "projects": [{"id": 1, "name": "Bridge Test", "identifier": "bridge-test"}],
            "total_count": 1,
        },
    )
    responses.get(
        f"{URL}/projects/1.json",
        json={
            "project": {
                "id": 1,
                "trackers": [{"id": 1, "name": "Bug"}, {"id": 3, "name": "Support"}],
            }
        },
    )
    responses.get(
        f"{URL}/enumerations/issue_priorities.json",
        json={
            "issue_priorities": [
                {"id": 3, "name": "High", "active": True},
                {"id": 9, "name": "Old", "active": False},
            ]
        },
    )
    responses.post(f"{URL}/uploads.json", status=201, json={"upload": {"id": 1, "token": "1.ab"}})
    responses.post(f"{URL}/issues.json", status=201, json={"issue": issue(8)})  # fmt: skip
    draft = TicketDraft(
        subject="Printer on fire", description="Steps", priority="HIGH", project="Bridge Test",
        category="support", fields={"1": "40711"}, tags=("helpdesk",),
        attachments=(Attachment("trace.log", "text/plain", content=b"hello"),),
    )  # fmt: skip
    ticket = make().create_ticket(draft)
    assert ticket.ref.id == "8"
    upload = responses.calls[-2].request
    assert upload.headers["Content-Type"] == "application/octet-stream"
    assert upload.body == b"hello" and "filename=trace.log" in str(upload.url)
    assert sent("POST", "issues.json") == [{"issue": {
        "project_id": 1, "subject": "Printer on fire", "description": "Steps", "tracker_id": 3,
        "priority_id": 3, "custom_fields": [{"id": 1, "value": "40711"}],
        "uploads": [{"token": "1.ab", "filename": "trace.log", "content_type": "text/plain"}],
    }}]  # fmt: skip


@responses.activate
def test_create_refuses_a_tracker_the_project_lacks_and_fields_by_name() -> None:
    responses.get(f"{URL}/projects/1.json", json={"project": {"id": 1, "trackers": [
        {"id": 1, "name": "Bug"}]}})  # fmt: skip
    with pytest.raises(PermanentError, match=r"has no tracker 'Support' \(it has: bug\)"):
        make().create_ticket(TicketDraft("s", "d", project="1", category="Support"))
    with pytest.raises(PermanentError, match="custom fields are written by id"):
        make().create_ticket(TicketDraft("s", "d", project="1", fields={"Kundennummer": "1"}))
    assert sent("POST", "issues.json") == []


@responses.activate
def test_create_without_any_project_says_where_to_set_one() -> None:
    settings = SystemSettings("vendor", "redmine", URL, {"api_key": "k"}, bridge_user="5")
    with pytest.raises(PermanentError, match=r"target\.project or options\.project"):
        RedmineConnector(settings).create_ticket(TicketDraft("s", "d"))


@responses.activate
def test_update_writes_only_what_differs_and_reads_back() -> None:
    serve_issue(issue(), issue(status="Feedback"))
    responses.get(f"{URL}/issue_statuses.json", json=STATUSES)
    responses.put(f"{URL}/issues/7.json", status=204)
    changes = TicketChanges(status="Feedback", priority="normal", external_id="zd:42",
                            fields={"1": "40711"})  # fmt: skip
    ticket = make(external_id_field="3").update_ticket("7", changes)
    assert ticket.status == "feedback"
    assert sent("PUT", "issues/7.json") == [
        {"issue": {"status_id": 4, "custom_fields": [{"id": 3, "value": "zd:42"}]}}
    ]


@responses.activate
def test_a_status_the_workflow_dropped_is_a_permanent_refusal() -> None:
    serve_issue(issue(), issue())  # Redmine answers 204 and keeps the old status
    responses.get(f"{URL}/issue_statuses.json", json=STATUSES)
    responses.put(f"{URL}/issues/7.json", status=204)
    with pytest.raises(PermanentError, match="kept status 'new' instead of 'Closed'") as info:
        make().update_ticket("7", TicketChanges(status="Closed"))
    assert info.value.status == 422


@responses.activate
def test_an_unknown_status_is_refused_before_any_write_after_one_refresh() -> None:
    serve_issue(issue())
    responses.get(f"{URL}/issue_statuses.json", json=STATUSES)
    with pytest.raises(PermanentError, match="has no status 'done'"):
        make().update_ticket("7", TicketChanges(status="done"))
    reads = [c for c in responses.calls if "issue_statuses" in str(c.request.url)]
    assert len(reads) == 2  # the cached list, then once more in case an admin just added it
    assert sent("PUT", "issues/7.json") == []


@responses.activate
def test_a_note_is_written_once_and_its_journal_id_read_back() -> None:
    serve_issue(issue(journals=[journal(11, 9, "hello"), journal(12, 5, "hello")]))
    responses.put(f"{URL}/issues/7.json", status=204)
    assert make().add_comment("7", NewComment("hello", public=True)) == "12"  # the bridge's
    assert sent("PUT", "issues/7.json") == [{"issue": {"notes": "hello", "private_notes": False}}]


@responses.activate
def test_a_note_not_found_after_writing_may_have_happened() -> None:
    serve_issue(issue())
    responses.put(f"{URL}/issues/7.json", status=204)
    with pytest.raises(RetryableError) as info:
        make().add_comment("7", NewComment("hello", public=True))
    assert info.value.maybe_applied is True


@responses.activate
def test_a_note_write_that_timed_out_is_not_sent_again_inline() -> None:
    responses.put(f"{URL}/issues/7.json", body=requests.ReadTimeout("no answer"))
    with pytest.raises(RetryableError) as info:
        make().add_comment("7", NewComment("hello", public=True))
    assert info.value.maybe_applied is True
    assert len(sent("PUT", "issues/7.json")) == 1


def current_user(admin: bool, roles: list[int]) -> dict[str, Any]:
    return {
        "user": {
            "id": 5,
            "admin": admin,
            "firstname": "Ticket",
            "lastname": "Bridge",
            "memberships": [
                {
                    "project": {"id": 1, "name": "Bridge Test"},
                    "roles": [{"id": r, "name": f"role {r}"} for r in roles],
                }
            ],
        }
    }


@responses.activate
def test_an_internal_note_is_refused_when_redmine_would_publish_it() -> None:
    serve_issue(issue())
    responses.get(f"{URL}/users/current.json", json=current_user(False, [5]))
    responses.get(f"{URL}/roles/5.json", json={"role": {"id": 5, "permissions": ["add_issues"]}})
    connector = make()
    for _ in range(2):  # the answer is remembered per project
        with pytest.raises(PermanentError, match="would publish this internal note") as info:
            connector.add_comment("7", NewComment("VIP customer", public=False))
        assert info.value.status == 403
    assert sent("PUT", "issues/7.json") == []
    assert len([c for c in responses.calls if "users/current" in str(c.request.url)]) == 1


@responses.activate
def test_an_internal_note_goes_out_private_when_the_role_may() -> None:
    serve_issue(issue(), issue(journals=[journal(12, 5, "VIP customer", private=True)]))
    responses.get(f"{URL}/users/current.json", json=current_user(False, [4]))
    responses.get(f"{URL}/roles/4.json", json={"role": {"permissions": ["set_notes_private"]}})
    responses.put(f"{URL}/issues/7.json", status=204)
    assert make().add_comment("7", NewComment("VIP customer", public=False)) == "12"
    assert sent("PUT", "issues/7.json") == [
        {"issue": {"notes": "VIP customer", "private_notes": True}}
    ]


def test_webhooks_are_refused_redmine_is_polled() -> None:
    with pytest.raises(PayloadError, match="Redmine has no webhooks"):
        make().verify_webhook({}, b"{}")


# ------------------------------------------------------------------------------ polling


@responses.activate
def test_polling_asks_for_every_status_since_the_mark_per_project() -> None:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = dict(re.findall(r"([^?&=]+)=([^&]*)", str(request.url)))
        items = (
            [{"id": 4, "updated_on": "2025-03-04T10:00:00Z"}] if query["project_id"] == "a" else []
        )
        return 200, {}, json.dumps({"issues": items, "total_count": len(items)})

    responses.add_callback("GET", re.compile(re.escape(f"{URL}/issues.json") + ".*"), answer)
    events = make(projects=["a", "b"]).changes_since(T0.replace(microsecond=500))
    assert [e.delivery_id for e in events] == ["poll:4:2025-03-04T10:00:00+00:00"]
    urls = [str(c.request.url) for c in responses.calls]
    assert len(urls) == 2 and all("status_id=%2A" in u for u in urls)
    assert all("updated_on=%3E%3D2025-03-04T10%3A00%3A00Z" in u for u in urls)  # to the second


@responses.activate
def test_find_created_matches_the_exact_source_url() -> None:
    found = [
        {"id": 9, "description": "Helpdesk ticket: https://zd.example/t/420"},
        {"id": 8, "description": "Helpdesk ticket: https://zd.example/t/42\nmore"},
    ]
    responses.get(f"{URL}/issues.json", json={"issues": found, "total_count": 2})
    serve_issue(issue())
    responses.get(f"{URL}/issues/8.json", json={"issue": issue(8)})
    ticket = make().find_created("https://zd.example/t/42", T0)
    assert ticket is not None and ticket.ref.id == "8"
    assert "author_id=me" in str(responses.calls[0].request.url)


# ------------------------------------------------------------------------------ online check


@responses.activate
def test_the_online_check_names_unknown_names_and_missing_permissions() -> None:
    responses.get(f"{URL}/users/current.json", json=current_user(False, [5]))
    responses.get(f"{URL}/issue_statuses.json", json=STATUSES)
    responses.get(f"{URL}/enumerations/issue_priorities.json",
                  json={"issue_priorities": [{"id": 2, "name": "Normal"}]})  # fmt: skip
    responses.get(
        f"{URL}/projects.json",
        json={
            "projects": [{"id": 1, "name": "Bridge Test", "identifier": "bridge-test"}],
            "total_count": 1,
        },
    )
    responses.get(
        f"{URL}/projects/1.json",
        json={"project": {"id": 1, "trackers": [{"id": 1, "name": "Bug"}]}},
    )
    responses.get(f"{URL}/custom_fields.json", status=403)  # not an admin key
    responses.get(f"{URL}/issues.json", json={"issues": [issue()], "total_count": 1})
    responses.get(f"{URL}/roles/5.json", json={"role": {"permissions": [
        "view_issues", "add_issues", "add_issue_notes"]}})  # fmt: skip
    usage = Usage(statuses={"feedback": "a", "done": "b"}, priorities={"normal": "c"},
                  projects={"bridge-test": "d"}, categories={"Support": "e"},
                  custom_fields={"1": "f", "99": "g"})  # fmt: skip
    findings = make().check_usage(usage)
    problems = [f.text for f in findings if f.level is Level.PROBLEM]
    assert findings[0].text == "credentials of Ticket Bridge (id 5), the configured bridge_user"
    assert any("status 'done' (b) does not exist" in p for p in problems)
    assert any("tracker 'Support' (e) does not exist" in p for p in problems)
    assert any("custom field id '99' (g) does not exist" in p for p in problems)
    assert any("cannot change status and priority" in p for p in problems)
    warnings = [f.text for f in findings if f.level is Level.WARNING]
    assert any("set_notes_private" in w for w in warnings)
