"""The contract between the engine and the connectors.

The engine reaches connectors only through this protocol (looked up in bridge.registry, keyed
by system type), so a connector can stand on either side of a route. A connector class also
describes itself here: its type name, what it can do, the marshmallow schemas of its `auth` and
`options`, its limits, how its statuses say who a ticket waits on and which hooks it takes, so
config validation, the online check, the CLI and the sandbox world derive everything from the
class and a new vendor is one package plus one entry-point line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, BinaryIO, Protocol, runtime_checkable

from marshmallow import Schema

from bridge.findings import Finding, Usage
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


class Hook(StrEnum):
    """What the bridge can hand a connector when it builds one (the connector declares which
    it honours, so a configured option that needs a hook it lacks is a config error)."""

    # Called before every remote request: the request budget shared by all workers
    # (`options.requests_per_minute`), which blocks until a slot is free.
    BEFORE_REQUEST = "before_request"
    # Told of every request sent and what came of it: the per-system request metrics.
    OBSERVE_REQUEST = "observe_request"


class StatusClass(Enum):
    """What one request got back, as the request metrics count it."""

    SUCCESS = "2xx"
    REDIRECT = "3xx"
    CLIENT_ERROR = "4xx"
    SERVER_ERROR = "5xx"
    ERROR = "error"  # no answer at all: refused, DNS, timeout, reset, TLS

    @classmethod
    def of(cls, status: int) -> StatusClass:
        """A status code's class; a code outside 200-599 (1xx after Expect, nonsense) is an
        error: nothing usable came back."""
        return {2: cls.SUCCESS, 3: cls.REDIRECT, 4: cls.CLIENT_ERROR, 5: cls.SERVER_ERROR}.get(
            status // 100, cls.ERROR
        )


@dataclass(frozen=True)
class Exchange:
    """One request on the wire and what came of it: the unit the request metrics record.

    `seconds` runs from sending until the status line and headers are in (or the send failed);
    the body is read afterwards, under the call's deadline."""

    system: str
    method: str
    status: StatusClass
    seconds: float


RequestObserver = Callable[[Exchange], None]


@dataclass(frozen=True)
class Hooks:
    """The hooks one connector instance receives (None: not in use for this system)."""

    before_request: Callable[[], object] | None = None
    observe: RequestObserver | None = None


@dataclass(frozen=True)
class Limits:
    """What a system takes, before `options` narrow it."""

    # The largest file the bridge copies into this system when `options.max_attachment_bytes`
    # is not set (a site may still refuse less: MantisBT narrows it by its max_file_size).
    max_attachment_bytes: int


@dataclass(frozen=True)
class SideStatuses:
    """How a system type's statuses say who a ticket waits on (mapping checks, pair state)."""

    fixed: tuple[str, ...] | None  # the only names there are; None: site-configurable
    waiting_on_requester: frozenset[str]
    ask_agent: str | None  # first level: while an internal note asks the agent for data
    ask_requester: str | None  # first level: while a public comment asks the requester
    escalated: str | None  # first level: while the vendor works on it


@dataclass(frozen=True)
class Identity:
    """The user a system's credentials belong to (`whoami()`), compared with `bridge_user`."""

    id: str | None  # None: the system answered as an anonymous user
    name: str


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
    """One configured system. The class attributes describe the type; bridge.registry reads
    them from the class before any instance exists (config validation, `bridge --help`)."""

    kind: str  # the type name in the config (`type: redmine`), equal to its entry-point name
    title: str  # what people call the product ("MantisBT"), when a system has no display_name
    capabilities: frozenset[Capability]
    # marshmallow schemas of `auth` and `options`, checked when the config is loaded; an options
    # schema extends bridge.option_fields.CommonOptions (the options every type understands).
    auth_schema: type[Schema]
    options_schema: type[Schema]
    limits: Limits
    statuses: SideStatuses
    hooks: frozenset[Hook]
    # "module:Class" of the sandbox driver that fakes this system in `bridge demo` and the
    # integration tests; None: no sandbox (a demo route needs one on both sides).
    sandbox: str | None
    settings: SystemSettings

    def __init__(self, settings: SystemSettings, *, hooks: Hooks = ...) -> None:
        """Build from validated settings; nothing is read from the system yet."""

    @property
    def max_attachment_bytes(self) -> int:
        """The largest file this system takes now: `options.max_attachment_bytes`, else
        `limits`, narrowed by what the site itself reports where it does."""

    def whoami(self) -> Identity:
        """The user the credentials belong to (one read); PermanentError when refused."""

    def check_usage(self, usage: Usage, enums_only: bool = False) -> list[Finding]:
        """Read-only: what the routes use on this system (statuses, fields, projects) against
        what is there. `enums_only`: just the cheap name lists, for the check at worker start."""

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

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        """Comments oldest first: all of them, or only those created after `since` (a sync
        reads from its cursor, so its cost does not grow with the ticket's history). Reading
        stops where the system lets it: Zendesk pages newest first down to `since`; a system
        whose ticket read carries all its comments skips the older ones unparsed."""

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        """Comments newest first, read lazily: a caller that stops early reads no further
        (the lookup for the bridge's own write after a lost answer finds it among the newest).
        """

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

    def get_ticket_and_comments(
        self, ticket_id: str, since: datetime | None = None
    ) -> tuple[Ticket, list[Comment]]:
        """What get_ticket and list_comments(ticket_id, since) would answer, from one read."""


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


def attachment_limit(settings: SystemSettings, limits: Limits) -> int:
    """The largest file to copy into a system: `options.max_attachment_bytes`, else the type's
    `limits` (a connector may narrow it further by what its site reports)."""
    configured = settings.options.get("max_attachment_bytes")
    return int(configured) if configured else limits.max_attachment_bytes
