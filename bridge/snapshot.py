"""What a plan is made from: the route's facts and a snapshot of one ticket or pair.

The planner sees a connector only as `Described` (its settings, capabilities and how its
ticket URLs look), so the type checker keeps every remote call out of it. Snapshots are read
by `bridge.reader`, with marks already parsed into their types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bridge.context import RouteContext
from bridge.mapping import RouteMapping
from bridge.marks import CommentMark, WriteMark
from bridge.models import Comment, Ticket
from bridge.protocol import Capability, SystemSettings
from bridge.records import LinkRecord, ParkedItem


class Described(Protocol):
    """The part of a connector a decision may use: nothing that talks to the system."""

    settings: SystemSettings
    capabilities: frozenset[Capability]

    def ticket_url(self, ticket_id: str) -> str: ...


@dataclass(frozen=True)
class RouteFacts:
    name: str
    mapping: RouteMapping
    language: str
    first: Described
    second: Described
    claim_timeout: float = 900.0

    @classmethod
    def of(cls, ctx: RouteContext) -> RouteFacts:
        return cls(ctx.name, ctx.mapping, ctx.language, ctx.first, ctx.second, ctx.claim_timeout)


@dataclass(frozen=True)
class FirstSnapshot:
    """A first-level ticket not linked yet."""

    ticket: Ticket
    asked: WriteMark | None  # the request for data last written
    now: float  # epoch seconds, to tell a live escalation claim from an abandoned one


@dataclass(frozen=True)
class NotesSnapshot:
    """What a note to the agent depends on."""

    link: LinkRecord | None
    notes: Mapping[str, WriteMark]  # cause -> the note that told the agent
    parked: Mapping[str, ParkedItem] = field(default_factory=dict)  # read after a sync


@dataclass(frozen=True)
class PairSnapshot:
    """A linked pair as one sync finds it."""

    link: LinkRecord
    first: Ticket
    second: Ticket
    first_comments: tuple[Comment, ...]
    second_comments: tuple[Comment, ...]
    marks: Mapping[str, CommentMark]
    state: Mapping[str, str]  # the pair state: statuses and priorities last seen in step
    parked: Mapping[str, ParkedItem] = field(default_factory=dict)
