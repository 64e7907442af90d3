"""Escalation decisions, as a plan: the gate, the request for data, the create and the link.

From a snapshot of the first-level ticket the plan asks for what is missing (once per distinct
set of gaps) or creates the second-level ticket exactly once and finishes the follow-up writes
(the link in the ticket, the link note, the history marks), each once, so a job that runs late,
twice or after a crash converges on the same result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.context import Decision
from bridge.errors import PermanentError, RetryableError
from bridge.mapping import RouteMapping
from bridge.marks import Unsure, WriteMark, Written
from bridge.models import Event, NewComment, SystemRef, Ticket, TicketChanges, TicketDraft
from bridge.plan_comments import start_pair
from bridge.protocol import Capability, is_bridge_actor
from bridge.records import LinkRecord
from bridge.rules import GateResult, check_required, is_technical, map_priority, render
from bridge.snapshot import FirstSnapshot, RouteFacts
from bridge.steps import (
    Blocked,
    Created,
    CreateTicket,
    DataRequestSlot,
    EscalationSlot,
    Guard,
    LinkNoteSlot,
    Log,
    Plan,
    PostComment,
    Posted,
    RecordLink,
    SaveLink,
    SetFields,
    SetPairState,
    Side,
    ask,
)
from bridge.texts import Language, side_language, system_title, text

# How far before an interrupted attempt's claim a created ticket is looked for (clock skew).
_LOOK_BACK = 300.0


@dataclass(frozen=True)
class FirstLevel:
    decision: Decision
    linked: bool = False  # escalated (or found escalated): the pair is synced next


@dataclass(frozen=True)
class Finished:
    decision: Decision
    wrote: bool  # a follow-up write was done now (False: the escalation was complete)


def own_event(facts: RouteFacts, ref: SystemRef, event: Event) -> Plan[Decision | None]:
    """An event caused by the bridge's own user on its side is dropped (echo)."""
    source = facts.second if event.ref.system == facts.second.settings.name else facts.first
    if not is_bridge_actor(source.settings, event.actor_id):
        return None
    decision = Decision("ignored_own_write", "the event was caused by the bridge's own user")
    yield Log(ref, decision.action, {"route": facts.name, "reason": decision.reason})
    return decision


def plan_first_level(
    facts: RouteFacts, ref: SystemRef, snap: FirstSnapshot, run_id: str = ""
) -> Plan[FirstLevel]:
    """A first-level ticket not linked yet: not technical, incomplete, or escalated now."""
    ticket = snap.ticket
    verdict = is_technical(ticket, facts.mapping)
    if not verdict.technical:
        yield Log(ref, "not_technical", {"route": facts.name, "reason": verdict.reason})
        return FirstLevel(Decision("not_technical", verdict.reason))
    gate = check_required(ticket, facts.mapping, first_language(facts))
    if not gate.complete:
        return FirstLevel((yield from _request_missing(facts, ref, snap, gate)))
    return FirstLevel((yield from _escalate(facts, ref, snap, gate, run_id)), linked=True)


def _fingerprint(problems: dict[str, str]) -> str:
    said = "\n".join(f"{k}={v}" for k, v in sorted(problems.items()))
    return hashlib.sha256(said.encode()).hexdigest()[:16]


def first_language(facts: RouteFacts) -> Language:
    """The helpdesk team's language: requests for data, link notes."""
    return side_language(facts.first.settings, facts.language)


def _second_language(facts: RouteFacts) -> Language:
    """The vendor team's language: the escalated ticket (a system's own `language` where the
    two teams differ, else the route's)."""
    return side_language(facts.second.settings, facts.language)


def _missing_text(facts: RouteFacts, gate: GateResult) -> str:
    texts = facts.mapping.texts(first_language(facts))
    lines = []
    for name, problem in gate.problems.items():
        label = texts.labels.get(name, name)
        lines.append(f"- {label}" if problem == "missing" else f"- {label}: {problem}")
    return render(texts.missing_data, {"missing": "\n".join(lines)})


def _request_missing(
    facts: RouteFacts, ref: SystemRef, snap: FirstSnapshot, gate: GateResult
) -> Plan[Decision]:
    """Ask the first level once per distinct set of gaps; duplicates change nothing."""
    problems = dict(gate.problems)
    fingerprint = _fingerprint(problems)
    if snap.asked == Written(fingerprint):
        decision = Decision(
            "missing_data_already_requested", "the same data was already asked for", problems
        )
        yield Log(ref, decision.action, {"route": facts.name, "missing": problems})
        return decision
    request = NewComment(_missing_text(facts, gate), public=facts.mapping.missing_public)
    guard = Guard(DataRequestSlot(fingerprint), unsure=snap.asked == Unsure(fingerprint))
    posted = yield from ask(PostComment(Side.FIRST, ref.id, request, guard), Posted)
    yield Log(
        ref,
        "missing_data_requested",
        {"route": facts.name, "missing": problems, "comment_id": posted.id},
    )
    status = facts.mapping.missing_status
    if status and snap.ticket.status != status:
        yield SetFields(Side.FIRST, ref.id, TicketChanges(status=status))
        yield Log(ref, "status_set", {"route": facts.name, "status": status})
    return Decision(
        "missing_data_requested",
        "required data is missing or invalid",
        {"missing": problems, "comment_id": posted.id},
    )


def description_values(facts: RouteFacts, ticket: Ticket, gate: GateResult) -> dict[str, Any]:
    lang = _second_language(facts)
    texts = facts.mapping.texts(lang)
    shown = {
        k: (text(lang, "yes" if v else "no") if isinstance(v, bool) else v)
        for k, v in gate.values.items()
    }
    block = "\n".join(f"{texts.labels.get(k, k)}: {shown[k]}" for k in facts.mapping.required)
    return {
        **shown,
        "required_block": block,
        "subject": ticket.subject,
        "description": ticket.description,
        "source_url": facts.first.ticket_url(ticket.ref.id),
        "source_id": ticket.ref.id,
        "source_system": ticket.ref.system,
        "requester_email": ticket.requester_email or "",
        "requester_name": ticket.requester_name or "",
        "priority": ticket.priority or "",
    }


def build_draft(facts: RouteFacts, ticket: Ticket, gate: GateResult) -> TicketDraft:
    """The second-level ticket a complete first-level ticket becomes."""
    texts = facts.mapping.texts(_second_language(facts))
    values = description_values(facts, ticket, gate)
    return TicketDraft(
        subject=render(texts.summary, values)[:255],
        description=render(texts.description, values),
        priority=map_priority(ticket.priority, facts.mapping),
        project=_target_project(facts.mapping, values),
        category=facts.mapping.category,
        fields={k: render(v, values) for k, v in facts.mapping.custom_fields.items()},
        tags=facts.mapping.tags,
        source_url=values["source_url"],
    )


def _escalate(
    facts: RouteFacts, ref: SystemRef, snap: FirstSnapshot, gate: GateResult, run_id: str
) -> Plan[Decision]:
    """Create the second-level issue exactly once, then finish the follow-up writes."""
    draft = build_draft(facts, snap.ticket, gate)
    claim = EscalationSlot(run_id or "anonymous")
    outcome = yield CreateTicket(draft, Guard(claim))
    if isinstance(outcome, Blocked):
        blocker = outcome.claim
        if blocker.owner != claim.owner and snap.now - blocker.at <= facts.claim_timeout:
            raise RetryableError(f"escalation of {ref} is in progress in another job")
        # Our own earlier attempt (or a long-dead one) started creating and never recorded the
        # result: the issue may exist. Look for it before creating another.
        if Capability.FIND_CREATED not in facts.second.capabilities:
            raise PermanentError(
                f"escalation of {ref} was interrupted after it started creating the issue in "
                f"{facts.second.settings.name}, which cannot be searched for it; check there "
                f"for an issue linking to {draft.source_url or ''}, link it or delete the "
                "claim, then retry"
            )
        since = datetime.fromtimestamp(blocker.at - _LOOK_BACK, UTC)
        outcome = yield CreateTicket(draft, Guard(claim, unsure=True), since)
    if not isinstance(outcome, Created):
        raise TypeError(f"create_ticket answered {type(outcome).__name__}")
    if outcome.recovered:
        return (yield from _link(facts, ref, outcome, claim, "recovered"))
    return (yield from _link(facts, ref, outcome, claim, "escalated", draft.priority))


def _target_project(mapping: RouteMapping, values: dict[str, Any]) -> str:
    """`target.project_by` picks by a datum (e.g. customer number), else `target.project`."""
    if mapping.project_by_field:
        chosen = mapping.project_map.get(str(values.get(mapping.project_by_field, "")))
        if chosen:
            return render(chosen, values)
    return render(mapping.project, values)


def _link(
    facts: RouteFacts,
    ref: SystemRef,
    created: Created,
    claim: EscalationSlot,
    how: str,
    priority: str | None = None,
) -> Plan[Decision]:
    ticket = created.ticket
    link = LinkRecord(
        route=facts.name,
        first=ref,
        second=ticket.ref,
        second_url=ticket.url or facts.second.ticket_url(ticket.ref.id),
        created_at=created.at.isoformat(),
    )
    yield SaveLink(link, settles=claim)
    yield Log(
        ref,
        how,
        {"route": facts.name, "second": str(ticket.ref), "url": link.second_url,
         "priority": priority},
    )  # fmt: skip
    yield Log(ticket.ref, "created_from", {"route": facts.name, "first": str(ref)})
    finished = yield from finish_escalation(facts, link, note=None)
    return Decision(how, "required data complete", {**finished.decision.details})


def finish_escalation(
    facts: RouteFacts, link: LinkRecord, note: WriteMark | None
) -> Plan[Finished]:
    """Write the link into the first-level ticket and post the link note, each once.

    `note` is the link note's mark as stored (None: not written yet)."""
    ref = link.first
    details: dict[str, Any] = {"second": str(link.second), "url": link.second_url}
    wrote = False
    if not link.history_marked:
        yield from start_pair(facts, link)
        yield RecordLink({"history_marked": True})
    if not link.first_marked:
        value = render(
            facts.mapping.link_format, {"system": link.second.system, "id": link.second.id}
        )
        field_spec = facts.mapping.link_field
        # The same write moves the ticket to the status that says "waiting on the vendor"
        # (Zendesk on-hold by default): it no longer waits on the requester or the agent.
        status = facts.mapping.escalated_status
        changes = (
            TicketChanges(external_id=value, status=status)
            if field_spec == "external_id"
            else TicketChanges(fields={field_spec.removeprefix("field:"): value}, status=status)
        )
        yield SetFields(Side.FIRST, ref.id, changes)
        if status:  # the bridge's own move: a baseline for the sync, not a change to copy
            yield SetPairState({"first_status": status})
            details["status"] = status
        yield RecordLink({"first_marked": True})
        details["marked"] = value
        wrote = True
    if not isinstance(note, Written):
        texts = facts.mapping.texts(first_language(facts))
        body = render(
            texts.link_note,
            {
                "target_system": system_title(facts.second.settings),
                "target_id": link.second.id,
                "target_url": link.second_url,
            },
        )
        guard = Guard(LinkNoteSlot(), unsure=note is not None)
        comment = NewComment(body, public=False)
        posted = yield from ask(PostComment(Side.FIRST, ref.id, comment, guard), Posted)
        details["note_id"] = posted.id
        wrote = True
    if not wrote:
        return Finished(Decision("already_escalated", f"linked to {link.second}", details), False)
    yield Log(ref, "link_written", {"route": facts.name, **details})
    return Finished(Decision("escalation_completed", f"linked to {link.second}", details), True)
