"""`bridge dry-run`: the plan the bridge would carry out for a webhook payload, printed.

Parses the payload with the system's connector (no signature check), reads each ticket (and,
once linked, the pair) as a job would, and runs the engine's own plans against those reads
with every write answered "done" instead of carried out (`bridge.steps.preview`). So what it
prints is the engine's decision, step by step, never a second copy of its rules. Nothing is
written to a ticket system, Redis or the queue.

A system paused for a maintenance window is not contacted at all, not even read: it gets one
line saying so, and a route whose sync a pause would hold says that instead of a plan, as the
sync job itself holds the pair without a remote call (bridge.pause).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from bridge.config import Config, Route
from bridge.context import Decision, RouteContext
from bridge.marks import parse_write_mark
from bridge.models import Event, SystemRef, Ticket
from bridge.pause import PauseStore, not_contacted, route_scopes
from bridge.plan_escalation import own_event, plan_first_level
from bridge.plan_sync import plan_pair
from bridge.protocol import Connector
from bridge.reader import read_pair
from bridge.records import PairKey
from bridge.registry import build_connector
from bridge.snapshot import FirstSnapshot, RouteFacts
from bridge.steps import (
    Created,
    CreateTicket,
    FetchFiles,
    HistoryRead,
    Log,
    MarkComment,
    MarkHistory,
    NoteToAgent,
    ParkItem,
    PostComment,
    ReadHistory,
    SaveLink,
    SetFields,
    Side,
    Step,
    assume_done,
    preview,
)
from bridge.stores import Stores

Connectors = Callable[[str], Connector]


def explain(
    config: Config,
    system: str,
    raw: bytes,
    headers: Mapping[str, str],
    redis: Redis | None = None,
    pauses: PauseStore | None = None,
) -> Iterator[str]:
    connectors: dict[str, Connector] = {}
    involved = {system} | {
        name for r in [*config.routes_from(system), *config.routes_to(system)]
        for name in (r.first, r.second)
    }  # fmt: skip
    if pauses is not None:
        for pause in pauses.systems_paused(sorted(involved)).values():
            yield not_contacted(pause)

    def connector(name: str) -> Connector:
        if name not in connectors:
            connectors[name] = build_connector(config.systems[name], redis)
        return connectors[name]

    source = connector(system)
    events = source.parse_webhook({k.lower(): v for k, v in headers.items()}, raw)
    if not events:
        yield "no ticket event in the payload: the bridge would answer 202 ignored"
        return
    stores = Stores.of(redis) if redis is not None else None
    if stores is None:
        yield "(no Redis configured: links and pauses cannot be looked up; assuming none exist)"
    for event in events:
        yield f"event {event.kind.value} on {event.ref} (delivery {event.delivery_id}, " + (
            f"actor {event.actor_id})"
        )
        if event.data:  # what the payload said, as the connector read it
            yield "  payload: " + ", ".join(f"{k}={v}" for k, v in sorted(event.data.items()))
        if not config.routes_from(system) and not config.routes_to(system):
            yield "  -> ignored: no route uses this system"
        for route in config.routes_to(system):
            pair = stores.links.first_for_second(route.name, event.ref) if stores else None
            if pair is None:
                yield f"  route {route.name}: not linked to any escalation -> ignored"
            else:
                yield from _route(route, connector, pair.first_id, event, stores, pauses)
        for route in config.routes_from(system):
            yield from _route(route, connector, event.ref.id, event, stores, pauses)


def _route(
    route: Route,
    connector: Connectors,
    first_id: str,
    event: Event,
    stores: Stores | None,
    pauses: PauseStore | None,
) -> Iterator[str]:
    facts = RouteFacts(
        route.name, route.mapping, route.language, connector(route.first), connector(route.second)
    )
    ref = SystemRef(route.first, first_id)
    steps, dropped = preview(own_event(facts, ref, event))
    if dropped is not None:
        yield f"  route {route.name}: {dropped.action}: {dropped.reason}"
        return
    held = (
        pauses.active_for(route_scopes(route.name, route.first, route.second)) if pauses else None
    )
    if held is not None:
        reason = f" ({held.reason})" if held.reason else ""
        yield (
            f"  route {route.name}: held: {held.scope.label} is paused{reason} -> the sync "
            "would wait for the resume; nothing is read or planned"
        )
        return
    link = stores.links.get_link(PairKey(route.name, first_id)) if stores else None
    if link is not None and stores is not None:
        yield (
            f"  route {route.name}: linked to {link.second} -> would sync the pair (comments, "
            "status, priority)"
        )
        ctx = RouteContext(route.name, route.mapping, route.language, connector(route.first),
                           connector(route.second), stores)  # fmt: skip
        steps, _ = preview(plan_pair(facts, read_pair(ctx, link)))
        yield from _printed(facts, steps) if steps else ["    nothing to write: in step"]
        return
    ticket = connector(route.first).get_ticket(first_id)
    asked = stores.waiting.missing_request(PairKey(route.name, first_id)) if stores else None
    snap = FirstSnapshot(ticket, parse_write_mark(asked) if asked else None, time.time())
    answer = _reading_answers(facts, connector(route.first), ticket)
    steps, first = preview(plan_first_level(facts, ref, snap), answer)
    if first is not None:
        yield from _decided(route, first.decision)
    yield from _printed(facts, steps)
    if first is not None and first.linked:
        yield "  then the pair is synced (comments, status, priority)"


def _reading_answers(
    facts: RouteFacts, first: Connector, ticket: Ticket
) -> Callable[[Step], object]:
    """Writes are assumed done; the history the escalation marks is read (reading is fine)."""

    def answer(step: Step) -> object:
        if isinstance(step, CreateTicket):
            ref = SystemRef(facts.second.settings.name, "(new)")
            return Created(Ticket(ref=ref, subject=step.draft.subject), datetime.now(UTC))
        if isinstance(step, ReadHistory):
            comments = first.list_comments(step.link.first.id)
            second = Ticket(ref=step.link.second, subject="")
            return HistoryRead(ticket, second, tuple(comments), ())
        return assume_done(step)

    return answer


def _decided(route: Route, decision: Decision) -> Iterator[str]:
    yield f"  route {route.name}: {decision.action} ({decision.reason})"
    for key, value in decision.details.items():
        for name, said in value.items() if isinstance(value, dict) else [(key, value)]:
            yield f"    {name}: {said}"


def _printed(facts: RouteFacts, steps: list[Step]) -> Iterator[str]:
    yield "  plan (nothing of it is carried out):"
    for n, step in enumerate(steps, 1):
        lines = _described(facts, step)
        yield f"    {n:>2}. {lines[0]}"
        for line in lines[1:]:
            yield f"        {line}"


def _where(facts: RouteFacts, side: Side, ticket_id: str) -> str:
    described = facts.first if side is Side.FIRST else facts.second
    return f"{described.settings.name}#{ticket_id}"


def _described(facts: RouteFacts, step: Step) -> list[str]:
    """One step as an operator reads it (the first line says what, the rest the content)."""
    match step:
        case CreateTicket(draft=draft):
            lines = [
                f"escalate to {facts.second.settings.name}: would create the ticket",
                f"summary:  {draft.subject}",
                f"priority: {draft.priority}",
                f"project:  {draft.project} / category {draft.category}",
                *(f"field {name}: {value}" for name, value in draft.fields.items()),
            ]
            if draft.tags:
                lines.append(f"tags: {', '.join(draft.tags)}")
            return [*lines, "description:", *(f"  {x}" for x in draft.description.splitlines())]
        case PostComment(side=side, ticket_id=ticket_id, comment=comment, guard=guard):
            shown = "public" if comment.public else "internal"
            looks = " (looked for first: an earlier attempt may have written it)"
            head = f"would post one note on {_where(facts, side, ticket_id)} ({shown})"
            return [head + (looks if guard.unsure else ""), *_quoted(comment.body)]
        case NoteToAgent(ticket_id=ticket_id, body=body):
            where = _where(facts, Side.FIRST, ticket_id)
            return [f"would post one note to the agent on {where}", *_quoted(body)]
        case SetFields(side=side, ticket_id=ticket_id, changes=changes):
            said = {k: v for k, v in vars(changes).items() if v}
            return [f"would set {_fields(said)} on {_where(facts, side, ticket_id)}"]
        case FetchFiles(src=src, attachments=files):
            return [f"would fetch {len(files)} file(s) from {_where(facts, src, '')}"]
        case SaveLink(link=link):
            return [f"would save the link {link.first} <-> {link.second}"]
        case ReadHistory(link=link):
            return [f"would read {link.first} and {link.second} as linked (their history)"]
        case Log(entry=entry, ref=ref):
            return [f"would log {entry} for {ref}"]
        case MarkComment(key=key, mark=mark):
            return [f"would mark comment {key}: {type(mark).__name__.lower()}"]
        case MarkHistory(keys=keys):
            return [f"would mark {len(keys)} comment(s) as history"]
        case ParkItem(key=key, reason=reason):
            return [f"would hold back {key}: {reason}"]
    return [f"would {step.action.value.replace('_', ' ')}: {_fields(_shown(step))}"]


def _shown(step: Step) -> dict[str, Any]:
    return {k: v for k, v in vars(step).items() if k not in ("guard",)}


def _fields(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def _quoted(body: str, lines: int = 3) -> list[str]:
    said = body.splitlines()
    return [f"| {x}" for x in said[:lines]] + (["| ..."] if len(said) > lines else [])
