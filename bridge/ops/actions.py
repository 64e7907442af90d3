"""Operator actions that change what the bridge will do next: resync a pair, link two tickets.

They only touch Redis and the queue; the queued sync does the writes to the ticket systems,
with the same idempotence as any other sync.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bridge.config import Route
from bridge.models import Event, EventKind, SystemRef
from bridge.ops.inspect import Inspector, OpsError
from bridge.queue import enqueue_sync
from bridge.records import LinkRecord, PairKey
from bridge.sync import release_parked


def routes_for(ins: Inspector, system: str, ticket: str) -> list[tuple[Route, PairKey]]:
    """The routes a ticket of `system` belongs to, each with its pair there."""
    if system not in ins.config.systems:
        raise OpsError(f"unknown system {system!r}")
    found = [(r, PairKey(r.name, ticket)) for r in ins.config.routes_from(system)]
    for route in ins.config.routes_to(system):
        pair = ins.stores.links.first_for_second(route.name, SystemRef(system, ticket))
        if pair is not None:
            found.append((route, pair))
    return found


def resync(ins: Inspector, system: str, ticket: str) -> list[str]:
    """Queue a fresh sync of every pair the ticket belongs to; returns the job ids."""
    pairs = routes_for(ins, system, ticket)
    if not pairs:
        raise OpsError(f"{system}#{ticket} is not linked on any route")
    ids = []
    for route, pair in pairs:
        release_parked(ins.stores.marks, pair)  # refused comments get one more try
        marker = uuid.uuid4().hex[:16]
        event = Event(SystemRef(system, ticket), EventKind.OTHER, f"resync:{marker}")
        job = enqueue_sync(
            ins.queue,
            ins.config,
            route,
            event,
            job_id=f"tb-{route.name}-resync-{marker}",
            first_id=pair.first_id,
        )
        ins.stores.log.add(
            SystemRef(route.first, pair.first_id), "operator_resync", {"job": job.id}
        )
        ids.append(job.id)
    return ids


def link(ins: Inspector, a: SystemRef, b: SystemRef) -> LinkRecord:
    """Link two existing tickets; the next sync writes the reference, posts the link note,
    marks the comments already there as history and starts the pair state."""
    route = next(
        (
            r
            for r in ins.config.routes
            if {r.first, r.second} == {a.system, b.system} and a.system != b.system
        ),
        None,
    )
    if route is None:
        raise OpsError(f"no route connects {a.system} and {b.system}")
    first, second = (a, b) if route.first == a.system else (b, a)
    existing = ins.stores.links.get_link(PairKey(route.name, first.id))
    if existing is not None:
        raise OpsError(f"{first} is already linked to {existing.second} on {route.name}")
    taken = ins.stores.links.first_for_second(route.name, second)
    if taken is not None:
        raise OpsError(f"{second} is already linked to {route.first}#{taken.first_id}")
    record = LinkRecord(
        route=route.name,
        first=first,
        second=second,
        second_url=ins.connectors[second.system].ticket_url(second.id),
        created_at=datetime.now(UTC).isoformat(),
        first_marked=False,
        note_id=None,
        history_marked=False,
    )
    ins.stores.links.save_link(record)
    # A claim left by an interrupted escalation is exactly what a manual link resolves.
    ins.stores.claims.release_claim(record.pair)
    ins.stores.waiting.clear_waiting(record.pair)
    ins.stores.log.add(first, "linked_by_operator", {"route": route.name, "second": str(second)})
    ins.stores.log.add(second, "linked_by_operator", {"route": route.name, "first": str(first)})
    return record
