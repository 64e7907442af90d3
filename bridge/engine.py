"""Escalation decisions: the pure middle of the bridge.

It receives connectors, the route's mapping and the store as arguments (no Flask, no HTTP, no
Redis in here), re-reads the ticket instead of trusting the event, and makes every write
idempotent, so a job that runs late, twice or after a crash converges on the same result.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any, cast

from bridge.context import Decision, RouteContext
from bridge.errors import PermanentError, RetryableError
from bridge.mapping import RouteMapping
from bridge.models import Event, NewComment, SystemRef, Ticket, TicketChanges, TicketDraft
from bridge.protocol import Capability, FindsCreated, is_bridge_actor
from bridge.retry import blame
from bridge.rules import GateResult, check_required, is_technical, map_priority, render
from bridge.store import Claim, LinkRecord
from bridge.sync import start_pair, sync_pair
from bridge.texts import Language, side_language, system_title, text
from bridge.writes import UNSURE, post_once


def handle_first_level(
    ctx: RouteContext, ticket_id: str, event: Event | None = None, run_id: str = ""
) -> Decision:
    """Bring one first-level ticket (and, once linked, its pair) to where the route says.

    `event` may come from either side of the route; an event caused by the bridge's own user
    on that side is dropped (echo). Everything else re-reads the tickets, so the event is only
    a hint.
    """
    ref = SystemRef(ctx.first.settings.name, ticket_id)
    if event is not None:
        source = ctx.second if event.ref.system == ctx.second.settings.name else ctx.first
        if is_bridge_actor(source.settings, event.actor_id):
            decision = Decision(
                "ignored_own_write", "the event was caused by the bridge's own user"
            )
            ctx.store.log(ref, decision.action, {"route": ctx.name, "reason": decision.reason})
            return decision

    link = ctx.store.get_link(ctx.name, ticket_id)
    if link is not None:
        finished = _finish_escalation(ctx, ref, link)
        synced = sync_pair(ctx, link)
        if finished.action == "already_escalated":
            return synced
        return Decision(finished.action, finished.reason, {**finished.details, **synced.details})

    with blame(ctx.first.settings.name):
        ticket = ctx.first.get_ticket(ticket_id)
    verdict = is_technical(ticket, ctx.mapping)
    if not verdict.technical:
        decision = Decision("not_technical", verdict.reason)
        ctx.store.log(ref, decision.action, {"route": ctx.name, "reason": verdict.reason})
        return decision

    gate = check_required(ticket, ctx.mapping, _first_language(ctx))
    if not gate.complete:
        return _request_missing(ctx, ref, ticket, gate)
    escalated = _escalate(ctx, ref, ticket, gate, run_id)
    # What the customer wrote since the bridge's request goes along right away (start_pair
    # left it unmarked); a retry finds the link and copies only what is still pending.
    link = ctx.store.get_link(ctx.name, ticket_id)
    if link is None:
        return escalated
    synced = sync_pair(ctx, link)
    details = {**escalated.details, **{k: v for k, v in synced.details.items() if k != "second"}}
    return Decision(escalated.action, escalated.reason, details)


def _fingerprint(problems: dict[str, str]) -> str:
    text = "\n".join(f"{k}={v}" for k, v in sorted(problems.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _first_language(ctx: RouteContext) -> Language:
    """The helpdesk team's language: requests for data, link notes."""
    return side_language(ctx.first.settings, ctx.language)


def _second_language(ctx: RouteContext) -> Language:
    """The vendor team's language: the escalated ticket (a system's own `language` where the
    two teams differ, else the route's)."""
    return side_language(ctx.second.settings, ctx.language)


def _missing_text(ctx: RouteContext, gate: GateResult) -> str:
    texts = ctx.mapping.texts(_first_language(ctx))
    lines = []
    for name, problem in gate.problems.items():
        label = texts.labels.get(name, name)
        lines.append(f"- {label}" if problem == "missing" else f"- {label}: {problem}")
    return render(texts.missing_data, {"missing": "\n".join(lines)})


def _request_missing(
    ctx: RouteContext, ref: SystemRef, ticket: Ticket, gate: GateResult
) -> Decision:
    """Ask the first level once per distinct set of gaps; duplicates change nothing."""
    problems = dict(gate.problems)
    fingerprint = _fingerprint(problems)
    # Write-ahead: "asking for <fingerprint>, not yet confirmed" before the POST (writes.py).
    previous = ctx.store.swap_missing_request(ctx.name, ref.id, UNSURE + fingerprint)
    if previous == fingerprint:
        ctx.store.restore_missing_request(ctx.name, ref.id, fingerprint)
        decision = Decision(
            "missing_data_already_requested", "the same data was already asked for", problems
        )
        ctx.store.log(ref, decision.action, {"route": ctx.name, "missing": problems})
        return decision
    request = NewComment(_missing_text(ctx, gate), public=ctx.mapping.missing_public)
    comment_id = post_once(
        ctx.first,
        ref.id,
        request,
        unsure=previous == UNSURE + fingerprint,
        mark_unsure=lambda: None,  # the swap above already marked it
    )
    ctx.store.restore_missing_request(ctx.name, ref.id, fingerprint)
    ctx.store.log(
        ref,
        "missing_data_requested",
        {"route": ctx.name, "missing": problems, "comment_id": comment_id},
    )
    status = ctx.mapping.missing_status
    if status and ticket.status != status:
        with blame(ctx.first.settings.name):
            ctx.first.update_ticket(ref.id, TicketChanges(status=status))
        ctx.store.log(ref, "status_set", {"route": ctx.name, "status": status})
    return Decision(
        "missing_data_requested",
        "required data is missing or invalid",
        {"missing": problems, "comment_id": comment_id},
    )


def _description_values(ctx: RouteContext, ticket: Ticket, gate: GateResult) -> dict[str, Any]:
    lang = _second_language(ctx)
    texts = ctx.mapping.texts(lang)
    shown = {
        k: (text(lang, "yes" if v else "no") if isinstance(v, bool) else v)
        for k, v in gate.values.items()
    }
    block = "\n".join(f"{texts.labels.get(k, k)}: {shown[k]}" for k in ctx.mapping.required)
    return {
        **shown,
        "required_block": block,
        "subject": ticket.subject,
        "description": ticket.description,
        "source_url": ctx.first.ticket_url(ticket.ref.id),
        "source_id": ticket.ref.id,
        "source_system": ticket.ref.system,
        "requester_email": ticket.requester_email or "",
        "requester_name": ticket.requester_name or "",
        "priority": ticket.priority or "",
    }


def build_draft(ctx: RouteContext, ticket: Ticket, gate: GateResult) -> TicketDraft:
    """The second-level ticket a complete first-level ticket becomes (also shown by dry-run)."""
    texts = ctx.mapping.texts(_second_language(ctx))
    values = _description_values(ctx, ticket, gate)
    return TicketDraft(
        subject=render(texts.summary, values)[:255],
        description=render(texts.description, values),
        priority=map_priority(ticket.priority, ctx.mapping),
        project=_target_project(ctx.mapping, values),
        category=ctx.mapping.category,
        fields={k: render(v, values) for k, v in ctx.mapping.custom_fields.items()},
        tags=ctx.mapping.tags,
        source_url=values["source_url"],
    )


def _escalate(
    ctx: RouteContext, ref: SystemRef, ticket: Ticket, gate: GateResult, run_id: str
) -> Decision:
    """Create the second-level issue exactly once, then finish the follow-up writes."""
    draft = build_draft(ctx, ticket, gate)
    owner = run_id or "anonymous"
    blocker = ctx.store.claim_escalation(ctx.name, ref.id, owner)
    if blocker is not None:
        if blocker.owner != owner and time.time() - blocker.at <= ctx.claim_timeout:
            raise RetryableError(f"escalation of {ref} is in progress in another job")
        # Our own earlier attempt (or a long-dead one) started creating and never recorded the
        # result: the issue may exist. Look for it before creating another.
        found = _find_created(ctx, ref, draft.source_url or "", blocker)
        if found is not None:
            return _link(ctx, ref, found, "recovered")
        ctx.store.take_over_claim(ctx.name, ref.id, owner)
    try:
        with blame(ctx.second.settings.name):
            created = ctx.second.create_ticket(draft)
    except RetryableError as exc:
        if not exc.maybe_applied:
            ctx.store.release_claim(ctx.name, ref.id)
        # else: keep the claim, so the retry looks for the issue before creating one.
        raise
    except Exception:
        ctx.store.release_claim(ctx.name, ref.id)  # refused: nothing was created
        raise
    return _link(ctx, ref, created, "escalated", draft.priority)


def _target_project(mapping: RouteMapping, values: dict[str, Any]) -> str:
    """`target.project_by` picks by a datum (e.g. customer number), else `target.project`."""
    if mapping.project_by_field:
        chosen = mapping.project_map.get(str(values.get(mapping.project_by_field, "")))
        if chosen:
            return render(chosen, values)
    return render(mapping.project, values)


def _find_created(
    ctx: RouteContext, ref: SystemRef, source_url: str, blocker: Claim
) -> Ticket | None:
    if Capability.FIND_CREATED not in ctx.second.capabilities:
        raise PermanentError(
            f"escalation of {ref} was interrupted after it started creating the issue in "
            f"{ctx.second.settings.name}, which cannot be searched for it; check there for an "
            f"issue linking to {source_url}, link it or delete the claim, then retry"
        )
    finder = cast(FindsCreated, ctx.second)
    since = datetime.fromtimestamp(blocker.at - 300, UTC)  # slack for clock skew
    with blame(ctx.second.settings.name):
        return finder.find_created(source_url, since)


def _link(
    ctx: RouteContext, ref: SystemRef, created: Ticket, how: str, priority: str | None = None
) -> Decision:
    link = LinkRecord(
        route=ctx.name,
        first=ref,
        second=created.ref,
        second_url=created.url or ctx.second.ticket_url(created.ref.id),
        created_at=datetime.now(UTC).isoformat(),
    )
    ctx.store.save_link(link)
    ctx.store.release_claim(ctx.name, ref.id)
    ctx.store.log(
        ref,
        how,
        {
            "route": ctx.name,
            "second": str(created.ref),
            "url": link.second_url,
            "priority": priority,
        },
    )
    ctx.store.log(created.ref, "created_from", {"route": ctx.name, "first": str(ref)})
    decision = _finish_escalation(ctx, ref, link)
    return Decision(how, "required data complete", {**decision.details})


def _finish_escalation(ctx: RouteContext, ref: SystemRef, link: LinkRecord) -> Decision:
    """Write the link into the first-level ticket and post the link note, each once."""
    details: dict[str, Any] = {"second": str(link.second), "url": link.second_url}
    if not link.history_marked:
        start_pair(ctx, link)
        ctx.store.update_link(ctx.name, ref.id, history_marked=True)
    if not link.first_marked:
        value = render(
            ctx.mapping.link_format, {"system": link.second.system, "id": link.second.id}
        )
        field_spec = ctx.mapping.link_field
        # The same write moves the ticket to the status that says "waiting on the vendor"
        # (Zendesk on-hold by default): it no longer waits on the requester or the agent.
        status = ctx.mapping.escalated_status
        changes = (
            TicketChanges(external_id=value, status=status)
            if field_spec == "external_id"
            else TicketChanges(fields={field_spec.removeprefix("field:"): value}, status=status)
        )
        with blame(ctx.first.settings.name):
            ctx.first.update_ticket(ref.id, changes)
        if status:  # the bridge's own move: a baseline for the sync, not a change to copy
            ctx.store.set_pair_state(ctx.name, ref.id, {"first_status": status})
            details["status"] = status
        ctx.store.update_link(ctx.name, ref.id, first_marked=True)
        details["marked"] = value
    if link.note_id is None or link.note_id == UNSURE:
        texts = ctx.mapping.texts(_first_language(ctx))
        note = render(
            texts.link_note,
            {
                "target_system": system_title(ctx.second.settings),
                "target_id": link.second.id,
                "target_url": link.second_url,
            },
        )
        note_id = post_once(
            ctx.first,
            ref.id,
            NewComment(note, public=False),
            unsure=link.note_id == UNSURE,
            mark_unsure=lambda: ctx.store.update_link(ctx.name, ref.id, note_id=UNSURE),
        )
        ctx.store.update_link(ctx.name, ref.id, note_id=note_id)
        details["note_id"] = note_id
    if len(details) == 2:
        return Decision("already_escalated", f"linked to {link.second}", details)
    ctx.store.log(ref, "link_written", {"route": ctx.name, **details})
    return Decision("escalation_completed", f"linked to {link.second}", details)
