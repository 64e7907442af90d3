"""Applies a plan's steps to the ticket systems and the store, with one write-ahead scheme.

A plan (a generator, `bridge.steps`) yields a step; the executor applies it and sends back the
outcome, or throws the step's error into the plan, which decides what it means (a refused
comment parks, a refused status is remembered, anything else ends the job as before). The
executor decides nothing; it only knows how each step is done and how a guarded write keeps
its slot (`WriteAhead`). It is the store's edge for writes: marks are formatted here.
"""

from __future__ import annotations

import contextlib
import logging
import os
from functools import partial
from typing import TypeVar, assert_never, cast

from bridge.attachments import carry_attachments
from bridge.context import RouteContext
from bridge.errors import FilesLeftOut, PermanentError, RetryableError
from bridge.marks import (
    EXPECT,
    Copied,
    Echo,
    History,
    Unsure,
    Written,
    format_comment_mark,
    format_write_mark,
    item_key,
)
from bridge.models import NewComment, TicketChanges
from bridge.protocol import Connector, FindsCreated
from bridge.reader import read_history
from bridge.records import Claim
from bridge.retry import blame
from bridge.steps import (
    AgentNoteSlot,
    Blocked,
    ClearAgentNotes,
    CommentSlot,
    Created,
    CreateTicket,
    DataRequestSlot,
    EscalationSlot,
    ExpectStatus,
    Fetched,
    FetchFiles,
    Guard,
    LinkNoteSlot,
    Log,
    MarkComment,
    MarkHistory,
    NoteToAgent,
    ParkItem,
    Plan,
    PostComment,
    Posted,
    ReadHistory,
    RecordLink,
    SaveLink,
    SetFields,
    SetPairState,
    Side,
    Slot,
    StatusRead,
    StatusSlot,
    Step,
    UnparkItem,
    VerifyStatus,
)
from bridge.writes import post_once

log = logging.getLogger("bridge")
T = TypeVar("T")


class WriteAhead:
    """The one write-ahead scheme: never repeat a remote write that may have happened.

    Before a guarded write its slot is marked (`begin`: unsure, the claim, the expected
    status); after it, the slot records what was written (`settle`). A plan that finds a slot
    unsure says so in the guard, and the write looks on the target first. When a write fails,
    `withdraw` clears the mark only where keeping it would be wrong; elsewhere an unsure mark
    only costs one look before the next attempt.
    """

    def __init__(self, ctx: RouteContext, first_id: str) -> None:
        self.stores, self.pair = ctx.stores, ctx.pair(first_id)

    def begin(self, slot: Slot) -> Claim | None:
        """Mark the slot; for the escalation, the claim that blocks it, if another holds it."""
        stores, pair = self.stores, self.pair
        match slot:
            case CommentSlot(key):
                stores.marks.mark_comment(pair, key, format_comment_mark(Unsure()))
            case LinkNoteSlot():
                stores.links.update_link(pair, note_id=format_write_mark(Unsure()))
            case AgentNoteSlot(cause):
                stores.notes.set_agent_note(pair, cause, format_write_mark(Unsure()))
            case DataRequestSlot(fingerprint):
                mark = format_write_mark(Unsure(fingerprint))
                stores.waiting.set_missing_request(pair, mark)
            case EscalationSlot(owner):
                # Taken atomically and never expiring: a worker that died mid-create leaves it
                # visible, so no second issue is created while the first may exist.
                return stores.claims.claim_escalation(pair, owner)
            case StatusSlot(status):
                # A worker killed after the write must not mirror the bridge's own status.
                stores.state.set_pair_state(pair, {EXPECT: status})
            case _:
                assert_never(slot)
        return None

    def take_over(self, slot: EscalationSlot) -> None:
        """An unsure escalation found nothing on the target: this attempt holds the claim now."""
        self.stores.claims.take_over_claim(self.pair, slot.owner)

    def settle(self, slot: Slot, written: str = "", system: str = "") -> None:
        """Record what was written (`written`: the new comment's id on `system`)."""
        stores, pair = self.stores, self.pair
        match slot:
            case CommentSlot(key):
                copy = Copied(item_key(system, written))
                # The copy is marked too, first: a read from a cursor sees only the marks of
                # what it reads, so the copy's own mark keeps it from crossing back.
                stores.marks.mark_comment(pair, copy.key, format_comment_mark(Echo(key)))
                stores.marks.mark_comment(pair, key, format_comment_mark(copy))
            case LinkNoteSlot():
                stores.links.update_link(pair, note_id=format_write_mark(Written(written)))
            case AgentNoteSlot(cause):
                stores.notes.set_agent_note(pair, cause, format_write_mark(Written(written)))
            case DataRequestSlot(fingerprint):
                mark = format_write_mark(Written(fingerprint))
                stores.waiting.set_missing_request(pair, mark)
            case EscalationSlot():
                stores.claims.release_claim(pair)  # the link records it now
            case StatusSlot():
                stores.state.set_pair_state(pair, {EXPECT: ""})  # checked after the notes
            case _:
                assert_never(slot)

    def withdraw(self, slot: Slot, exc: Exception) -> None:
        match slot:
            case EscalationSlot() if not (isinstance(exc, RetryableError) and exc.maybe_applied):
                # Surely nothing was created: a kept claim would park the retry or block the
                # ticket for the claim's timeout.
                self.stores.claims.release_claim(self.pair)
            case StatusSlot(fallback=fallback) if isinstance(exc, PermanentError):
                # Refused: the issue keeps its status, which the next sync must not take for
                # the bridge's own change.
                self.stores.state.set_pair_state(self.pair, {EXPECT: fallback})


class Executor:
    """Runs plans for one pair (the route, and the first-level ticket that names the pair)."""

    def __init__(self, ctx: RouteContext, first_id: str) -> None:
        self.ctx, self.pair = ctx, ctx.pair(first_id)
        self.ahead = WriteAhead(ctx, first_id)

    def __call__(self, plan: Plan[T]) -> T:
        try:
            step = next(plan)
            while True:
                failure: Exception | None = None
                try:
                    outcome = self.apply(step)
                except Exception as exc:  # the plan decides what it means
                    failure, outcome = exc, exc
                step = plan.send(outcome) if failure is None else plan.throw(failure)
        except StopIteration as stop:
            return cast(T, stop.value)

    def _side(self, side: Side) -> Connector:
        return self.ctx.first if side is Side.FIRST else self.ctx.second

    def apply(self, step: Step) -> object:
        stores, pair = self.ctx.stores, self.pair
        match step:
            case Log(ref=ref, entry=entry, detail=detail, warning=warning):
                if warning:
                    log.warning("%s", warning)
                stores.log.add(ref, entry, detail)
            case CreateTicket():
                return self._create(step)
            case SaveLink(link=link, settles=slot):
                stores.links.save_link(link)
                self.ahead.settle(slot)
            case RecordLink(changes=changes):
                stores.links.update_link(pair, **changes)
            case ReadHistory(link=link):
                return read_history(self.ctx, link)
            case MarkHistory(keys=keys):
                for key in keys:
                    stores.marks.mark_comment(pair, key, format_comment_mark(History()))
            case SetFields(side=side, ticket_id=ticket_id, changes=changes, guard=guard):
                self._set_fields(side, ticket_id, changes, guard)
            case FetchFiles(src=src, dst=dst, attachments=attachments, language=language):
                source = self._side(src)
                with blame(source.settings.name):
                    files, notes = carry_attachments(source, self._side(dst), attachments, language)
                return Fetched(files, tuple(notes))
            case PostComment(side=side, ticket_id=ticket_id, comment=comment, guard=guard):
                return self._post(side, ticket_id, comment, guard)
            case NoteToAgent(ticket_id=ticket_id, body=body, guard=guard):
                return self._post(Side.FIRST, ticket_id, NewComment(body, public=False), guard)
            case ClearAgentNotes(causes=causes):
                stores.notes.clear_agent_notes(pair, causes)
            case MarkComment(key=key, mark=mark):
                stores.marks.mark_comment(pair, key, format_comment_mark(mark))
            case ParkItem(key=key, reason=reason, while_status=while_status):
                at = self.ctx.clock()
                return stores.marks.park_item(pair, key, reason, at, while_status=while_status)
            case UnparkItem(key=key):
                stores.marks.unpark_item(pair, key)
            case SetPairState(values=values):
                stores.state.set_pair_state(pair, values)
            case ExpectStatus(status=status):
                if status:
                    self.ahead.begin(StatusSlot(status))
                else:
                    self.ahead.settle(StatusSlot(""))
            case VerifyStatus(ticket_id=ticket_id):
                with blame(self.ctx.second.settings.name):
                    issue = self.ctx.second.get_ticket(ticket_id)
                return StatusRead(issue.status or "", issue.status_changed_by)
            case _:
                assert_never(step)
        return None

    def _post(self, side: Side, ticket_id: str, comment: NewComment, guard: Guard) -> Posted:
        connector = self._side(side)
        left_out: tuple[str, ...] = ()
        try:
            written = post_once(
                connector,
                ticket_id,
                comment,
                unsure=guard.unsure,
                mark_unsure=partial(self.ahead.begin, guard.slot),
            )
        except FilesLeftOut as exc:  # written: the target refused files after the comment
            written, left_out = exc.written_id, exc.files
        except Exception as exc:
            self.ahead.withdraw(guard.slot, exc)
            raise
        finally:
            for carried in comment.attachments:  # the executor's temporary files
                _remove(carried.path)
        self.ahead.settle(guard.slot, written, connector.settings.name)
        return Posted(written, left_out)

    def _set_fields(
        self, side: Side, ticket_id: str, changes: TicketChanges, guard: Guard | None
    ) -> None:
        connector = self._side(side)
        if guard is not None:
            self.ahead.begin(guard.slot)
        try:
            with blame(connector.settings.name):
                connector.update_ticket(ticket_id, changes)
        except Exception as exc:
            if guard is not None:
                self.ahead.withdraw(guard.slot, exc)
            raise

    def _create(self, step: CreateTicket) -> Created | Blocked:
        slot = step.guard.slot
        if not isinstance(slot, EscalationSlot):
            raise TypeError(f"a create is guarded by the escalation claim, not {slot}")
        second = self.ctx.second
        if step.guard.unsure:
            if step.look_since is None:
                raise TypeError("an unsure create needs the time to look back to")
            finder = cast(FindsCreated, second)
            with blame(second.settings.name):
                found = finder.find_created(step.draft.source_url or "", step.look_since)
            if found is not None:
                return Created(found, self.ctx.clock(), recovered=True)
            self.ahead.take_over(slot)
        else:
            blocker = self.ahead.begin(slot)
            if blocker is not None:
                return Blocked(blocker)
        try:
            with blame(second.settings.name):
                created = second.create_ticket(step.draft)
        except Exception as exc:
            self.ahead.withdraw(slot, exc)
            raise
        return Created(created, self.ctx.clock())


def _remove(path: str | None) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
