"""The connector contract, asked of a live server instead of `responses` fakes.

test_connector_contract.py injects faults a real server will not produce on demand (a 502, a
body cut off mid-way); what a live server can answer is asked here, with the same meaning:
which error class a failure becomes, UTC times, comments in order with an exclusive `since`,
polling that finds a change and ends, a write already true not sent, downloads bounded and
never with credentials to another host, the bridge's own writes recognisable (no echo).

Not collected from here (no `test_` file name): a folder with a live server imports the tests
and provides a `live` fixture (a LiveCase); tests/redmine/test_contract_live.py does so.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import Any

import pytest

from bridge.errors import PermanentError, RateLimited, RetryableError, WebhookError
from bridge.models import Attachment, NewComment, Ticket, TicketChanges, TicketDraft
from bridge.protocol import Capability, Connector, is_bridge_actor
from connectors.transport import ForeignHost


class LiveCase(ABC):
    """What the suite needs of one live system; people other than the bridge act through it."""

    name: str
    foreign_files = ForeignHost.REFUSE

    @abstractmethod
    def connector(self) -> Any:
        """A connector with the bridge user's credentials (no inline retries)."""

    @abstractmethod
    def connector_with(self, *, url: str | None = None, credentials: str | None = None) -> Any:
        """The same connector at another URL or with other (wrong) credentials."""

    @abstractmethod
    def draft(self, source_url: str) -> TicketDraft:
        """A ticket the bridge may create here, linking back to `source_url`."""

    @property
    @abstractmethod
    def status(self) -> str:
        """A status the bridge user may set (not the one a new ticket starts in)."""

    @abstractmethod
    def comment_as_someone_else(self, ticket_id: str, text: str) -> None:
        """A person on this system (not the bridge) writes a public comment."""

    @abstractmethod
    def file_as_someone_else(self, ticket_id: str, filename: str, content: bytes) -> None:
        """A person attaches a file to the ticket with a comment."""

    @abstractmethod
    def closed_port_url(self) -> str:
        """A URL on this machine where nothing listens."""


def created(live: LiveCase, tag: str) -> Ticket:
    return live.connector().create_ticket(live.draft(f"https://helpdesk.example/tickets/{tag}"))


def assert_utc(moment: Any) -> None:
    assert moment is not None
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_live_satisfies_the_connector_protocol(live: LiveCase) -> None:
    connector = live.connector()
    assert isinstance(connector, Connector)
    assert connector.kind == live.name
    me = connector.whoami()
    assert me.id == connector.settings.bridge_user


def test_live_a_missing_ticket_is_permanent_404(live: LiveCase) -> None:
    with pytest.raises(PermanentError) as info:
        live.connector().get_ticket("987654")
    assert info.value.status == 404


def test_live_refused_credentials_are_permanent_401(live: LiveCase) -> None:
    ticket = created(live, "refused")
    with pytest.raises(PermanentError) as info:
        live.connector_with(credentials="not-the-key").get_ticket(ticket.ref.id)
    assert info.value.status == 401


def test_live_nothing_listening_is_retryable_and_nothing_was_done(live: LiveCase) -> None:
    connector = live.connector_with(url=live.closed_port_url())
    with pytest.raises(RetryableError) as info:
        connector.create_ticket(live.draft("https://helpdesk.example/tickets/nowhere"))
    assert not isinstance(info.value, RateLimited)
    assert info.value.maybe_applied is False  # refused before anything was sent


def test_live_a_created_ticket_reads_back_with_utc_times(live: LiveCase) -> None:
    ticket = created(live, "utc")
    again = live.connector().get_ticket(ticket.ref.id)
    assert again.ref == ticket.ref and again.subject == ticket.subject
    assert again.status == ticket.status
    assert_utc(again.created_at)
    assert_utc(again.updated_at)


def test_live_comments_come_oldest_first_and_since_is_exclusive(live: LiveCase) -> None:
    ticket = created(live, "comments")
    for n in range(1, 4):
        live.comment_as_someone_else(ticket.ref.id, f"comment {n}")
    comments = live.connector().list_comments(ticket.ref.id)
    assert [c.body for c in comments] == ["comment 1", "comment 2", "comment 3"]
    for comment in comments:
        assert_utc(comment.created_at)
        assert not is_bridge_actor(live.connector().settings, comment.author_id)
    since = comments[1].created_at
    assert since is not None
    later = live.connector().list_comments(ticket.ref.id, since=since)
    expected = [c.id for c in comments if c.created_at is not None and c.created_at > since]
    assert [c.id for c in later] == expected


def test_live_the_bridges_own_comments_are_recognised(live: LiveCase) -> None:
    ticket = created(live, "echo")
    connector = live.connector()
    public_id = connector.add_comment(ticket.ref.id, NewComment("from the helpdesk", public=True))
    internal_id = connector.add_comment(ticket.ref.id, NewComment("agent only", public=False))
    live.comment_as_someone_else(ticket.ref.id, "the vendor answers")
    comments = {c.id: c for c in connector.list_comments(ticket.ref.id)}
    assert comments[public_id].body == "from the helpdesk" and comments[public_id].public
    assert comments[internal_id].public is False
    own = [c.id for c in comments.values() if is_bridge_actor(connector.settings, c.author_id)]
    assert sorted(own) == sorted([public_id, internal_id])


def test_live_polling_finds_the_change_and_ends(live: LiveCase) -> None:
    ticket = created(live, "poll")
    assert ticket.created_at is not None
    since = ticket.created_at - timedelta(seconds=1)
    live.comment_as_someone_else(ticket.ref.id, "a change to find")
    events = live.connector().changes_since(since)
    mine = [e for e in events if e.ref.id == ticket.ref.id]
    assert len(mine) == 1
    event = mine[0]
    assert_utc(event.occurred_at)
    assert event.occurred_at is not None and event.occurred_at >= since
    assert event.delivery_id == f"poll:{event.ref.id}:{event.occurred_at.isoformat()}"
    assert len({e.delivery_id for e in events}) == len(events)


def test_live_writing_the_current_status_changes_nothing(live: LiveCase) -> None:
    ticket = created(live, "noop")
    connector = live.connector()
    moved = connector.update_ticket(ticket.ref.id, TicketChanges(status=live.status))
    assert moved.status == live.status
    before = connector.get_ticket(ticket.ref.id)
    history = len(connector.list_comments(ticket.ref.id))
    again = connector.update_ticket(ticket.ref.id, TicketChanges(status=live.status))
    assert again.status == live.status
    after = connector.get_ticket(ticket.ref.id)
    assert after.updated_at == before.updated_at  # no write reached the server
    assert len(connector.list_comments(ticket.ref.id)) == history


def test_live_a_download_is_bounded_and_stays_on_the_host(live: LiveCase) -> None:
    ticket = created(live, "files")
    content = b"0123456789" * 100
    live.file_as_someone_else(ticket.ref.id, "trace.log", content)
    connector = live.connector()
    files = [a for c in connector.list_comments(ticket.ref.id) for a in c.attachments]
    assert [a.filename for a in files] == ["trace.log"]
    dest = io.BytesIO()
    assert connector.fetch_attachment(files[0], dest, len(content)) == len(content)
    assert dest.getvalue() == content
    with pytest.raises(PermanentError) as info:
        connector.fetch_attachment(files[0], io.BytesIO(), len(content) - 1)
    assert info.value.status == 413
    if live.foreign_files is ForeignHost.REFUSE:
        foreign = Attachment("trace.log", url="https://files.elsewhere.example/trace.log")
        with pytest.raises(PermanentError, match=r"refusing to send \w+ credentials"):
            connector.fetch_attachment(foreign, io.BytesIO(), 1 << 20)


def test_live_a_ticket_the_bridge_created_is_found_again(live: LiveCase) -> None:
    connector = live.connector()
    if Capability.FIND_CREATED not in connector.capabilities:
        pytest.skip(f"{live.name} cannot look up what the bridge created")
    ticket = created(live, "lost-answer-7")
    assert ticket.created_at is not None
    found = connector.find_created(
        "https://helpdesk.example/tickets/lost-answer-7", ticket.created_at - timedelta(minutes=1)
    )
    assert found is not None and found.ref == ticket.ref
    other = connector.find_created(
        "https://helpdesk.example/tickets/lost-answer", ticket.created_at - timedelta(minutes=1)
    )
    assert other is None or other.ref != ticket.ref  # ticket 1 is not ticket 10


def test_live_webhooks_are_refused_when_the_system_has_none(live: LiveCase) -> None:
    connector = live.connector()
    if Capability.WEBHOOKS in connector.capabilities:
        pytest.skip(f"{live.name} sends webhooks; signatures are checked offline")
    with pytest.raises(WebhookError):
        connector.verify_webhook({}, b"{}")
