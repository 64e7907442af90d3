"""The MantisConnector's writes against the sandbox's real-2.28 rules.

Each test is a situation observed on a real MantisBT 2.28.4: unknown enum names that the
server would store as `@0@`, read-only resolved issues, files above the site's limit, and the
non-atomic `400 File 'x' too big` after the note or issue was created.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.errors import ConfigError, FilesLeftOut, PermanentError, ReadOnlyTicket
from bridge.models import Attachment, NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from bridge.sandbox.mantis import SERVER_TZ, MantisSandbox
from bridge.sandbox.server import BackgroundServer
from connectors.mantis import MantisConnector
from connectors.mantis.client import REST
from connectors.mantis.enums import EnumKind, MantisEnums, stock_enums

TOKEN = "bridge-token"
START = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


@dataclass
class Env:
    sandbox: MantisSandbox
    url: str
    bridge: int
    dev: int
    project: int

    def connector(self, enums: MantisEnums | None = None, **options: Any) -> MantisConnector:
        settings = SystemSettings(
            name="vendor",
            type="mantis",
            url=self.url,
            auth={"token": TOKEN},
            bridge_user=str(self.bridge),
            options={"project": "Billing", "category": "General", **options},
        )
        http = REST.client(settings, attempts=1, wait_max=0)
        return MantisConnector(settings, http, clock=lambda: START, enums=enums)

    def writes(self) -> list[tuple[str, str]]:
        return [
            (r["method"], r["path"])
            for r in self.sandbox.requests()
            if r["method"] in ("POST", "PATCH", "PUT", "DELETE")
        ]


@pytest.fixture
def env() -> Iterator[Env]:
    sandbox = MantisSandbox(now=lambda: START.astimezone(SERVER_TZ), max_file_size=100_000)
    bridge = sandbox.add_user("bridge", TOKEN, real_name="Ticket Bridge")
    dev = sandbox.add_user("dana", "dev-token", real_name="Dana Developer")
    project = sandbox.add_project("Billing")
    with BackgroundServer(sandbox.app) as url:
        yield Env(sandbox, url, bridge, dev, project)


def new_issue(env: Env, **draft: Any) -> str:
    values: dict[str, Any] = {"subject": "Export crashes", "description": "Click export."}
    values.update(draft)
    return env.connector().create_ticket(TicketDraft(**values)).ref.id


# -- enums ----------------------------------------------------------------------------------


def test_enums_are_read_once_from_the_site(env: Env) -> None:
    connector = env.connector()
    assert connector.enums().names(EnumKind.PRIORITY)[:3] == ("none", "low", "normal")
    assert connector.enums().max_file_size == 100_000
    configs = [r for r in env.sandbox.requests() if r["path"].endswith("/config")]
    assert len(configs) == 1


def test_an_unknown_status_is_never_sent(env: Env) -> None:
    issue_id = new_issue(env)
    env.sandbox.clear_log()
    with pytest.raises(ConfigError) as err:
        env.connector().update_ticket(issue_id, TicketChanges(status="done"))
    assert str(err.value) == (
        "system 'vendor': status 'done' is not one of this MantisBT's statuses: "
        "new, feedback, acknowledged, confirmed, assigned, resolved, closed"
    )
    assert env.writes() == []
    assert env.sandbox.issue(int(issue_id))["status"]["name"] == "new"


def test_an_unknown_priority_or_severity_is_never_sent_on_create(env: Env) -> None:
    with pytest.raises(ConfigError, match=r"priority 'critical' is not one of .* priorities"):
        new_issue(env, priority="critical")
    with pytest.raises(ConfigError, match=r"severity 'blocker' is not one of .* severities"):
        env.connector(severity="blocker").create_ticket(TicketDraft("s", "d"))
    assert env.writes() == []
    assert env.sandbox.issues() == []


def test_an_answer_with_id_0_is_an_error_not_a_success(env: Env) -> None:
    """A stale list (the site dropped "done" since it was read): the server stores @0@."""
    stale = stock_enums()
    values = {**stale.values, EnumKind.STATUS: {**stale.values[EnumKind.STATUS], "done": 95}}
    issue_id = new_issue(env)
    connector = env.connector(enums=MantisEnums(values, stale.max_file_size))
    with pytest.raises(PermanentError, match="stored status 'done' of issue 1 as @0@"):
        connector.update_ticket(issue_id, TicketChanges(status="done"))


# -- read-only resolved issues ----------------------------------------------------------------


def test_a_note_on_a_resolved_issue_is_a_plain_words_read_only_error(env: Env) -> None:
    issue_id = new_issue(env)
    env.sandbox.set_status_as(env.dev, int(issue_id), "resolved")
    with pytest.raises(ReadOnlyTicket) as err:
        env.connector().add_comment(issue_id, NewComment("Retest failed", public=True))
    assert str(err.value) == (
        f"MantisBT refuses changes to resolved issue {issue_id} for the bridge user (access "
        "level DEVELOPER on project Billing): give the bridge user MANAGER on that project, "
        "or set update_readonly_bug_threshold to its level in MantisBT's configuration"
    )
    assert (err.value.status, err.value.ticket_id, err.value.access_level) == (
        403,
        issue_id,
        "developer",
    )
    assert "notes" not in env.sandbox.issue(int(issue_id))


def test_a_reopen_of_a_closed_issue_is_the_same_error(env: Env) -> None:
    issue_id = new_issue(env)
    env.sandbox.set_status_as(env.dev, int(issue_id), "closed")
    with pytest.raises(ReadOnlyTicket, match=f"closed issue {issue_id} .* DEVELOPER"):
        env.connector().update_ticket(issue_id, TicketChanges(status="assigned"))


def test_a_manager_bridge_user_reopens_and_notes(env: Env) -> None:
    issue_id = new_issue(env)
    env.sandbox.set_status_as(env.dev, int(issue_id), "resolved")
    env.sandbox.set_access(env.bridge, "manager", project_id=env.project)
    connector = env.connector()
    connector.add_comment(issue_id, NewComment("Retest failed", public=True))
    assert connector.update_ticket(issue_id, TicketChanges(status="assigned")).status == "assigned"


# -- files ----------------------------------------------------------------------------------


def test_the_limit_is_the_least_of_the_option_and_the_sites_max_file_size(env: Env) -> None:
    assert env.connector().max_attachment_bytes == 100_000
    assert env.connector(max_attachment_bytes=50_000).max_attachment_bytes == 50_000
    env.sandbox.max_file_size = 10 * 1024 * 1024
    assert env.connector().max_attachment_bytes == 2 * 1024 * 1024  # stock upload_max_filesize


def test_a_file_above_the_limit_is_named_not_sent(env: Env) -> None:
    issue_id = new_issue(env)
    env.sandbox.clear_log()
    files = (Attachment("big.bin", content=b"x" * 100_001), Attachment("ok.txt", content=b"ok"))
    env.connector().add_comment(issue_id, NewComment("Logs attached", True, files))

    [post] = [r for r in env.sandbox.requests() if r["method"] == "POST"]
    assert [f["name"] for f in post["json"]["files"]] == ["ok.txt"]
    [note] = env.sandbox.issue(int(issue_id))["notes"]
    assert note["text"] == (
        "Logs attached\n\nFile big.bin (100001 bytes) was not copied: larger than the "
        "100000 bytes this MantisBT accepts."
    )
    assert [a["filename"] for a in note["attachments"]] == ["ok.txt"]


def test_too_big_after_the_note_was_created_names_that_note_and_the_file(env: Env) -> None:
    """PHP's upload limit is lower than anything /config shows: the server creates the note,
    then refuses the file. The connector names that note and the file instead of writing it
    again (the caller records the note as the copy and tells of the file)."""
    issue_id = new_issue(env)
    env.sandbox.upload_max_filesize = 1_000
    text = "Retest failed \U0001f622, log attached"
    with pytest.raises(FilesLeftOut) as left:
        env.connector().add_comment(
            issue_id, NewComment(text, True, (Attachment("trace.log", content=b"t" * 5_000),))
        )
    [note] = env.sandbox.issue(int(issue_id))["notes"]
    assert (str(note["id"]), note["attachments"]) == (left.value.written_id, [])
    assert left.value.files == ("trace.log",)
    assert note["text"] == "Retest failed \ufffd, log attached"


def test_only_the_bridges_own_note_is_taken_after_too_big(env: Env) -> None:
    issue_id = new_issue(env)
    env.sandbox.upload_max_filesize = 1_000
    env.sandbox.add_note_as(env.dev, int(issue_id), "same words")  # not the bridge's own note
    env.sandbox.request_log.clear()
    files = (Attachment("trace.log", content=b"t" * 5_000),)
    connector = env.connector()
    with pytest.raises(FilesLeftOut) as left:
        connector.add_comment(issue_id, NewComment("same words", True, files))
    notes = env.sandbox.issue(int(issue_id))["notes"]
    assert [n["reporter"]["id"] for n in notes] == [env.dev, env.bridge]
    assert left.value.written_id == str(notes[1]["id"])  # the bridge's note, not the developer's


def test_too_big_after_the_issue_was_created_gives_that_issue_once(env: Env) -> None:
    env.sandbox.upload_max_filesize = 1_000
    ticket = env.connector().create_ticket(
        TicketDraft(
            "Export crashes",
            "Click export.",
            source_url="https://helpdesk.example/tickets/42",
            attachments=(Attachment("trace.log", content=b"t" * 5_000),),
        )
    )
    [issue] = env.sandbox.issues()
    assert ticket.ref.id == str(issue["id"])
    assert "attachments" not in issue


def test_a_file_gone_from_the_issue_is_a_plain_error(env: Env) -> None:
    issue_id = new_issue(env)
    gone = Attachment("x.log", url=f"{env.url}/api/rest/issues/{issue_id}/files/99", id="99")
    with pytest.raises(PermanentError, match="no such file") as err:
        env.connector().fetch_attachment(gone, io.BytesIO(), 1_000)
    assert err.value.status == 404


def test_the_created_issue_is_looked_for_from_the_time_of_the_request(env: Env) -> None:
    """find_created starts FIND_CREATED_SLACK before the connector's clock, never at 'now'."""
    issue_id = new_issue(env, source_url="https://helpdesk.example/tickets/7")
    found = env.connector().find_created(
        "https://helpdesk.example/tickets/7", START - timedelta(minutes=10)
    )
    assert found is not None and found.ref.id == issue_id


# -- 4-byte characters ----------------------------------------------------------------------


def test_a_note_with_emoji_whose_answer_was_lost_is_found_not_posted_again(env: Env) -> None:
    """utf8mb3 stores 🚀 as U+FFFD: the retry must recognise the note as it was stored."""
    from bridge.writes import post_once

    issue_id = new_issue(env)
    connector = env.connector()
    note = NewComment(body="Retest failed 🚀 on the shop", public=True)
    first = connector.add_comment(issue_id, note)  # ... and its answer was lost
    assert "\ufffd" in env.sandbox.issue(int(issue_id))["notes"][-1]["text"]
    env.sandbox.clear_log()
    again = post_once(connector, issue_id, note, unsure=True, mark_unsure=lambda: None)
    assert again == first
    assert env.writes() == []
    assert len(env.sandbox.issue(int(issue_id))["notes"]) == 1
