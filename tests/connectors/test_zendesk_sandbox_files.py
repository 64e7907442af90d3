"""The real ZendeskConnector against the sandbox: incremental export and attachments.

Both sides are checked at once: the connector polls and transfers files the documented way, and
the sandbox answers like Zendesk (a minute of export lag, generated_timestamp drift, cursors,
end_of_stream, downloads on content_url, an upload size limit).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from bridge.errors import PermanentError, RateLimited
from bridge.models import Attachment, NewComment
from bridge.protocol import SystemSettings
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.zendesk import ZendeskSandbox
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import REST


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Env:
    sandbox: ZendeskSandbox
    clock: Clock
    url: str
    customer_id: int

    def connector(self) -> ZendeskConnector:
        settings = SystemSettings(
            name="helpdesk",
            type="zendesk",
            url=self.url,
            auth={"email": "bridge@acme.test", "token": "bridge-token"},
            timeout=5.0,
        )
        return ZendeskConnector(
            settings, http=REST.client(settings, attempts=1, wait_max=0), clock=self.clock
        )


@pytest.fixture
def env() -> Iterator[Env]:
    clock = Clock()
    sandbox = ZendeskSandbox(clock=clock, max_upload_bytes=200_000)
    sandbox.add_user("Bridge", "bridge@acme.test", role="agent", token="bridge-token")
    customer_id = sandbox.add_user("Jane Doe", "jane@example.com")
    with BackgroundServer(sandbox.app) as url:
        yield Env(sandbox, clock, url, customer_id)
    sandbox.close()


def test_incremental_export_pages_with_cursors_and_keeps_the_lag(env: Env) -> None:
    since = env.clock.now
    ids = []
    for n in range(3):
        ids.append(env.sandbox.create_ticket_as(env.customer_id, f"T{n}", "body")["id"])
        env.clock.tick(10)
    connector = env.connector()

    assert connector.changes_since(since) == []  # all younger than a minute: not exported yet

    env.clock.tick(60)
    events = connector.changes_since(since)
    assert [e.ref.id for e in events] == [str(i) for i in ids]
    assert all(e.occurred_at is not None and e.occurred_at.tzinfo is not None for e in events)
    assert events[0].delivery_id == f"poll:{ids[0]}:2025-03-04T10:00:00+00:00"


def test_export_pagination_reaches_end_of_stream(env: Env) -> None:
    since = env.clock.now
    for n in range(5):
        env.sandbox.create_ticket_as(env.customer_id, f"T{n}", "body")
        env.clock.tick(1)
    env.clock.tick(120)
    auth = ("bridge@acme.test/token", "bridge-token")
    url = f"{env.url}/api/v2/incremental/tickets/cursor"
    seen: list[int] = []
    answer = requests.get(
        url, params={"start_time": int(since.timestamp()), "per_page": 2}, auth=auth, timeout=5
    ).json()
    while True:
        seen.extend(t["id"] for t in answer["tickets"])
        assert set(answer) >= {"after_cursor", "after_url", "end_of_stream"}
        if answer["end_of_stream"]:
            break
        answer = requests.get(answer["after_url"], auth=auth, timeout=5).json()
    assert seen == [1, 2, 3, 4, 5]


def test_system_side_change_exports_a_ticket_with_an_older_updated_at(env: Env) -> None:
    ticket = env.sandbox.create_ticket_as(env.customer_id, "Old", "body")
    env.clock.tick(3600)
    since = env.clock.now
    env.sandbox.touch(ticket["id"])  # generated_timestamp moves, updated_at does not
    env.clock.tick(120)
    auth = ("bridge@acme.test/token", "bridge-token")
    raw = requests.get(
        f"{env.url}/api/v2/incremental/tickets/cursor",
        params={"start_time": int(since.timestamp())},
        auth=auth,
        timeout=5,
    ).json()
    assert [t["id"] for t in raw["tickets"]] == [ticket["id"]]  # the sandbox shows the quirk
    assert env.connector().changes_since(since) == []  # the connector filters it out


def test_too_recent_start_time_is_refused(env: Env) -> None:
    answer = requests.get(
        f"{env.url}/api/v2/incremental/tickets/cursor",
        params={"start_time": int(env.clock.now.timestamp())},
        auth=("bridge@acme.test/token", "bridge-token"),
        timeout=5,
    )
    assert answer.status_code == 422
    assert "older than one minute" in answer.json()["description"]


def test_export_rate_limit_answers_429_with_retry_after(env: Env) -> None:
    env.sandbox.export_rate_limit = 1
    connector = env.connector()
    connector.changes_since(env.clock.now - timedelta(hours=1))
    with pytest.raises(RateLimited) as info:
        connector.changes_since(env.clock.now - timedelta(hours=1))
    assert info.value.retry_after >= 1


def test_file_round_trip_streamed_up_and_down(env: Env, tmp_path: Path) -> None:
    ticket = env.sandbox.create_ticket_as(env.customer_id, "Crash", "see logs")
    source = tmp_path / "core.dump"
    source.write_bytes(bytes(range(256)) * 600)
    connector = env.connector()
    connector.add_comment(
        str(ticket["id"]),
        NewComment(
            "dump and note",
            public=False,
            attachments=(
                Attachment("core.dump", path=str(source)),
                Attachment("note.txt", content_type="text/plain", content=b"hello"),
            ),
        ),
    )
    comment = connector.list_comments(str(ticket["id"]))[-1]
    dump, note = comment.attachments
    assert dump.id is not None and dump.url is not None and dump.url.startswith(env.url)
    dest = io.BytesIO()
    assert connector.fetch_attachment(dump, dest, 1_000_000) == source.stat().st_size
    assert dest.getvalue() == source.read_bytes()
    assert env.sandbox.file_content(note.id or "") == b"hello"
    with pytest.raises(PermanentError) as info:
        connector.fetch_attachment(dump, io.BytesIO(), 1000)
    assert info.value.status == 413


def test_uploads_over_the_limit_are_refused(env: Env, tmp_path: Path) -> None:
    ticket = env.sandbox.create_ticket_as(env.customer_id, "Big", "file")
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 200_001)
    with pytest.raises(PermanentError) as info:
        env.connector().add_comment(
            str(ticket["id"]),
            NewComment("big", public=True, attachments=(Attachment("big.bin", path=str(big)),)),
        )
    assert info.value.status == 413
