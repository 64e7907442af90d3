"""The real MantisConnector against the MantisBT sandbox: polling over projects and files.

Files go up as inline base64 streamed from disk and come back through
`GET /issues/{id}/files/{file_id}`; files above `$g_max_file_size` get Mantis's
ERROR_FILE_TOO_BIG (code 500, HTTP 400, per api/soap/mc_api.php faultFromException).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.errors import PermanentError
from bridge.models import Attachment, NewComment, TicketDraft
from bridge.protocol import SystemSettings
from bridge.sandbox.mantis import SERVER_TZ, MantisSandbox
from bridge.sandbox.server import BackgroundServer
from connectors.mantis import MantisConnector
from connectors.mantis.client import REST

TOKEN = "bridge-secret-token"


class Clock:
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
    dev_id: int
    projects: tuple[int, int]

    def connector(self, **options: Any) -> MantisConnector:
        settings = SystemSettings(
            name="vendor",
            type="mantis",
            url=self.url,
            auth={"token": TOKEN},
            options={"category": "General", **options},
        )
        return MantisConnector(settings, REST.client(settings, attempts=1, wait_max=0))


@pytest.fixture
def env() -> Iterator[Env]:
    clock = Clock()
    sandbox = MantisSandbox(now=clock, max_file_size=100_000)
    sandbox.add_user("bridge", TOKEN, real_name="Ticket Bridge")
    dev_id = sandbox.add_user("dev.anna", "dev-token")
    billing = sandbox.add_project("Billing")
    shop = sandbox.add_project("Shop")
    with BackgroundServer(sandbox.app) as url:
        yield Env(sandbox, clock, url, dev_id, (billing, shop))


def create(env: Env, project: str, subject: str) -> str:
    ticket = env.connector().create_ticket(TicketDraft(subject, "d", project=project))
    env.clock.tick()
    return ticket.ref.id


def test_changes_since_sees_every_project_and_stops_at_the_mark(env: Env) -> None:
    old = create(env, "Billing", "old")
    since = env.clock.now
    first = create(env, "Billing", "a")
    second = create(env, "Shop", "b")
    env.sandbox.set_status_as(env.dev_id, int(old), "confirmed")  # old issue, fresh change

    events = env.connector(poll_page_size=2).changes_since(since)

    assert [e.ref.id for e in events] == [first, second, old]
    assert all(
        e.occurred_at is not None and e.occurred_at.utcoffset() == timedelta(0) for e in events
    )
    only_shop = env.connector(projects=[env.projects[1]]).changes_since(since)
    assert [e.ref.id for e in only_shop] == [second]


def test_poll_history_names_the_last_actor(env: Env) -> None:
    issue = create(env, "Billing", "a")
    env.sandbox.set_status_as(env.dev_id, int(issue), "feedback")
    [event] = env.connector(poll_history=True).changes_since(datetime(2025, 1, 1, tzinfo=UTC))
    assert event.actor_id == str(env.dev_id)


def test_note_file_round_trip_from_disk(env: Env, tmp_path: Path) -> None:
    issue = create(env, "Billing", "crash")
    source = tmp_path / "trace.log"
    source.write_bytes(b"frame 1\nframe 2\n" * 3000)
    connector = env.connector()
    connector.add_comment(
        issue,
        NewComment("trace", public=True, attachments=(Attachment("trace.log", path=str(source)),)),
    )
    [comment] = connector.list_comments(issue)
    [attachment] = comment.attachments
    assert attachment.id is not None
    dest = io.BytesIO()
    assert connector.fetch_attachment(attachment, dest, 100_000) == source.stat().st_size
    assert dest.getvalue() == source.read_bytes()
    with pytest.raises(PermanentError) as info:
        connector.fetch_attachment(attachment, io.BytesIO(), 1_000)
    assert info.value.status == 413


def test_a_file_over_the_limit_leaves_the_note_without_it_then_400(
    env: Env, tmp_path: Path
) -> None:
    """Not atomic, as on 2.28: the note exists without the file, the answer is 400 (code 500)."""
    issue = create(env, "Billing", "big")
    content = base64.b64encode(b"\0" * 100_001).decode()
    raw = requests.post(
        f"{env.url}/api/rest/issues/{issue}/notes",
        json={"text": "see file", "files": [{"name": "big.bin", "content": content}]},
        headers={"Authorization": TOKEN},
        timeout=5,
    )
    assert (raw.status_code, raw.json()["message"]) == (400, "File 'big.bin' too big")
    assert raw.json()["code"] == 500  # ERROR_FILE_TOO_BIG
    [note] = env.sandbox.issue(int(issue))["notes"]
    assert (note["text"], note["attachments"]) == ("see file", [])
    raw = requests.post(
        f"{env.url}/api/rest/issues/{issue}/files",
        json={"files": [{"name": "big.bin", "content": content}]},
        headers={"Authorization": TOKEN},
        timeout=5,
    )
    assert (raw.status_code, raw.json()["code"]) == (400, 500)
    assert "attachments" not in env.sandbox.issue(int(issue))


def test_single_file_endpoint_answers_an_empty_list_for_a_file_of_another_issue(env: Env) -> None:
    first = create(env, "Billing", "a")
    second = create(env, "Billing", "b")
    env.connector().add_comment(
        first, NewComment("f", public=True, attachments=(Attachment("a.txt", content=b"abc"),))
    )
    [attachment] = env.connector().list_comments(first)[0].attachments
    answer = requests.get(
        f"{env.url}/api/rest/issues/{second}/files/{attachment.id}",
        headers={"Authorization": TOKEN},
        timeout=5,
    )
    assert (answer.status_code, answer.json()) == (200, {"files": []})
