"""The planner's vocabulary: typed steps out, typed outcomes back.

A planner (`bridge.plan_*`, `bridge.pair_status`) is a generator: it yields a step, the
executor (`bridge.executor`) applies it and sends back its outcome, or throws in the error the
step raised. Nothing here does I/O, so a plan can be run against real systems, previewed for
`bridge dry-run`, or checked in a unit test with a table of answers (`preview`).

Writes that must happen once carry a `Guard`: the slot their write-ahead mark lives in, and
whether the planner found that mark unfinished (look on the target before writing again).
What a guard means is the executor's business, the same for every slot; docs/planner.md.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from bridge.marks import CommentMark
from bridge.models import (
    Attachment,
    Comment,
    NewComment,
    SystemRef,
    Ticket,
    TicketChanges,
    TicketDraft,
)
from bridge.records import Claim, LinkRecord, ParkedItem
from bridge.texts import Language


class Action(StrEnum):
    LOG = "log"  # a line in a ticket's sync log (the operator's timeline)
    CREATE_TICKET = "create_ticket"
    SAVE_LINK = "save_link"
    RECORD_LINK = "record_link"  # a follow-up write of the escalation is done
    READ_HISTORY = "read_history"
    MARK_HISTORY = "mark_history"
    SET_FIELDS = "set_fields"
    FETCH_FILES = "fetch_files"
    POST_COMMENT = "post_comment"
    NOTE_TO_AGENT = "note_to_agent"
    CLEAR_AGENT_NOTES = "clear_agent_notes"
    MARK_COMMENT = "mark_comment"
    PARK_ITEM = "park_item"
    UNPARK_ITEM = "unpark_item"
    SET_PAIR_STATE = "set_pair_state"
    EXPECT_STATUS = "expect_status"
    VERIFY_STATUS = "verify_status"


class Side(StrEnum):
    FIRST = "first"
    SECOND = "second"


# Where a guarded write keeps its write-ahead mark -------------------------------------------
@dataclass(frozen=True)
class CommentSlot:
    """The comment mark of `key` (a source comment, or `<key>#files` for its files note)."""

    key: str


@dataclass(frozen=True)
class LinkNoteSlot:
    """The link record's note id: the note on the first level that names the vendor issue."""


@dataclass(frozen=True)
class AgentNoteSlot:
    cause: str


@dataclass(frozen=True)
class DataRequestSlot:
    """What the first level was last asked for, by the fingerprint of the gaps."""

    fingerprint: str


@dataclass(frozen=True)
class EscalationSlot:
    """The claim on creating the second-level ticket, by the job (`owner`) that creates it."""

    owner: str


@dataclass(frozen=True)
class StatusSlot:
    """The second-level status the bridge expects while it writes to the issue; `fallback` is
    what is expected again when the write is refused (the status the issue still has)."""

    status: str
    fallback: str = ""


Slot = CommentSlot | LinkNoteSlot | AgentNoteSlot | DataRequestSlot | EscalationSlot | StatusSlot


@dataclass(frozen=True)
class Guard:
    slot: Slot
    unsure: bool = False  # an earlier attempt may have written it: look before writing


# Steps ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Log:
    action: ClassVar[Action] = Action.LOG
    ref: SystemRef
    entry: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    warning: str = ""  # also said in the process's log (a note the agent did not get)


@dataclass(frozen=True)
class CreateTicket:
    """Answered `Created`, or `Blocked` when another attempt holds the claim. Guarded and
    unsure: look for the ticket (created after `look_since`) before creating it."""

    action: ClassVar[Action] = Action.CREATE_TICKET
    draft: TicketDraft
    guard: Guard
    look_since: datetime | None = None


@dataclass(frozen=True)
class SaveLink:
    """Store the link; it is what settles the escalation's claim (`settles`)."""

    action: ClassVar[Action] = Action.SAVE_LINK
    link: LinkRecord
    settles: EscalationSlot


@dataclass(frozen=True)
class RecordLink:
    action: ClassVar[Action] = Action.RECORD_LINK
    changes: Mapping[str, bool]  # first_marked / history_marked


@dataclass(frozen=True)
class ReadHistory:
    """Read both tickets and their comments as they are once linked; answered `HistoryRead`."""

    action: ClassVar[Action] = Action.READ_HISTORY
    link: LinkRecord


@dataclass(frozen=True)
class MarkHistory:
    action: ClassVar[Action] = Action.MARK_HISTORY
    keys: tuple[str, ...]


@dataclass(frozen=True)
class SetFields:
    action: ClassVar[Action] = Action.SET_FIELDS
    side: Side
    ticket_id: str
    changes: TicketChanges
    guard: Guard | None = None


@dataclass(frozen=True)
class FetchFiles:
    """Fetch a comment's files for its copy; answered `Fetched`."""

    action: ClassVar[Action] = Action.FETCH_FILES
    src: Side
    dst: Side
    attachments: tuple[Attachment, ...]
    language: Language


@dataclass(frozen=True)
class PostComment:
    """Answered `Posted`. The files it carries are the executor's temporary files, removed
    after the attempt."""

    action: ClassVar[Action] = Action.POST_COMMENT
    side: Side
    ticket_id: str
    comment: NewComment
    guard: Guard


@dataclass(frozen=True)
class NoteToAgent:
    """An internal note on the first-level ticket; answered `Posted`."""

    action: ClassVar[Action] = Action.NOTE_TO_AGENT
    ticket_id: str
    body: str
    guard: Guard


@dataclass(frozen=True)
class ClearAgentNotes:
    action: ClassVar[Action] = Action.CLEAR_AGENT_NOTES
    causes: tuple[str, ...]


@dataclass(frozen=True)
class MarkComment:
    action: ClassVar[Action] = Action.MARK_COMMENT
    key: str
    mark: CommentMark


@dataclass(frozen=True)
class ParkItem:
    """Answered with the stored `ParkedItem` (its count says whether the cause is new)."""

    action: ClassVar[Action] = Action.PARK_ITEM
    key: str
    reason: str
    while_status: str = ""


@dataclass(frozen=True)
class UnparkItem:
    action: ClassVar[Action] = Action.UNPARK_ITEM
    key: str


@dataclass(frozen=True)
class SetPairState:
    action: ClassVar[Action] = Action.SET_PAIR_STATE
    values: Mapping[str, str]


@dataclass(frozen=True)
class ExpectStatus:
    """The status slot without a status write: the bridge's notes are about to land on the
    issue, which must keep `status`; "" when checked (`VerifyStatus`) and settled."""

    action: ClassVar[Action] = Action.EXPECT_STATUS
    status: str


@dataclass(frozen=True)
class VerifyStatus:
    """Re-read the second-level status after the bridge's notes; answered `StatusRead`."""

    action: ClassVar[Action] = Action.VERIFY_STATUS
    ticket_id: str
    expected: str  # what the issue must have (a preview assumes it has)


Step = (
    Log | CreateTicket | SaveLink | RecordLink | ReadHistory | MarkHistory | SetFields
    | FetchFiles | PostComment | NoteToAgent | ClearAgentNotes | MarkComment | ParkItem
    | UnparkItem | SetPairState | ExpectStatus | VerifyStatus
)  # fmt: skip


# Outcomes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Posted:
    id: str
    # Files the target refused after it took the comment (FilesLeftOut): named in a note.
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class Created:
    ticket: Ticket
    at: datetime  # when the executor had the answer: the link's creation time
    recovered: bool = False  # found on the target after an interrupted attempt


@dataclass(frozen=True)
class Blocked:
    claim: Claim


@dataclass(frozen=True)
class Fetched:
    files: tuple[Attachment, ...]
    notes: tuple[str, ...]  # why the others are not carried, in the readers' language


@dataclass(frozen=True)
class StatusRead:
    status: str
    changed_by: str | None


@dataclass(frozen=True)
class HistoryRead:
    first: Ticket
    second: Ticket
    first_comments: tuple[Comment, ...]
    second_comments: tuple[Comment, ...]


T = TypeVar("T")
A = TypeVar("A")
Plan = Generator[Step, object, T]


def ask(step: Step, answer: type[A]) -> Generator[Step, object, A]:
    """Yield `step` and return its outcome, checked to be what the step is answered with."""
    outcome = yield step
    if not isinstance(outcome, answer):
        raise TypeError(f"{step.action} answered {type(outcome).__name__}, not {answer.__name__}")
    return outcome


class Unanswerable(Exception):
    """A preview met a step whose answer only the real systems know (a read after writes)."""


_PREVIEW_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def assume_done(step: Step) -> object:
    """The answer of a preview: every write goes in, nothing was there before, and a re-read
    status is what the bridge expects."""
    match step:
        case PostComment() | NoteToAgent():
            return Posted("(new)")
        case CreateTicket(draft=draft):
            ref = SystemRef("(target)", "(new)")
            return Created(Ticket(ref=ref, subject=draft.subject, url="(new)"), _PREVIEW_TIME)
        case FetchFiles(attachments=files):
            return Fetched(files, ())
        case ParkItem(key=key, reason=reason):
            return ParkedItem(key, reason, 1, "", "")
        case ReadHistory():
            raise Unanswerable("the comments once linked are read after the link is written")
        case VerifyStatus(expected=expected):
            return StatusRead(expected, None)
    return None


def preview(
    plan: Plan[T], answer: Callable[[Step], object] = assume_done
) -> tuple[list[Step], T | None]:
    """The steps a plan takes when each is answered by `answer` (an exception it returns is
    thrown into the plan), and what the plan returns; None where it stopped at a step it
    cannot be answered for without the real systems (listed last)."""
    steps: list[Step] = []
    try:
        step = next(plan)
        while True:
            steps.append(step)
            try:
                outcome = answer(step)
            except Unanswerable:
                plan.close()
                return steps, None
            step = plan.throw(outcome) if isinstance(outcome, BaseException) else plan.send(outcome)
    except StopIteration as stop:
        return steps, stop.value
