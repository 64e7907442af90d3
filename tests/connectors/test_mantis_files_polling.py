"""MantisConnector polling (`changes_since`) and files, against `responses` fakes.

Shapes follow api-facts.md 3.2/3.4: `GET /issues` lists newest update first without a total;
`GET /issues/{id}/files/{file_id}` answers `{"files": [{id, filename, size, content_type,
content: <base64>}]}`; files are sent inline as base64 in `files[]`.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bridge.errors import ConfigError, PermanentError
from bridge.models import Attachment, EventKind, NewComment, TicketDraft
from bridge.protocol import SystemSettings
from connectors.mantis import MantisConnector, poll
from connectors.mantis.client import REST
from connectors.mantis.enums import stock_enums
from connectors.mantis.files import JsonWithFiles

URL = "https://bugs.vendor.example/mantis"
API = f"{URL}/api/rest"
TOKEN = "Zx9-bridge-token"


def make(attempts: int = 1, **options: Any) -> MantisConnector:
    settings = SystemSettings(
        name="vendor",
        type="mantis",
        url=URL,
        auth={"token": TOKEN},
        bridge_user="7",
        options={"project": "Billing", "category": "General", **options},
    )
    http = REST.client(settings, attempts=attempts, wait_max=0)
    return MantisConnector(settings, http, enums=stock_enums())


def issues(*rows: tuple[int, str], **extra: Any) -> dict[str, Any]:
    return {"issues": [{"id": i, "updated_at": u, **extra} for i, u in rows]}


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def body_bytes(call: Any) -> bytes:
    body = call.request.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return b"".join(body)


# ------------------------------------------------------------------------------ polling


@responses.activate
def test_changes_since_covers_all_projects_newest_first_until_older() -> None:
    responses.get(
        f"{API}/issues",
        json=issues((9, "2025-03-05T12:00:00+01:00"), (4, "2025-03-05T11:00:00+01:00")),
    )
    responses.get(
        f"{API}/issues",
        json=issues((7, "2025-03-05T10:00:00+01:00"), (2, "2025-03-05T09:59:59+01:00")),
    )
    since = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)

    events = make(poll_page_size=2).changes_since(since)

    assert [e.ref.id for e in events] == ["7", "4", "9"]  # oldest first
    assert all(e.kind is EventKind.TICKET_UPDATED for e in events)
    assert events[0].occurred_at == datetime(2025, 3, 5, 9, 0, tzinfo=UTC)
    assert events[0].occurred_at.tzinfo is UTC
    assert events[0].delivery_id == "poll:7:2025-03-05T09:00:00+00:00"
    first, second = responses.calls
    assert "project_id" not in query(first)  # "All Projects": whatever the bridge user sees
    assert query(first)["page"] == ["1"] and query(second)["page"] == ["2"]
    assert query(first)["page_size"] == ["2"]
    assert query(first)["select"] == ["id,updated_at,status,priority"]


@responses.activate
def test_changes_since_per_configured_project() -> None:
    responses.get(f"{API}/issues", json=issues((1, "2025-03-05T12:00:00+01:00")))
    responses.get(f"{API}/issues", json=issues((2, "2025-03-05T12:00:01+01:00")))

    events = make(projects=[3, "5"]).changes_since(datetime(2025, 3, 1, tzinfo=UTC))

    assert [query(c)["project_id"] for c in responses.calls] == [["3"], ["5"]]
    assert [e.ref.id for e in events] == ["1", "2"]


def test_project_names_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="project ids"):
        make(projects=["Billing"])


@responses.activate
def test_a_server_that_ignores_page_does_not_loop() -> None:
    responses.get(
        f"{API}/issues",
        json=issues((9, "2025-03-05T12:00:00+01:00"), (4, "2025-03-05T11:00:00+01:00")),
    )
    found = poll.updated_since(
        make().http, {}, datetime(2000, 1, 1, tzinfo=UTC), page_size=2, what="poll"
    )
    assert [i["id"] for i in found] == [9, 4]
    assert len(responses.calls) == 2  # the second, identical page ended the walk


@responses.activate
def test_poll_history_fills_the_actor() -> None:
    history = [
        {"created_at": "2025-03-05T11:00:00+01:00", "user": {"id": 9, "name": "dev"}},
        {"created_at": "2025-03-05T12:00:00+01:00", "user": {"id": 7, "name": "bridge"}},
    ]
    responses.get(f"{API}/issues", json=issues((9, "2025-03-05T12:00:00+01:00"), history=history))
    [event] = make(poll_history=True).changes_since(datetime(2025, 3, 1, tzinfo=UTC))
    assert event.actor_id == "7"
    assert query(responses.calls[0])["select"] == ["id,updated_at,status,priority,history"]


# ---------------------------------------------------------------------------- downloads


def file_answer(content: bytes, **extra: Any) -> dict[str, Any]:
    entry = {
        "id": 31,
        "reporter": {"id": 9, "name": "dev"},
        "created_at": "2025-03-05T12:00:00+01:00",
        "filename": "trace.txt",
        "size": len(content),
        "content_type": "text/plain",
        "content": base64.b64encode(content).decode(),
        **extra,
    }
    return {"files": [entry]}


@responses.activate
def test_fetch_attachment_decodes_the_base64_answer() -> None:
    content = bytes(range(256)) * 700  # several decode blocks
    url = f"{API}/issues/12/files/31"
    responses.get(url, json=file_answer(content))
    dest = io.BytesIO()

    written = make().fetch_attachment(Attachment("trace.txt", url=url, id="31"), dest, 1 << 20)

    assert written == len(content) and dest.getvalue() == content
    assert responses.calls[0].request.headers["Authorization"] == TOKEN


@responses.activate
def test_fetch_attachment_refuses_a_file_over_the_limit() -> None:
    url = f"{API}/issues/12/files/31"
    responses.get(url, json=file_answer(b"x" * 100))
    with pytest.raises(PermanentError) as info:
        make().fetch_attachment(Attachment("trace.txt", url=url), io.BytesIO(), 99)
    assert info.value.status == 413


@responses.activate
def test_fetch_attachment_refuses_an_oversized_body_by_content_length() -> None:
    url = f"{API}/issues/12/files/31"
    answer = json.dumps(file_answer(b"y" * 300_000)).encode()
    responses.get(url, body=answer, headers={"Content-Length": str(len(answer))})
    dest = io.BytesIO()
    with pytest.raises(PermanentError) as info:
        make().fetch_attachment(Attachment("trace.txt", url=url), dest, 100_000)
    assert info.value.status == 413 and dest.getvalue() == b""


def test_fetch_attachment_never_sends_the_token_elsewhere() -> None:
    attachment = Attachment("x", url="https://elsewhere.example/api/rest/issues/1/files/2")
    with pytest.raises(PermanentError, match="not on the configured"):
        make().fetch_attachment(attachment, io.BytesIO(), 10)


@responses.activate
def test_note_attachments_carry_the_file_id() -> None:
    note = {
        "id": 5,
        "reporter": {"id": 9, "name": "dev"},
        "text": "log attached",
        "view_state": {"id": 10, "name": "public", "label": "public"},
        "attachments": [{"id": 31, "filename": "trace.txt", "size": 3}],
        "type": "note",
        "created_at": "2025-03-05T12:00:00+01:00",
    }
    responses.get(f"{API}/issues/12", json={"issues": [{"id": 12, "notes": [note]}]})
    [comment] = make().list_comments("12")
    [attachment] = comment.attachments
    assert attachment.id == "31"
    assert attachment.url == f"{API}/issues/12/files/31"


# ------------------------------------------------------------------------------ uploads


def test_json_with_files_is_exact_valid_json_and_repeatable(tmp_path: Path) -> None:
    data = bytes(range(256)) * 400 + b"tail"  # not a multiple of 3 or of the block size
    path = tmp_path / "dump.bin"
    path.write_bytes(data)
    body = JsonWithFiles(
        {"text": 'say "hi"', "view_state": {"name": "private"}},
        [Attachment("dump.bin", path=str(path)), Attachment("ä.txt", content=b"small")],
    )

    first = b"".join(body)
    assert first == b"".join(body)  # a retry sends the same bytes
    assert len(body) == len(first)
    parsed = json.loads(first)
    assert parsed["text"] == 'say "hi"'
    assert [f["name"] for f in parsed["files"]] == ["dump.bin", "ä.txt"]
    assert base64.b64decode(parsed["files"][0]["content"]) == data
    assert base64.b64decode(parsed["files"][1]["content"]) == b"small"


@responses.activate
def test_add_comment_streams_a_local_file_with_content_length(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"0123456789" * 10_000)
    responses.post(f"{API}/issues/12/notes", json={"note": {"id": 77}}, status=201)

    note_id = make().add_comment(
        "12",
        NewComment("see log", public=True, attachments=(Attachment("big.log", path=str(path)),)),
    )

    assert note_id == "77"
    call = responses.calls[0]
    sent = body_bytes(call)
    assert call.request.headers["Content-Length"] == str(len(sent))
    assert call.request.headers["Content-Type"] == "application/json"
    parsed = json.loads(sent)
    assert parsed["text"] == "see log"
    assert base64.b64decode(parsed["files"][0]["content"]) == path.read_bytes()


@responses.activate
def test_create_ticket_streams_local_files_too(tmp_path: Path) -> None:
    path = tmp_path / "shot.png"
    path.write_bytes(b"\x89PNG" + b"\0" * 5000)
    issue = {"id": 1, "summary": "s", "updated_at": "2025-03-05T12:00:00+01:00"}
    responses.post(f"{API}/issues", json={"issue": issue}, status=201)
    make().create_ticket(
        TicketDraft("s", "d", attachments=(Attachment("shot.png", path=str(path)),))
    )
    parsed = json.loads(body_bytes(responses.calls[0]))
    assert parsed["summary"] == "s" and parsed["project"] == {"name": "Billing"}
    assert base64.b64decode(parsed["files"][0]["content"]) == path.read_bytes()
