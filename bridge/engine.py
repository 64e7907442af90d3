"""The engine's entry point: read a ticket (or its pair), plan, apply the plan.

The decisions are pure plans (`bridge.plan_escalation`, `bridge.plan_sync` and what they
use): they take a snapshot and yield typed steps. This module reads the snapshots
(`bridge.reader`), hands each plan to the executor (`bridge.executor`) and combines what the
plans decided. It re-reads the ticket instead of trusting the event, so a job that runs late,
twice or after a crash converges on the same result.
"""

from __future__ import annotations

from bridge.context import Decision, RouteContext
from bridge.executor import Executor
from bridge.models import Event, SystemRef
from bridge.plan_escalation import finish_escalation, own_event, plan_first_level
from bridge.reader import link_note, read_first
from bridge.snapshot import RouteFacts
from bridge.sync import sync_pair


def handle_first_level(
    ctx: RouteContext, ticket_id: str, event: Event | None = None, run_id: str = ""
) -> Decision:
    """Bring one first-level ticket (and, once linked, its pair) to where the route says.

    `event` may come from either side of the route; an event caused by the bridge's own user
    on that side is dropped (echo). Everything else re-reads the tickets, so the event is only
    a hint.
    """
    facts = RouteFacts.of(ctx)
    ref = SystemRef(ctx.first.settings.name, ticket_id)
    run = Executor(ctx, ticket_id)
    if event is not None:
        dropped = run(own_event(facts, ref, event))
        if dropped is not None:
            return dropped

    link = ctx.stores.links.get_link(ctx.pair(ticket_id))
    if link is not None:
        finished = run(finish_escalation(facts, link, link_note(link)))
        synced = sync_pair(ctx, link)
        if not finished.wrote:
            return synced
        done = finished.decision
        return Decision(done.action, done.reason, {**done.details, **synced.details})

    first = run(plan_first_level(facts, ref, read_first(ctx, ticket_id), run_id))
    if not first.linked:
        return first.decision
    # What the customer wrote since the bridge's request goes along right away (start_pair
    # left it unmarked); a retry finds the link and copies only what is still pending.
    link = ctx.stores.links.get_link(ctx.pair(ticket_id))
    if link is None:
        return first.decision
    synced = sync_pair(ctx, link)
    escalated = first.decision
    details = {**escalated.details, **{k: v for k, v in synced.details.items() if k != "second"}}
    return Decision(escalated.action, escalated.reason, details)
