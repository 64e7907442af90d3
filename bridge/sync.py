"""Two-way sync of a linked pair: comments, status and priority, both directions.

An event only says "this pair changed". The job re-reads both tickets and applies everything
still pending, in source order, so a late, repeated or reordered event converges on the same
result. Echo is impossible by construction: comments written by the bridge are skipped, and a
status or priority is only copied when it differs from what the bridge last saw or wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, cast

from bridge.agent_notes import tell_about_items
from bridge.attachments import carry_attachments
from bridge.context import Decision, RouteContext
from bridge.errors import FilesLeftOut, PermanentError, ReadOnlyTicket
from bridge.mapping import Visibility
from bridge.models import Comment, NewComment, Ticket
from bridge.pair_status import STATUS_ITEM, SecondStatus, apply_fields, plan_fields, seen
from bridge.protocol import Capability, Connector, ReadsTogether, is_bridge_actor
from bridge.retry import blame
from bridge.rules import check_required, render
from bridge.store import LinkRecord, SyncStore
from bridge.texts import side_language, system_title, text
from bridge.writes import PARKED, UNSURE, post_once

SKIP = Visibility.SKIP.value  # also the comment mark of a comment not copied on purpose
BEFORE = "before"  # existed before the escalation: context, not conversation
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Direction:
    """One way of the pair: from `src` to `dst`."""

    name: str
    src: Connector
    src_id: str
    dst: Connector
    dst_id: str
    flow: dict[Visibility, Visibility]
    # Only towards the first level, where the end customer reads public comments: whether the
    # ticket says the customer may be contacted (None: not known, which counts as no).
    may_contact_customer: bool | None = None


def directions(ctx: RouteContext, link: LinkRecord) -> tuple[Direction, Direction]:
    rules = ctx.mapping.sync
    return (
        Direction("to_second", ctx.first, link.first.id, ctx.second, link.second.id,
                  dict(rules.comments_to_second)),
        Direction("to_first", ctx.second, link.second.id, ctx.first, link.first.id,
                  dict(rules.comments_to_first)),
    )  # fmt: skip


def comment_key(connector: Connector, comment_id: str) -> str:
    return f"{connector.settings.name}:{comment_id}"


def start_pair(ctx: RouteContext, link: LinkRecord) -> None:
    """At link time: what is on either ticket now is history, not something to copy, and the
    current status and priority are the baseline later changes are measured against.

    Except the conversation since the bridge asked for missing data: what the customer wrote
    and attached in answer is what the vendor needs, so those comments stay unmarked and the
    first sync copies them like any later comment (`conversation_since_request`).
    """
    for direction in directions(ctx, link):
        with blame(direction.src.settings.name):
            comments = direction.src.list_comments(direction.src_id)
        goes_along = (
            conversation_since_request(direction.src, comments)
            if direction.name == "to_second"
            else set()
        )
        for comment in comments:
            if comment.id not in goes_along:
                ctx.store.mark_comment(
                    ctx.name, link.first.id, comment_key(direction.src, comment.id), BEFORE
                )
    with blame(ctx.first.settings.name):
        first = ctx.first.get_ticket(link.first.id)
    with blame(ctx.second.settings.name):
        second = ctx.second.get_ticket(link.second.id)
    ctx.store.set_pair_state(ctx.name, link.first.id, seen(first, second))


def conversation_since_request(first: Connector, comments: list[Comment]) -> set[str]:
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


# Reads of the two sides are independent: fetching them side by side makes a sync cost one
# remote round trip instead of four. Threads, because the work is waiting on sockets. Shared by
# the jobs of a process (`bridge worker --threads`), up to three reads each; threads are only
# started when needed.
_READERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="bridge-read")


@dataclass(frozen=True)
class _SideRead:
    """A side's ticket and comments, being read in the background; each call waits for it."""

    ticket: Callable[[], Ticket]
    comments: Callable[[], list[Comment]]


T = TypeVar("T")


def _blamed(system: str, read: Callable[[str], T]) -> Callable[[str], T]:
    """A read that names its system when it fails for a while (bridge.retry.blame)."""

    def call(ticket_id: str) -> T:
        with blame(system):
            return read(ticket_id)

    return call


def _read_side(connector: Connector, ticket_id: str) -> _SideRead:
    name = connector.settings.name
    if Capability.READS_TOGETHER in connector.capabilities:
        together = cast(ReadsTogether, connector).get_ticket_and_comments
        both = _READERS.submit(_blamed(name, together), ticket_id)
        return _SideRead(lambda: both.result()[0], lambda: both.result()[1])
    ticket = _READERS.submit(_blamed(name, connector.get_ticket), ticket_id)
    comments = _READERS.submit(_blamed(name, connector.list_comments), ticket_id)
    return _SideRead(ticket.result, comments.result)


def sync_pair(ctx: RouteContext, link: LinkRecord) -> Decision:
    """Bring both tickets of a link up to date with each other."""
    to_second, to_first = directions(ctx, link)
    first_read = _read_side(ctx.first, link.first.id)
    second_read = _read_side(ctx.second, link.second.id)
    to_first = replace(
        to_first, may_contact_customer=_may_contact_customer(ctx, first_read.ticket())
    )
    copied: list[str] = []
    refused: list[str] = []
    marks = ctx.store.comment_marks(ctx.name, link.first.id)  # updated in place as we copy
    first, second = first_read.ticket(), second_read.ticket()
    # Decide the fields first: a reply reopens the vendor issue before it is posted (pair_status).
    state = ctx.store.pair_state(ctx.name, link.first.id)
    by = second.status_changed_by
    by_other = by is not None and not is_bridge_actor(ctx.second.settings, by)
    plan = plan_fields(ctx.mapping.sync, state, first, second, second_set_by_other=by_other)
    keeper = SecondStatus(ctx, link, plan, first.requester_id)
    pending = first_read.comments()
    _retry_left_read_only(ctx, link, second.status or "", marks)
    copied.extend(
        _sync_comments(
            ctx, link, to_second, pending, marks, refused, keeper.before_copy, second.status or ""
        )
    )
    keeper.after_copies()
    copied.extend(_sync_comments(ctx, link, to_first, second_read.comments(), marks, refused))
    changed = apply_fields(ctx, link, plan, keeper)
    tell_about_items(ctx, link.first.id)  # the agent hears of held-back comments
    details: dict[str, Any] = {"second": str(link.second)}
    if copied:
        details["comments"] = copied
    if refused:
        details["not_copied"] = refused
    if changed:
        details["changes"] = changed
    action = "synced" if copied or changed else "in_sync"
    ctx.store.log(link.first, action, {"route": ctx.name, **details})
    return Decision(action, f"pair {link.first} <-> {link.second}", details)


def _order(comment: Comment) -> tuple[datetime, int, str]:
    numeric = int(comment.id) if comment.id.isdigit() else 0
    return (comment.created_at or _EPOCH, numeric, comment.id)


def _sync_comments(
    ctx: RouteContext,
    link: LinkRecord,
    d: Direction,
    comments: list[Comment],
    marks: dict[str, str],
    refused: list[str],
    before_copy: Callable[[Comment], None] | None = None,
    target_status: str = "",
) -> list[str]:
    """Copy the comments still pending, in source order; `refused` collects newly parked ones.

    A comment the target refuses for good (403, 422, ...) is parked alone: it is kept in the
    marks with its reason, the rest of the pair goes on, and it is tried again only when its
    source changes or an operator resyncs the pair (`release_parked`).
    """
    own_copies = set(marks.values())  # keys of comments the bridge wrote, on either side
    copied: list[str] = []
    parked: set[str] | None = None  # keys with a parked item, read when a parked mark is met
    for comment in sorted(comments, key=_order):
        key = comment_key(d.src, comment.id)
        mark = marks.get(key)
        fingerprint = _fingerprint(comment)
        if mark == PARKED + fingerprint:
            if parked is None:
                parked = set(ctx.store.parked_items(ctx.name, link.first.id))
            if key in parked:
                continue  # refused before and unchanged since: waits for the operator
            # The mark is written before the parked item: a job that died in between (a hung
            # Redis runs it into its timeout) left a comment no resync would release and no
            # one was told of. Tried again, as unsure, so the refusal is recorded this time.
        # A parked comment whose source changed may have been half written (MantisBT creates
        # a note, then refuses its file): look for it before posting again, as for UNSURE.
        unsure = mark == UNSURE or (mark is not None and mark.startswith(PARKED))
        if mark is not None and not unsure:
            continue
        if is_bridge_actor(d.src.settings, comment.author_id) or key in own_copies:
            continue  # the bridge's own write (echo)
        visibility = route_visibility(d, comment)
        if visibility is Visibility.SKIP:
            ctx.store.mark_comment(ctx.name, link.first.id, key, SKIP)
            continue
        try:
            if before_copy is not None:  # may reopen the target first, or refuse for it
                before_copy(comment)
            copy_key, new, files, notes = _copy_comment(ctx, link, d, comment, visibility, unsure)
        except PermanentError as exc:
            if exc.status == 401:
                raise  # the bridge's credentials, not this comment: park the job
            marks[key] = PARKED + fingerprint
            ctx.store.mark_comment(ctx.name, link.first.id, key, marks[key])
            read_only = target_status if isinstance(exc, ReadOnlyTicket) else ""
            item = ctx.store.park_item(
                ctx.name, link.first.id, key, str(exc), ctx.clock(), while_status=read_only
            )
            if item.count == 1:  # the same cause again only counts, it does not log again
                ctx.store.log(
                    link.first,
                    "not_copied",
                    {"route": ctx.name, "from": key, "to": d.dst.settings.name,
                     "reason": f"not copied: {exc}"},
                )  # fmt: skip
                refused.append(key)
            continue
        ctx.store.mark_comment(ctx.name, link.first.id, key, copy_key)
        if mark is not None:  # parked (or released by an operator) before: copied at last
            ctx.store.unpark_item(ctx.name, link.first.id, key)
        marks[key] = copy_key
        own_copies.add(copy_key)
        ctx.store.log(
            link.first,
            "comment_copied",
            {"route": ctx.name, "from": key, "to": copy_key,
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


def _may_contact_customer(ctx: RouteContext, first: Ticket) -> bool | None:
    """The first-level ticket's answer now (it may have changed since the escalation)."""
    answer = check_required(first, ctx.mapping).values.get("may_contact_customer")
    return answer if isinstance(answer, bool) else None


def _copy_comment(
    ctx: RouteContext,
    link: LinkRecord,
    d: Direction,
    comment: Comment,
    visibility: Visibility,
    unsure: bool,
) -> tuple[str, NewComment, int, int]:
    """Post one comment with its files; (copy key, what was posted, files, files left out)."""
    key = comment_key(d.src, comment.id)
    body = _copy_text(ctx, d, comment)
    lang = side_language(d.dst.settings, ctx.language)
    with blame(d.src.settings.name):
        files, notes = carry_attachments(d.src, d.dst, comment.attachments, lang)
    if notes:
        body = body + "\n\n" + "\n".join(notes)
    new = NewComment(body, public=visibility is Visibility.PUBLIC, attachments=files)
    left_out: tuple[str, ...] = ()
    try:
        copy_id = post_once(
            d.dst,
            d.dst_id,
            new,
            unsure=unsure,
            mark_unsure=partial(ctx.store.mark_comment, ctx.name, link.first.id, key, UNSURE),
        )
    except FilesLeftOut as exc:
        copy_id, left_out = exc.written_id, exc.files
    finally:
        for f in files:
            _remove(f.path)
    if left_out:
        _name_left_out(ctx, link, d, key, new.public, left_out)
    return comment_key(d.dst, copy_id), new, len(files) - len(left_out), len(notes) + len(left_out)


def _name_left_out(
    ctx: RouteContext,
    link: LinkRecord,
    d: Direction,
    key: str,
    public: bool,
    files: tuple[str, ...],
) -> None:
    """A note under the copy naming the files its target refused after taking the comment.

    Its own mark (`<key>#files`) makes it exactly-once like a copy. A worker killed between the
    comment and this note loses the note, never duplicates either: the retry finds the comment
    on the target (UNSURE) and that answer carries no refusal. The timeline names the files.
    """
    lang = side_language(d.dst.settings, ctx.language)
    dst_name = system_title(d.dst.settings)
    body = "\n".join(text(lang, "file_left_out", file=name, dst=dst_name) for name in files)
    note_key = f"{key}#files"
    mark = ctx.store.comment_marks(ctx.name, link.first.id).get(note_key)
    if mark is not None and mark != UNSURE:
        return
    note_id = post_once(
        d.dst,
        d.dst_id,
        NewComment(body, public=public),
        unsure=mark == UNSURE,
        mark_unsure=partial(ctx.store.mark_comment, ctx.name, link.first.id, note_key, UNSURE),
    )
    ctx.store.mark_comment(ctx.name, link.first.id, note_key, comment_key(d.dst, note_id))
    ctx.store.log(
        link.first,
        "not_copied",
        {"route": ctx.name, "from": key, "to": d.dst.settings.name,
         "reason": f"files refused after the comment was written: {', '.join(files)}"},
    )  # fmt: skip


def _fingerprint(comment: Comment) -> str:
    """What a comment says (text, visibility, files): a change makes a parked copy worth
    another try."""
    files = "|".join(f"{a.filename}:{a.size}:{a.id}" for a in comment.attachments)
    text = f"{comment.public}\n{comment.body}\n{files}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _retry_left_read_only(
    ctx: RouteContext, link: LinkRecord, second_status: str, marks: dict[str, str]
) -> None:
    """Comments refused because the vendor issue was read-only (resolved or closed, for a
    bridge user below MANAGER) are tried again once the issue has another status: the vendor
    reopened it, so the customer's "retest failed" arrives without an operator's resync."""
    for key, item in ctx.store.parked_items(ctx.name, link.first.id).items():
        if item.while_status and item.while_status != second_status:
            ctx.store.mark_comment(ctx.name, link.first.id, key, UNSURE)
            marks[key] = UNSURE


def release_parked(store: SyncStore, route: str, first_id: str) -> list[str]:
    """An operator resync: the pair's parked comments are tried once more (each looked for on
    the target first, since a refused write may have been half done); counts are kept, so the
    same refusal again adds no new log line."""
    keys = sorted(k for k in store.parked_items(route, first_id) if not k.startswith(STATUS_ITEM))
    for key in keys:
        store.mark_comment(route, first_id, key, UNSURE)  # a status is retried at every sync
    return keys


def _copy_text(ctx: RouteContext, d: Direction, comment: Comment) -> str:
    texts = ctx.mapping.texts(side_language(d.dst.settings, ctx.language))
    header = render(
        texts.comment_header,
        {"author": comment.author_name or comment.author_id or "?",
         "system": system_title(d.src.settings)},
    )  # fmt: skip
    return f"{header}\n\n{comment.body}"


def _remove(path: str | None) -> None:
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
