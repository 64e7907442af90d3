"""Sync of a linked pair: read it, plan it, apply the plan.

The decisions are in `bridge.plan_sync` (with `plan_comments` and `pair_status`); this module
only sequences the phases a sync has, each on a fresh read: the pair itself, then where the
next sync's comment reads start (`plan_reads`: the marks as the first phase left them), then
the notes to the agent about what is held back (they depend on what the first phase parked),
then the sync's line in the log.
"""

from __future__ import annotations

from bridge.context import Decision, RouteContext
from bridge.executor import Executor
from bridge.marks import Unsure, format_comment_mark
from bridge.pair_status import STATUS_ITEM
from bridge.plan_comments import Direction, route_visibility
from bridge.plan_notes import tell_about_items
from bridge.plan_reads import advance_reads
from bridge.plan_sync import plan_pair, report_sync
from bridge.reader import read_marks, read_notes, read_pair
from bridge.records import ItemMarks, LinkRecord, PairKey
from bridge.snapshot import RouteFacts

__all__ = ["Direction", "release_parked", "route_visibility", "sync_pair"]


def sync_pair(ctx: RouteContext, link: LinkRecord) -> Decision:
    """Bring both tickets of a link up to date with each other."""
    facts = RouteFacts.of(ctx)
    run = Executor(ctx, link.first.id)
    snap = read_pair(ctx, link)
    result = run(plan_pair(facts, snap))
    # Done with what it read: the next sync reads from here on (bridge.plan_reads).
    run(advance_reads(facts, snap, read_marks(ctx, snap)))
    # The agent hears of held-back comments, from the items as this sync left them.
    run(tell_about_items(facts, read_notes(ctx, link.first.id, with_items=True), link.first.id))
    return run(report_sync(facts, link, result))


def release_parked(marks: ItemMarks, pair: PairKey) -> list[str]:
    """An operator resync: the pair's parked comments are tried once more (each looked for on
    the target first, since a refused write may have been half done); counts are kept, so the
    same refusal again adds no new log line. Not a plan: it only marks, for the next sync."""
    keys = sorted(k for k in marks.parked_items(pair) if not k.startswith(STATUS_ITEM))
    for key in keys:  # a status is retried at every sync
        marks.mark_comment(pair, key, format_comment_mark(Unsure()))
    return keys
