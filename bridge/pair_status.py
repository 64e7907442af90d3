"""Status and priority of a linked pair: decided by the bridge, written explicitly.

A real MantisBT with `reassign_on_feedback` (on by default) sets an issue in `feedback` back to
`new`/`assigned` whenever its reporter adds a note, and the bridge is the reporter of every
issue it escalates. Left to that side effect, any copied note (an agent's internal remark, too)
would reopen the vendor issue and, mirrored back, the helpdesk ticket. So the bridge decides:

- the requester's reply on the first level while the vendor is not working on the issue
  (waiting for feedback, resolved, closed) reopens it to the status the mapping gives the first
  level's `open`, *before* the reply is posted (a resolved issue is read-only below MANAGER);
- a status change planned from the first level that takes the issue out of waiting is likewise
  written before the comments;
- anything else leaves the status as it was, and a status the tracker changed on its own after
  the bridge's notes is set back (the one decision made on a re-read: `VerifyStatus`);
- the pair state records the status the bridge left, so neither its own writes nor their side
  effects are ever mirrored to the other side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.errors import PermanentError, ReadOnlyTicket
from bridge.mapping import SyncRules
from bridge.mapping_checks import SIDES
from bridge.marks import EXPECT
from bridge.models import Comment, Ticket, TicketChanges
from bridge.protocol import is_bridge_actor
from bridge.records import LinkRecord, ParkedItem
from bridge.snapshot import RouteFacts
from bridge.steps import (
    ExpectStatus,
    Guard,
    Log,
    ParkItem,
    Plan,
    SetFields,
    SetPairState,
    Side,
    StatusRead,
    StatusSlot,
    UnparkItem,
    VerifyStatus,
    ask,
)

# The first-level status a reply stands for: Zendesk and Zammad both reopen a waiting or solved
# ticket to `open` when the customer answers, and the mapping says what `open` means upstream.
REPLY_STATUS = "open"
# First-level statuses of a finished ticket (Zendesk's solved and closed, Zammad's closed).
FINISHED = frozenset({"solved", "closed"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Prefix of the parked-item key of a refused status write ("#status:<system>"); `#` is in no
# system name, so it never reads as a comment key ("<system>:<id>").
STATUS_ITEM = "#status:"


def waits(rules: SyncRules, second_type: str, status: str) -> bool:
    """Whether the vendor is not working on the issue: it waits for an answer (the tracker
    type's own waiting statuses, MantisBT `feedback`), or the mapping mirrors the status to the
    first level as finished (resolved, closed)."""
    side = SIDES.get(second_type)
    if side is not None and status.lower() in side.waiting_on_requester:
        return True
    return rules.status_to_first.get(status.lower(), "").lower() in FINISHED


def seen(first: Ticket, second: Ticket) -> dict[str, str]:
    return {
        "first_status": first.status or "",
        "second_status": second.status or "",
        "first_priority": first.priority or "",
        "second_priority": second.priority or "",
    }


def _moved_at(ticket: Ticket, attr: str) -> datetime:
    """When `attr` last changed, as well as the system tells: a status's own time where known
    (a note added later moves `updated_at`, not the status), else the ticket's last update."""
    own = ticket.status_changed_at if attr == "status" else None
    return own or ticket.updated_at or _EPOCH


@dataclass
class FieldPlan:
    """What the sync will write: side -> attribute -> value, and state that needs no write."""

    values: dict[str, str]  # as read at the start of the sync
    writes: dict[str, dict[str, str]] = field(default_factory=lambda: {"first": {}, "second": {}})
    settled: dict[str, str] = field(default_factory=dict)
    baseline: bool = False  # no state yet: record what is there, write nothing
    expected: str = ""  # EXPECT left by an interrupted sync
    dropped_expect: bool = False  # one was left, but the vendor has set the status since
    # When the vendor changed the status since the last sync: a reply older than that change
    # does not answer it (the vendor asked after it was written), so it reopens nothing.
    second_moved_at: datetime | None = None


def plan_fields(
    rules: SyncRules,
    state: Mapping[str, str],
    first: Ticket,
    second: Ticket,
    second_set_by_other: bool = False,
) -> FieldPlan:
    """Copy status and priority to the side that did not change them since the last sync (the
    newer change wins when both did). The writes are planned by `SecondStatus`/`apply_fields`.

    `second_set_by_other`: the tracker says someone other than the bridge set the status it has
    now (None-safe: False where it does not tell)."""
    plan = FieldPlan(seen(first, second))
    if not state:
        plan.baseline = True
        return plan
    # A second-level status left behind by an interrupted sync is the bridge's, not the vendor's:
    # unless the vendor has set the status since. Then it is the vendor's change, to mirror now;
    # recorded as seen, it would wait for another change (the poll that found it is done).
    expected = state.get(EXPECT) or ""
    if expected and second_set_by_other and expected != plan.values["second_status"]:
        plan.dropped_expect, expected = True, ""
    plan.expected = expected
    for attr, to_second, to_first in (
        ("status", rules.status_to_second, rules.status_to_first),
        ("priority", rules.priority_to_second, rules.priority_to_first),
    ):
        f_now, s_now = plan.values[f"first_{attr}"], plan.values[f"second_{attr}"]
        s_base = expected if attr == "status" and expected else s_now
        f_moved = f_now != state.get(f"first_{attr}", f_now)
        s_moved = s_base != state.get(f"second_{attr}", s_base)
        if f_moved and s_moved:
            f_moved = _moved_at(first, attr) > _moved_at(second, attr)  # unknown times lose
            s_moved = not f_moved
        if s_moved and attr == "status":
            # The status change's own time where the tracker tells: a vendor note after the
            # customer's reply must not make the reply look older than the question.
            plan.second_moved_at = _moved_at(second, attr)
        if s_moved:
            wanted = to_first.get(s_now.lower())
            if wanted and wanted != f_now:
                plan.writes["first"][attr] = wanted
                continue
        elif f_moved:
            wanted = to_second.get(f_now.lower())
            if wanted and wanted != s_base:
                plan.writes["second"][attr] = wanted
                continue
        plan.settled[f"first_{attr}"], plan.settled[f"second_{attr}"] = f_now, s_base
    return plan


class SecondStatus:
    """The second-level status while one sync writes to the issue: reopens for a reply before
    posting it, sets back what the tracker changed on its own, remembers refusals.

    Its methods are plans: they yield the writes, and what happened to them (a refusal, the
    status re-read after the notes) decides what comes next."""

    def __init__(
        self, facts: RouteFacts, link: LinkRecord, plan: FieldPlan, customer: str | None
    ) -> None:
        self.facts, self.link, self.plan = facts, link, plan
        # The first-level requester: only their comments answer the vendor. An agent relaying
        # the vendor's question to the customer in public must not reopen the issue; where the
        # helpdesk does not say who the requester is, only its status change reopens.
        self.customer = customer
        state_expect = plan.expected
        self.read = plan.values["second_status"]
        self.current = state_expect or self.read  # what the issue must have right now
        self.check_due = bool(state_expect) and state_expect != self.read
        self.reopened = False  # by this sync, for a reply
        self.refused: dict[str, PermanentError] = {}  # status -> the refusal, in this sync
        self.noted = False  # the write-ahead EXPECT is stored

    def _waits(self, status: str) -> bool:
        return waits(self.facts.mapping.sync, self.facts.second.settings.type, status)

    def _target(self, comment: Comment) -> str | None:
        if not self._waits(self.current):
            return None
        planned = self.plan.writes["second"].get("status")
        if planned:  # the first level moved: its status wins; a closing one is written after
            return None if self._waits(planned) else planned
        moved_at = self.plan.second_moved_at
        if moved_at is not None and (comment.created_at or _EPOCH) <= moved_at:
            return None  # written before the vendor's latest change: not an answer to it
        if comment.public and self.customer is not None and comment.author_id == self.customer:
            return self.facts.mapping.sync.status_to_second.get(REPLY_STATUS)
        return None

    def before_copy(self, comment: Comment) -> Plan[None]:
        """Planned right before a first-level comment is posted to the second level. A refusal
        raises, so the comment parks with the tracker's reason (read-only issue, for one)."""
        target = self._target(comment)
        if target and target != self.current:
            if target in self.refused:
                raise self.refused[target]
            planned = target == self.plan.writes["second"].get("status")
            yield from self._write(
                target, "planned, before the comments" if planned else "the customer replied"
            )
            self.reopened = self.reopened or not planned
        elif not self.noted:
            self.noted = True
            yield ExpectStatus(self.current)
        self.check_due = True

    def _write(self, status: str, why: str) -> Plan[None]:
        # Write-ahead (the status slot): a worker killed after the PATCH must not mirror it; a
        # refusal puts back the status the issue still has.
        guard = Guard(StatusSlot(status, fallback=self.current))
        self.noted = True
        try:
            yield SetFields(Side.SECOND, self.link.second.id, TicketChanges(status=status), guard)
        except PermanentError as exc:
            if exc.status != 401:
                self.refused[status] = exc
            raise
        self.current = status
        yield Log(
            self.link.first,
            "status_set",
            {"route": self.facts.name, "second_status": status, "why": why},
        )

    def after_copies(self) -> Plan[None]:
        """After the bridge's notes: set back a status the tracker changed on its own.

        The status is re-read only when the bridge wrote to the issue. A vendor who changed it
        in the seconds between the bridge's note and this read is overwritten; the tracker's own
        flip cannot be told apart from that by the REST API.
        """
        if not self.check_due:
            # Left by an interrupted sync: the issue has it, or the vendor has moved on.
            if self.plan.expected or self.plan.dropped_expect:
                yield ExpectStatus("")
            return
        planned = self.plan.writes["second"].get("status")
        issue = yield from ask(VerifyStatus(self.link.second.id, self.current), StatusRead)
        now = issue.status
        # The tracker's side effect is the note author's change, the bridge's; a status someone
        # else set meanwhile (the vendor resolving while the notes landed) is theirs and stays,
        # to be mirrored by the next sync. Unknown who: set back, as before.
        by = issue.changed_by
        flipped = by is None or is_bridge_actor(self.facts.second.settings, by)
        # A planned write still to come sets the status explicitly anyway.
        later = planned and planned not in self.refused and planned != self.current
        if now != self.current and not later and flipped:
            yield from self._write(self.current, f"set back: the tracker changed it to {now}")
            yield Log(
                self.link.first,
                "status_restored",
                {"route": self.facts.name, "tracker_set": now, "restored": self.current},
            )
        yield ExpectStatus("")


def apply_fields(
    facts: RouteFacts, link: LinkRecord, plan: FieldPlan, keeper: SecondStatus
) -> Plan[dict[str, str]]:
    """Write what the plan says, against what the issue has after this sync's own writes. A
    state is saved only after its write, so a failed write is redone by the retry."""
    state_update = dict(plan.settled)
    if plan.baseline:
        state_update = {**plan.values, "second_status": keeper.current}
    elif "second_status" in state_update or keeper.reopened:
        state_update["second_status"] = keeper.current
        if keeper.reopened:
            state_update["first_status"] = plan.values["first_status"]
    if state_update:
        yield SetPairState(state_update)
    if plan.baseline:
        return {}
    changed: dict[str, str] = {}
    for side, ticket_id in ((Side.FIRST, link.first.id), (Side.SECOND, link.second.id)):
        wanted = dict(plan.writes[side])
        if side is Side.FIRST and keeper.reopened:
            # The customer's reply answered the vendor's question: nothing to mirror, but the
            # helpdesk must show the reply's status too (see `_after_reply`).
            wanted.pop("status", None)
            wanted.update(_after_reply(facts.mapping.sync, plan, keeper))
        done: dict[str, str] = {}
        if side is Side.SECOND:
            wanted, done = yield from _second_writes(facts, link, plan, keeper, wanted)
        if wanted:
            changes = TicketChanges(status=wanted.get("status"), priority=wanted.get("priority"))
            try:
                yield SetFields(side, ticket_id, changes)
            except ReadOnlyTicket as exc:
                if side is Side.FIRST:
                    raise
                # Kept unsettled: tried again at the pair's next sync, until the vendor moves
                # the issue (their change wins) or the bridge user gets the rights.
                yield from _park_status(facts, link, exc)
                wanted = {}
            else:
                if side is Side.SECOND:
                    yield UnparkItem(status_item(facts))
        other = "second" if side is Side.FIRST else "first"
        for attr, value in wanted.items():
            done[f"{side}_{attr}"] = value
            done[f"{other}_{attr}"] = (
                keeper.current
                if (other, attr) == ("second", "status")
                else plan.values[f"{other}_{attr}"]
            )
            changed[f"{side}_{attr}"] = value
        if side is Side.SECOND and "status" in wanted:
            keeper.current = wanted["status"]
        if done:
            yield SetPairState(done)
    return changed


def agree(rules: SyncRules, first_status: str, second_status: str) -> bool:
    """Whether the mapping puts the two statuses together, in either direction."""
    first_status, second_status = first_status.lower(), second_status.lower()
    return (
        rules.status_to_second.get(first_status, "").lower() == second_status
        or rules.status_to_first.get(second_status, "").lower() == first_status
    )


def _after_reply(rules: SyncRules, plan: FieldPlan, keeper: SecondStatus) -> dict[str, str]:
    """The first-level status after a reply reopened the vendor issue.

    Zendesk and Zammad reopen a ticket themselves when the requester answers, so the helpdesk
    normally shows `open` already. It does not when the bridge's own write of a waiting or
    finished status (mirroring the vendor's question or resolve) landed after the reply: the
    sync read the ticket, the customer answered, then the stale write arrived. Left alone, the
    pair would stay `solved` on the helpdesk against a working vendor issue for good.
    """
    now = plan.values["first_status"]
    if agree(rules, now, keeper.current) or not now:
        return {}
    return {"status": REPLY_STATUS}


def status_item(facts: RouteFacts) -> str:
    """The parked-item key of a status write the second level refused."""
    return f"{STATUS_ITEM}{facts.second.settings.name}"


def _second_writes(
    facts: RouteFacts,
    link: LinkRecord,
    plan: FieldPlan,
    keeper: SecondStatus,
    wanted: dict[str, str],
) -> Plan[tuple[dict[str, str], dict[str, str]]]:
    """What is still to write to the second level, and state already settled by the comments'
    writes (a reopen written before them, or refused there)."""
    done: dict[str, str] = {}
    status = wanted.get("status")
    if status is None:
        # Nothing to write (or the vendor's own change won): a refusal of before is moot.
        yield UnparkItem(status_item(facts))
    elif status == keeper.current:
        wanted.pop("status")
        yield UnparkItem(status_item(facts))
        done = {"second_status": keeper.current, "first_status": plan.values["first_status"]}
    elif status in keeper.refused:
        wanted.pop("status")  # refused already in this sync; the comment that needed it parked
        yield from _park_status(facts, link, keeper.refused[status])
    return wanted, done


def _park_status(facts: RouteFacts, link: LinkRecord, exc: PermanentError) -> Plan[None]:
    key = status_item(facts)
    item = yield from ask(ParkItem(key, str(exc)), ParkedItem)
    if item.count == 1:
        yield Log(
            link.first,
            "not_copied",
            {"route": facts.name, "from": key, "to": facts.second.settings.name,
             "reason": f"status not set: {exc}"},
        )  # fmt: skip
