"""Which comments of a linked pair cross, and how: the comment half of a sync, as a plan.

Echo is impossible by construction: comments written by the bridge are skipped, and every
copy is recorded in the comment marks (typed, `bridge.marks`) by the write-ahead scheme, so a
repeated sync finds it copied. A comment the target refuses for good parks alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.errors import PermanentError, ReadOnlyTicket
from bridge.mapping import Visibility
from bridge.marks import CommentMark, Copied, Parked, Skipped, Unsure, item_key
from bridge.models import Comment, NewComment, Ticket
from bridge.pair_status import seen
from bridge.protocol import is_bridge_actor
from bridge.records import LinkRecord, ParkedItem
from bridge.rules import check_required, render
from bridge.snapshot import Described, RouteFacts
from bridge.steps import (
    CommentSlot,
    Fetched,
    FetchFiles,
    Guard,
    HistoryRead,
    Log,
    MarkComment,
    MarkHistory,
    ParkItem,
    Plan,
    PostComment,
    Posted,
    ReadHistory,
    SetPairState,
    Side,
    UnparkItem,
    ask,
)
from bridge.texts import side_language, system_title, text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Direction:
    """One way of the pair: from `src` to `dst`."""

    name: str
    src: Described
    src_id: str
    dst: Described
    dst_id: str
    flow: dict[Visibility, Visibility]
    # Only towards the first level, where the end customer reads public comments: whether the
    # ticket says the customer may be contacted (None: not known, which counts as no).
    may_contact_customer: bool | None = None

    @property
    def src_side(self) -> Side:
        return Side.FIRST if self.name == "to_second" else Side.SECOND

    @property
    def dst_side(self) -> Side:
        return Side.SECOND if self.name == "to_second" else Side.FIRST


def directions(facts: RouteFacts, link: LinkRecord) -> tuple[Direction, Direction]:
    rules = facts.mapping.sync
    return (
        Direction("to_second", facts.first, link.first.id, facts.second, link.second.id,
                  dict(rules.comments_to_second)),
        Direction("to_first", facts.second, link.second.id, facts.first, link.first.id,
                  dict(rules.comments_to_first)),
    )  # fmt: skip


def comment_key(side: Described, comment_id: str) -> str:
    return item_key(side.settings.name, comment_id)


def start_pair(facts: RouteFacts, link: LinkRecord) -> Plan[None]:
    """At link time: what is on either ticket now is history, not something to copy, and the
    current status and priority are the baseline later changes are measured against.

    Except the conversation since the bridge asked for missing data: what the customer wrote
    and attached in answer is what the vendor needs, so those comments stay unmarked and the
    first sync copies them like any later comment (`conversation_since_request`).
    """
    read = yield from ask(ReadHistory(link), HistoryRead)
    to_second, to_first = directions(facts, link)
    goes_along = conversation_since_request(facts.first, read.first_comments)
    keys = [comment_key(to_second.src, c.id) for c in read.first_comments
            if c.id not in goes_along]  # fmt: skip
    keys += [comment_key(to_first.src, c.id) for c in read.second_comments]
    yield MarkHistory(tuple(keys))
    yield SetPairState(seen(read.first, read.second))


def conversation_since_request(first: Described, comments: tuple[Comment, ...]) -> set[str]:
    """Ids of the first-level comments that go along at escalation: every public comment after
    the ticket's first one and after the bridge's first request for data, not the bridge's own.

    Copied as notes, not folded into the description: each keeps its author, its order and its
    files (which a create could not carry reliably: MantisBT creates the issue and then
    refuses an oversized file), each is exactly-once through its comment mark with the write-ahead
    scheme, and one the tracker refuses parks alone instead of failing the escalation. Internal
    notes of that time stay on the helpdesk: they were the agents' talk, not the customer's.
    A ticket escalated without a request has no such conversation: its comments are history.
    """
    asked = False
    going: set[str] = set()
    # The first comment opens the ticket (its description), even when the bridge user wrote it.
    for comment in sorted(comments, key=_order)[1:]:
        if is_bridge_actor(first.settings, comment.author_id):
            asked = True
        elif asked and comment.public:
            going.add(comment.id)
    return going


def _order(comment: Comment) -> tuple[datetime, int, str]:
    numeric = int(comment.id) if comment.id.isdigit() else 0
    return (comment.created_at or _EPOCH, numeric, comment.id)


def sync_comments(
    facts: RouteFacts,
    link: LinkRecord,
    d: Direction,
    comments: tuple[Comment, ...],
    marks: MutableMapping[str, CommentMark],
    parked: Mapping[str, ParkedItem],
    refused: list[str],
    before_copy: Callable[[Comment], Plan[None]] | None = None,
    target_status: str = "",
) -> Plan[list[str]]:
    """Copy the comments still pending, in source order; `refused` collects newly parked ones.

    A comment the target refuses for good (403, 422, ...) is parked alone: it is kept in the
    marks with its reason, the rest of the pair goes on, and it is tried again only when its
    source changes or an operator resyncs the pair (`release_parked`).
    """
    own_copies = {m.key for m in marks.values() if isinstance(m, Copied)}  # the bridge's writes
    copied: list[str] = []
    for comment in sorted(comments, key=_order):
        key = comment_key(d.src, comment.id)
        mark = marks.get(key)
        fingerprint = _fingerprint(comment)
        if mark == Parked(fingerprint) and key in parked:
            continue  # refused before and unchanged since: waits for the operator
            # Without its item, the job that parked it died in between (a hung Redis runs it
            # into its timeout): no resync would release it and no one was told. Tried again,
            # as unsure, so the refusal is recorded this time.
        # A parked comment whose source changed may have been half written (MantisBT creates
        # a note, then refuses its file): look for it before posting again, as for Unsure.
        unsure = isinstance(mark, Unsure | Parked)
        if mark is not None and not unsure:
            continue
        if is_bridge_actor(d.src.settings, comment.author_id) or key in own_copies:
            continue  # the bridge's own write (echo)
        visibility = route_visibility(d, comment)
        if visibility is Visibility.SKIP:
            yield MarkComment(key, Skipped())
            continue
        try:
            if before_copy is not None:  # may reopen the target first, or refuse for it
                yield from before_copy(comment)
            copy_key, new, files, notes = yield from _copy_comment(
                facts, link, d, comment, visibility, unsure, marks
            )
        except PermanentError as exc:
            if exc.status == 401:
                raise  # the bridge's credentials, not this comment: park the job
            marks[key] = Parked(fingerprint)
            yield MarkComment(key, marks[key])  # before the item: see above
            read_only = target_status if isinstance(exc, ReadOnlyTicket) else ""
            item = yield from ask(ParkItem(key, str(exc), while_status=read_only), ParkedItem)
            if item.count == 1:  # the same cause again only counts, it does not log again
                yield Log(
                    link.first,
                    "not_copied",
                    {"route": facts.name, "from": key, "to": d.dst.settings.name,
                     "reason": f"not copied: {exc}"},
                )  # fmt: skip
                refused.append(key)
            continue
        if mark is not None:  # parked (or released by an operator) before: copied at last
            yield UnparkItem(key)
        marks[key] = Copied(copy_key)
        own_copies.add(copy_key)
        yield Log(
            link.first,
            "comment_copied",
            {"route": facts.name, "from": key, "to": copy_key,
             "public": new.public, "attachments": files, "not_copied": notes},
        )  # fmt: skip
        copied.append(key)
    return copied


def route_visibility(d: Direction, comment: Comment) -> Visibility:
    """Where a comment goes on the other side: the route's flow for its visibility, with one
    rule no mapping can turn off. A copy towards the first level is public (the end customer
    reads it) only when the ticket says the customer may be contacted; otherwise the agent
    gets it as an internal note and decides what to pass on."""
    wanted = d.flow.get(
        Visibility.PUBLIC if comment.public else Visibility.INTERNAL, Visibility.SKIP
    )
    if wanted is Visibility.PUBLIC and d.name == "to_first" and d.may_contact_customer is not True:
        return Visibility.INTERNAL
    return wanted


def may_contact_customer(facts: RouteFacts, first: Ticket) -> bool | None:
    """The first-level ticket's answer now (it may have changed since the escalation)."""
    answer = check_required(first, facts.mapping).values.get("may_contact_customer")
    return answer if isinstance(answer, bool) else None


def _copy_comment(
    facts: RouteFacts,
    link: LinkRecord,
    d: Direction,
    comment: Comment,
    visibility: Visibility,
    unsure: bool,
    marks: Mapping[str, CommentMark],
) -> Plan[tuple[str, NewComment, int, int]]:
    """Post one comment with its files; (copy key, what was posted, files, files left out).

    The copy's mark is written by the write-ahead scheme (unsure before, the copy after)."""
    key = comment_key(d.src, comment.id)
    body = _copy_text(facts, d, comment)
    lang = side_language(d.dst.settings, facts.language)
    fetched = Fetched((), ())
    if comment.attachments:
        step = FetchFiles(d.src_side, d.dst_side, comment.attachments, lang)
        fetched = yield from ask(step, Fetched)
    if fetched.notes:
        body = body + "\n\n" + "\n".join(fetched.notes)
    new = NewComment(body, public=visibility is Visibility.PUBLIC, attachments=fetched.files)
    guard = Guard(CommentSlot(key), unsure=unsure)
    posted = yield from ask(PostComment(d.dst_side, d.dst_id, new, guard), Posted)
    copy_key = comment_key(d.dst, posted.id)
    if posted.left_out:
        yield from _name_left_out(facts, link, d, key, new.public, posted.left_out, marks)
    files, left_out = len(fetched.files), len(posted.left_out)
    return copy_key, new, files - left_out, len(fetched.notes) + left_out


def _name_left_out(
    facts: RouteFacts,
    link: LinkRecord,
    d: Direction,
    key: str,
    public: bool,
    files: tuple[str, ...],
    marks: Mapping[str, CommentMark],
) -> Plan[None]:
    """A note under the copy naming the files its target refused after taking the comment.

    Its own mark (`<key>#files`) makes it exactly-once like a copy. A worker killed between the
    comment and this note loses the note, never duplicates either: the retry finds the comment
    on the target (unsure) and that answer carries no refusal. The timeline names the files.
    """
    lang = side_language(d.dst.settings, facts.language)
    dst_name = system_title(d.dst.settings)
    body = "\n".join(text(lang, "file_left_out", file=name, dst=dst_name) for name in files)
    note_key = f"{key}#files"
    mark = marks.get(note_key)
    if mark is not None and not isinstance(mark, Unsure):
        return
    guard = Guard(CommentSlot(note_key), unsure=mark is not None)
    yield from ask(PostComment(d.dst_side, d.dst_id, NewComment(body, public), guard), Posted)
    yield Log(
        link.first,
        "not_copied",
        {"route": facts.name, "from": key, "to": d.dst.settings.name,
         "reason": f"files refused after the comment was written: {', '.join(files)}"},
    )  # fmt: skip


def _fingerprint(comment: Comment) -> str:
    """What a comment says (text, visibility, files): a change makes a parked copy worth
    another try."""
    files = "|".join(f"{a.filename}:{a.size}:{a.id}" for a in comment.attachments)
    said = f"{comment.public}\n{comment.body}\n{files}"
    return hashlib.sha256(said.encode()).hexdigest()[:16]


def retry_left_read_only(
    parked: Mapping[str, ParkedItem], second_status: str, marks: MutableMapping[str, CommentMark]
) -> Plan[None]:
    """Comments refused because the vendor issue was read-only (resolved or closed, for a
    bridge user below MANAGER) are tried again once the issue has another status: the vendor
    reopened it, so the customer's "retest failed" arrives without an operator's resync."""
    for key, item in parked.items():
        if item.while_status and item.while_status != second_status:
            marks[key] = Unsure()
            yield MarkComment(key, Unsure())


def _copy_text(facts: RouteFacts, d: Direction, comment: Comment) -> str:
    texts = facts.mapping.texts(side_language(d.dst.settings, facts.language))
    header = render(
        texts.comment_header,
        {"author": comment.author_name or comment.author_id or "?",
         "system": system_title(d.src.settings)},
    )  # fmt: skip
    return f"{header}\n\n{comment.body}"
