"""The neutral model every layer speaks.

Connectors translate vendor JSON into these frozen dataclasses at the edge, so the engine can
decide without knowing which helpdesk or tracker sits on either side of a route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """What a webhook or poll says happened. Only a hint: jobs always re-read the ticket."""

    TICKET_CREATED = "ticket_created"
    TICKET_UPDATED = "ticket_updated"
    COMMENT_ADDED = "comment_added"
    STATUS_CHANGED = "status_changed"
    PRIORITY_CHANGED = "priority_changed"
    OTHER = "other"


@dataclass(frozen=True)
class SystemRef:
    """A ticket in one configured system (system = the config's system name, not its type)."""

    system: str
    id: str

    def __str__(self) -> str:
        return f"{self.system}#{self.id}"


@dataclass(frozen=True)
class Event:
    """One change a system reported.

    `delivery_id` is the sender's idempotency key (Zendesk invocation id / event id, Zammad
    delivery id); `actor_id` lets the engine drop the bridge's own writes (echo suppression),
    so a connector sets it only when that user surely made this very change, else None.
    """

    ref: SystemRef
    kind: EventKind
    delivery_id: str | None = None
    actor_id: str | None = None
    occurred_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Attachment:
    """A file on a comment or ticket.

    Read side: `url` (and `id`) say where the connector can fetch it. Write side: `content`
    (small, in memory) or `path` (a local file the bridge streamed it into), never both.
    """

    filename: str
    content_type: str = "application/octet-stream"
    size: int | None = None
    url: str | None = None
    content: bytes | None = None
    path: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Comment:
    id: str
    body: str
    public: bool
    author_id: str | None = None
    author_name: str | None = None
    created_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class NewComment:
    """A comment the bridge wants to write. `public=False` means an internal/private note."""

    body: str
    public: bool
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Ticket:
    """A ticket as the bridge sees it.

    `status` and `priority` are the vendor's own names, lower case ("pending", "feedback");
    the route's mapping translates them. `fields` holds custom fields keyed by the vendor's
    field id (Zendesk, Zammad attribute name) or name (MantisBT), values as the vendor sends them.
    """

    ref: SystemRef
    subject: str
    description: str = ""
    status: str | None = None
    priority: str | None = None
    type: str | None = None
    tags: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    requester_email: str | None = None
    requester_name: str | None = None
    external_id: str | None = None
    # The requester's user id, where the system tells: their comments are the customer's own.
    requester_id: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    # When the status last changed, where the system tells (MantisBT's history): a note added
    # later moves `updated_at`, not this. None: not known, `updated_at` stands in.
    status_changed_at: datetime | None = None
    status_changed_by: str | None = None  # who made that change, where the system tells


@dataclass(frozen=True)
class TicketDraft:
    """What the engine asks a second-level system to create.

    `project` and `category` are names or ids as the target understands them; `fields` are
    custom fields keyed by name or id; `source_url` links back to the first-level ticket.
    """

    subject: str
    description: str
    priority: str | None = None
    project: str | None = None
    category: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    source_url: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class TicketChanges:
    """A partial update. None means "leave as is"; connectors skip writes already true."""

    status: str | None = None
    priority: str | None = None
    external_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
