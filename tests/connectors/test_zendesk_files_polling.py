"""ZendeskConnector polling (incremental export) and streamed attachments, against `responses`.

Shapes follow api-facts.md 1.2: `GET /incremental/tickets/cursor` answers
`{tickets, after_cursor, after_url, before_cursor, before_url, end_of_stream}`; uploads take raw
bytes and return `{"upload": {"token", "attachment", "attachments"}}`; attachments carry
`content_url`, which may redirect to another host.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from bridge.errors import PermanentError, RateLimited, RetryableError
from bridge.models import Attachment, EventKind, NewComment
from bridge.protocol import Capability, SystemSettings
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import REST

URL = "https://acme.zendesk.com"
API = f"{URL}/api/v2"
EXPORT = f"{API}/incremental/tickets/cursor"
NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
SETTINGS = SystemSettings(
    name="helpdesk",
    type="zendesk",
    url=URL,
    auth={"email": "bridge@acme.test", "token": "s3cr3t"},
    webhook_secret="whsec",
)
BASIC = "Basic " + base64.b64encode(b"bridge@acme.test/token:s3cr3t").decode()


def make(attempts: int = 1) -> ZendeskConnector:
    return ZendeskConnector(
        SETTINGS,
        http=REST.client(SETTINGS, attempts=attempts, wait_max=0),
        clock=lambda: NOW,
    )


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def exported(ticket_id: int, updated_at: str, **extra: Any) -> dict[str, Any]:
    ticket = {
        "id": ticket_id,
        "subject": f"Ticket {ticket_id}",
        "status": "open",
        "priority": "high",
        "updated_at": updated_at,
        "created_at": "2025-01-01T00:00:00Z",
        "generated_timestamp": 1741089600,
    }
    ticket.update(extra)
    return ticket


def page(tickets: list[dict[str, Any]], after: str | None, end: bool) -> dict[str, Any]:
    return {
        "tickets": tickets,
        "after_cursor": after,
        "after_url": f"{EXPORT}.json?cursor={after}" if after else None,
        "before_cursor": None,
        "before_url": None,
        "end_of_stream": end,
    }


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# ------------------------------------------------------------------------------ polling


def test_zendesk_offers_polling_for_the_reconciler() -> None:
    assert Capability.POLLING in make().capabilities


def test_changes_since_follows_cursors_to_end_of_stream(rsps: responses.RequestsMock) -> None:
    since = NOW - timedelta(hours=1)
    rsps.get(EXPORT, json=page([exported(1, "2025-03-04T11:10:00Z")], "c1", False))
    rsps.get(EXPORT, json=page([exported(2, "2025-03-04T11:20:00Z")], "c2", False))
    rsps.get(EXPORT, json=page([], "c2", True))

    events = make().changes_since(since)

    assert [e.ref.id for e in events] == ["1", "2"]
    first = events[0]
    assert first.kind is EventKind.TICKET_UPDATED
    assert first.occurred_at == datetime(2025, 3, 4, 11, 10, tzinfo=UTC)
    assert first.delivery_id == "poll:1:2025-03-04T11:10:00+00:00"
    assert first.actor_id is None
    assert first.data["status"] == "open"
    assert query(rsps.calls[0]) == {"start_time": [str(int(since.timestamp()))]}
    assert query(rsps.calls[1]) == {"cursor": ["c1"]}
    assert query(rsps.calls[2]) == {"cursor": ["c2"]}


def test_start_time_is_clamped_to_a_minute_ago(rsps: responses.RequestsMock) -> None:
    rsps.get(EXPORT, json=page([], "c", True))
    make().changes_since(NOW - timedelta(seconds=5))
    sent = int(query(rsps.calls[0])["start_time"][0])
    assert sent <= int((NOW - timedelta(minutes=1)).timestamp())


def test_tickets_older_than_since_and_deleted_tickets_are_dropped(
    rsps: responses.RequestsMock,
) -> None:
    """The export filters on generated_timestamp, so older updated_at values come back."""
    since = datetime(2025, 3, 4, 11, 0, tzinfo=UTC)
    tickets = [
        exported(1, "2025-03-04T10:59:59Z"),
        exported(2, "2025-03-04T11:00:00Z"),
        exported(3, "2025-03-04T11:30:00+02:00"),  # 09:30 UTC: older once normalised
        exported(4, "2025-03-04T11:45:00Z", status="deleted"),
    ]
    rsps.get(EXPORT, json=page(tickets, "c", True))
    assert [e.ref.id for e in make().changes_since(since)] == ["2"]


def test_same_ticket_twice_in_one_sweep_gives_one_event(rsps: responses.RequestsMock) -> None:
    ticket = exported(7, "2025-03-04T11:10:00Z")
    rsps.get(EXPORT, json=page([ticket], "c1", False))
    rsps.get(EXPORT, json=page([ticket], "c2", True))
    assert len(make().changes_since(NOW - timedelta(hours=1))) == 1


def test_a_repeated_cursor_stops_with_an_error(rsps: responses.RequestsMock) -> None:
    rsps.get(EXPORT, json=page([exported(1, "2025-03-04T11:10:00Z")], "same", False))
    with pytest.raises(PermanentError, match="repeats cursor"):
        make().changes_since(NOW - timedelta(hours=1))
    assert len(rsps.calls) == 2


def test_export_rate_limit_surfaces_as_rate_limited(rsps: responses.RequestsMock) -> None:
    rsps.get(EXPORT, status=429, headers={"Retry-After": "42"}, json={"error": "TooMany"})
    with pytest.raises(RateLimited) as info:
        make().changes_since(NOW - timedelta(hours=1))
    assert info.value.retry_after == 42


# -------------------------------------------------------------------------- downloads


def test_download_from_the_own_host_sends_credentials(rsps: responses.RequestsMock) -> None:
    content_url = f"{URL}/attachments/token/abc/?name=log.txt"
    rsps.get(content_url, body=b"hello world", headers={"Content-Length": "11"})
    dest = io.BytesIO()
    assert make().fetch_attachment(Attachment("log.txt", url=content_url), dest, 100) == 11
    assert dest.getvalue() == b"hello world"
    assert rsps.calls[0].request.headers["Authorization"] == BASIC


def test_redirect_to_a_foreign_host_drops_credentials(rsps: responses.RequestsMock) -> None:
    content_url = f"{URL}/attachments/token/abc/?name=log.txt"
    foreign = "https://acme.zdusercontent.com/attachment/123/log.txt?token=xyz"
    rsps.get(content_url, status=302, headers={"Location": foreign})
    rsps.get(foreign, body=b"payload")
    dest = io.BytesIO()
    assert make().fetch_attachment(Attachment("log.txt", url=content_url), dest, 100) == 7
    assert rsps.calls[0].request.headers["Authorization"] == BASIC
    assert "Authorization" not in rsps.calls[1].request.headers
    assert dest.getvalue() == b"payload"


def test_content_url_on_a_foreign_host_is_fetched_without_auth(
    rsps: responses.RequestsMock,
) -> None:
    foreign = "https://evil.example/steal"
    rsps.get(foreign, body=b"x")
    make().fetch_attachment(Attachment("a", url=foreign), io.BytesIO(), 10)
    assert "Authorization" not in rsps.calls[0].request.headers


def test_too_large_by_content_length_is_refused_before_reading(
    rsps: responses.RequestsMock,
) -> None:
    url = f"{URL}/attachments/token/big/"
    rsps.get(url, body=b"0123456789", headers={"Content-Length": "10"})
    dest = io.BytesIO()
    with pytest.raises(PermanentError) as info:
        make().fetch_attachment(Attachment("big", url=url), dest, 9)
    assert info.value.status == 413
    assert dest.getvalue() == b""


class Endless(io.RawIOBase):
    """A body that never ends; reading past `fuse` bytes fails the test."""

    def __init__(self, fuse: int) -> None:
        self.served = 0
        self.fuse = fuse

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.served > self.fuse:
            raise AssertionError("the connector kept reading past the limit")
        n = len(buffer)
        buffer[:n] = b"x" * n
        self.served += n
        return n


def test_too_large_while_streaming_stops_at_the_limit(rsps: responses.RequestsMock) -> None:
    url = f"{URL}/attachments/token/big/"
    body = Endless(fuse=1_000_000)
    rsps.get(url, body=io.BufferedReader(body), auto_calculate_content_length=False)
    dest = io.BytesIO()
    with pytest.raises(PermanentError) as info:
        make().fetch_attachment(Attachment("big", url=url), dest, 100_000)
    assert info.value.status == 413
    assert 0 < len(dest.getvalue()) <= 100_000  # streaming began, then stopped
    assert body.served < 1_000_000


def test_known_size_above_the_limit_needs_no_request() -> None:
    with pytest.raises(PermanentError) as info:
        make().fetch_attachment(Attachment("a", url=f"{URL}/x", size=11), io.BytesIO(), 10)
    assert info.value.status == 413


def test_download_errors_use_the_error_tree(rsps: responses.RequestsMock) -> None:
    url = f"{URL}/attachments/token/gone/"
    rsps.get(url, status=404, json={"error": "RecordNotFound"})
    rsps.get(url, body=requests.ConnectionError("reset"))
    with pytest.raises(PermanentError):
        make().fetch_attachment(Attachment("a", url=url), io.BytesIO(), 10)
    with pytest.raises(RetryableError):
        make().fetch_attachment(Attachment("a", url=url), io.BytesIO(), 10)


# ---------------------------------------------------------------------------- uploads


def upload_answer(token: str, attachment_id: int) -> dict[str, Any]:
    attachment = {"id": attachment_id, "file_name": "f", "content_url": f"{URL}/a/{attachment_id}"}
    return {"upload": {"token": token, "attachment": attachment, "attachments": [attachment]}}


def test_upload_streams_a_local_file_and_reuses_the_token(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    big = tmp_path / "dump.bin"
    big.write_bytes(bytes(range(256)) * 1000)
    rsps.post(f"{API}/uploads", json=upload_answer("tok1", 1), status=201)
    rsps.post(f"{API}/uploads", json=upload_answer("tok1", 2), status=201)
    rsps.put(
        f"{API}/tickets/5",
        json={"ticket": {"id": 5}, "audit": {"events": [{"id": 991, "type": "Comment"}]}},
    )
    comment = NewComment(
        "see files",
        public=False,
        attachments=(
            Attachment("dump.bin", content_type="application/x-dump", path=str(big)),
            Attachment("note.txt", content_type="text/plain", content=b"small"),
        ),
    )
    assert make().add_comment("5", comment) == "991"

    first, second, put = rsps.calls
    assert query(first) == {"filename": ["dump.bin"]}
    assert first.request.headers["Content-Type"] == "application/x-dump"
    assert first.request.headers["Content-Length"] == str(big.stat().st_size)
    assert first.request.body == big.read_bytes()
    assert query(second) == {"filename": ["note.txt"], "token": ["tok1"]}
    assert second.request.body == b"small"
    assert json.loads(put.request.body or b"")["ticket"]["comment"]["uploads"] == ["tok1"]


def test_a_retried_upload_resends_the_whole_file(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"line\n" * 5000)
    rsps.post(f"{API}/uploads", status=503)
    rsps.post(f"{API}/uploads", json=upload_answer("t", 1), status=201)
    rsps.put(f"{API}/tickets/5", json={"audit": {"events": [{"id": 3, "type": "Comment"}]}})
    make(attempts=2).add_comment(
        "5", NewComment("x", public=True, attachments=(Attachment("a.log", path=str(path)),))
    )
    assert rsps.calls[0].request.body == path.read_bytes()
    assert rsps.calls[1].request.body == path.read_bytes()


def test_comment_attachments_carry_id_and_content_url(rsps: responses.RequestsMock) -> None:
    attachment = {
        "id": 498483,
        "file_name": "crash.log",
        "content_url": f"{URL}/attachments/token/xyz/?name=crash.log",
        "content_type": "text/plain",
        "size": 2532,
    }
    comment = {
        "id": 1,
        "author_id": 2,
        "plain_body": "see log",
        "public": True,
        "attachments": [attachment],
        "created_at": "2025-03-04T10:00:00Z",
    }
    rsps.get(
        f"{API}/tickets/5/comments",
        json={"comments": [comment], "meta": {"has_more": False}, "links": {"next": None}},
    )
    [read] = make().list_comments("5")
    [att] = read.attachments
    assert (att.id, att.url, att.size) == ("498483", attachment["content_url"], 2532)
