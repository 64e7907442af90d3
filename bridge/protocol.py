"""The contract between the engine and the connectors.

The engine reaches connectors only through this protocol (looked up in a registry keyed by
system type), so a connector can stand on either side of a route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, BinaryIO, Protocol, runtime_checkable

from bridge.models import (
    Attachment,
    Comment,
    Event,
    NewComment,
    Ticket,
    TicketChanges,
    TicketDraft,
)


class Capability(StrEnum):
    WEBHOOKS = "webhooks"
    POLLING = "polling"
    ATTACHMENTS = "attachments"
    # find_created(): can look up a ticket the bridge created, to recover from an ambiguous create
    FIND_CREATED = "find_created"
    # get_ticket_and_comments(): the ticket and its comments in one request (MantisBT's issue
    # carries its notes), so a sync reads that side with one request instead of two
    READS_TOGETHER = "reads_together"


@dataclass(frozen=True)
class SystemSettings:
    """A configured system, as connectors receive it (validated by bridge.config first).

    `auth` holds the type-specific credentials (e.g. Zendesk `email` + `token`, MantisBT
    `token`); `bridge_user` is the id of the integration user the bridge writes as, which is how
    its own writes are recognised and dropped. `options` carries type-specific extras.
    """

    name: str
    type: str
    url: str
    auth: Mapping[str, str] = field(default_factory=dict)
    webhook_secret: str | None = None
    bridge_user: str | None = None
    timeout: float = 10.0
    options: Mapping[str, Any] = field(default_factory=dict)
    # What people call the system in texts the bridge writes ("" = the name of its type), and
    # the language of the team working on it (None = the route's language).
    display_name: str = ""
    language: str | None = None


@runtime_checkable
class Connector(Protocol):
    kind: str
    settings: SystemSettings
    capabilities: frozenset[Capability]

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        """Raise SignatureError unless the request is signed by the configured secret."""

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        """Translate a verified webhook into neutral events; PayloadError if malformed."""

    def get_ticket(self, ticket_id: str) -> Ticket: ...

    def create_ticket(self, draft: TicketDraft) -> Ticket: ...

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        """Apply changes; fields already holding the wanted value are not written again."""

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        """Write a comment/note and return its remote id. Raises `FilesLeftOut` when the
        comment was written but some of its files were refused after it."""

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]: ...

    def stored_text(self, text: str) -> str:
        """`text` as this system will give it back (a store that drops what it cannot keep,
        e.g. MantisBT's utf8mb3 tables and 4-byte characters), so the bridge can recognise its
        own earlier write after a lost answer."""

    def ticket_url(self, ticket_id: str) -> str:
        """The URL a human opens to see the ticket."""


class Polls(Protocol):
    """Connectors with Capability.POLLING (and webhook systems, for the reconciler)."""

    def changes_since(self, since: datetime) -> list[Event]:
        """Tickets updated at or after `since`, as TICKET_UPDATED events.

        Each event has `occurred_at` = the ticket's updated_at (UTC) and
        `delivery_id` = f"poll:{id}:{updated_at isoformat}", so the poller's overlap window
        dedupes naturally. Must terminate (page until older than `since` or the end).
        """


class FetchesAttachments(Protocol):
    """Connectors with Capability.ATTACHMENTS."""

    def fetch_attachment(self, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
        """Stream the file into `dest` in chunks; return bytes written.

        Raises PermanentError (status 413) when the file is larger than `max_bytes`, without
        reading the rest. Credentials are only sent to the system's own host.
        """


class ReadsTogether(Protocol):
    """Connectors with Capability.READS_TOGETHER also offer this."""

    def get_ticket_and_comments(self, ticket_id: str) -> tuple[Ticket, list[Comment]]:
        """What get_ticket and list_comments would answer, from one remote read."""


class FindsCreated(Protocol):
    """Connectors with Capability.FIND_CREATED also offer this."""

    def find_created(self, source_url: str, since: datetime) -> Ticket | None:
        """A ticket the bridge user created after `since` from `source_url`, if any."""


def is_bridge_actor(settings: SystemSettings, actor_id: str | None) -> bool:
    """True when an event was caused by the bridge's own integration user (echo)."""
    return (
        bool(settings.bridge_user)
        and actor_id is not None
        and str(actor_id) == str(settings.bridge_user)
    )
