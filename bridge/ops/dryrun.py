"""`bridge dry-run`: what the bridge would decide for a webhook payload, without writing.

Parses the payload with the system's connector (no signature check), re-reads each ticket as a
job would (reading is fine), runs the escalation gate and prints the decision; for an escalation
it prints the draft issue the engine would create. Nothing is written to a ticket system, Redis
or the queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

from redis import Redis

from bridge.config import Config, Route
from bridge.context import RouteContext
from bridge.engine import build_draft
from bridge.protocol import Connector, is_bridge_actor
from bridge.registry import build_connector
from bridge.rules import check_required, is_technical
from bridge.store import RedisStore


def explain(
    config: Config,
    system: str,
    raw: bytes,
    headers: Mapping[str, str],
    redis: Redis | None = None,
) -> Iterator[str]:
    connectors: dict[str, Connector] = {}

    def connector(name: str) -> Connector:
        if name not in connectors:
            connectors[name] = build_connector(config.systems[name], redis)
        return connectors[name]

    source = connector(system)
    events = source.parse_webhook({k.lower(): v for k, v in headers.items()}, raw)
    if not events:
        yield "no ticket event in the payload: the bridge would answer 202 ignored"
        return
    store = RedisStore(redis) if redis is not None else None
    if store is None:
        yield "(no Redis configured: links cannot be looked up; assuming none exist)"
    for event in events:
        yield f"event {event.kind.value} on {event.ref} (delivery {event.delivery_id}, " + (
            f"actor {event.actor_id})"
        )
        if is_bridge_actor(source.settings, event.actor_id):
            yield "  -> ignored_own_write: caused by the bridge's own user"
            continue
        if not config.routes_from(system) and not config.routes_to(system):
            yield "  -> ignored: no route uses this system"
        for route in config.routes_to(system):
            first_id = store.first_for_second(route.name, system, event.ref.id) if store else None
            if first_id is None:
                yield f"  route {route.name}: not linked to any escalation -> ignored"
            else:
                yield (
                    f"  route {route.name}: linked to {route.first}#{first_id} -> would sync the "
                    "pair (comments, status, priority)"
                )
        for route in config.routes_from(system):
            yield from _first_level(route, connector, event.ref.id, store)


def _first_level(
    route: Route, connector: Any, ticket_id: str, store: RedisStore | None
) -> Iterator[str]:
    link = store.get_link(route.name, ticket_id) if store else None
    if link is not None:
        yield (
            f"  route {route.name}: already escalated to {link.second} -> would sync the pair "
            "(comments, status, priority)"
        )
        return
    ticket = connector(route.first).get_ticket(ticket_id)
    verdict = is_technical(ticket, route.mapping)
    if not verdict.technical:
        yield f"  route {route.name}: not_technical ({verdict.reason})"
        return
    gate = check_required(ticket, route.mapping)
    if not gate.complete:
        yield f"  route {route.name}: missing_data_requested ({verdict.reason})"
        for name, problem in gate.problems.items():
            yield f"    {name}: {problem}"
        status = route.mapping.missing_status
        yield "  would post one note asking for this" + (
            f" and set the ticket to {status!r}" if status else ""
        )
        return
    ctx = RouteContext(
        name=route.name,
        mapping=route.mapping,
        language=route.language,
        first=connector(route.first),
        second=connector(route.second),
        store=cast(Any, store),  # the draft needs no store; nothing is written
    )
    draft = build_draft(ctx, ticket, gate)
    yield f"  route {route.name}: escalate to {route.second} ({verdict.reason})"
    yield f"    summary:  {draft.subject}"
    yield f"    priority: {draft.priority}"
    yield f"    project:  {draft.project} / category {draft.category}"
    for name, value in draft.fields.items():
        yield f"    field {name}: {value}"
    if draft.tags:
        yield f"    tags: {', '.join(draft.tags)}"
    yield "    description:"
    for line in draft.description.splitlines():
        yield f"      {line}"
