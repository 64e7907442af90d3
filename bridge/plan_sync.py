"""Two-way sync of a linked pair, as a plan: comments, status and priority, both directions.

An event only says "this pair changed". The sync reads both tickets afresh (`bridge.reader`)
and this plan applies everything still pending, in source order, so a late, repeated or
reordered event converges on the same result. Echo is impossible by construction: comments
written by the bridge are skipped, and a status or priority is only copied when it differs
from what the bridge last saw or wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bridge.context import Decision
from bridge.pair_status import SecondStatus, apply_fields, plan_fields
from bridge.plan_comments import (
    directions,
    may_contact_customer,
    retry_left_read_only,
    sync_comments,
)
from bridge.protocol import is_bridge_actor
from bridge.records import LinkRecord
from bridge.snapshot import PairSnapshot, RouteFacts
from bridge.steps import Log, Plan


@dataclass(frozen=True)
class PairResult:
    """What a sync of the pair did, for its log line and the job's result."""

    copied: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # comments parked in this sync
    changed: dict[str, str] = field(default_factory=dict)  # "<side>_<attr>" -> value written


def plan_pair(facts: RouteFacts, snap: PairSnapshot) -> Plan[PairResult]:
    """Bring both tickets of a link up to date with each other."""
    link, first, second = snap.link, snap.first, snap.second
    to_second, to_first = directions(facts, link)
    to_first = replace(to_first, may_contact_customer=may_contact_customer(facts, first))
    refused: list[str] = []
    marks = dict(snap.marks)  # kept up to date as the plan copies
    # Decide the fields first: a reply reopens the vendor issue before it is posted (pair_status).
    by = second.status_changed_by
    by_other = by is not None and not is_bridge_actor(facts.second.settings, by)
    rules = facts.mapping.sync
    fields = plan_fields(rules, snap.state, first, second, second_set_by_other=by_other)
    keeper = SecondStatus(facts, link, fields, first.requester_id)
    status = second.status or ""
    yield from retry_left_read_only(snap.parked, status, marks)
    copied = yield from sync_comments(
        facts, link, to_second, snap.first_comments, marks, snap.parked, refused,
        keeper.before_copy, status,
    )  # fmt: skip
    yield from keeper.after_copies()
    copied += yield from sync_comments(
        facts, link, to_first, snap.second_comments, marks, snap.parked, refused
    )
    changed = yield from apply_fields(facts, link, fields, keeper)
    return PairResult(tuple(copied), tuple(refused), changed)


def report_sync(facts: RouteFacts, link: LinkRecord, result: PairResult) -> Plan[Decision]:
    """The sync's line in the log, after the agent heard of held-back comments."""
    details: dict[str, Any] = {"second": str(link.second)}
    if result.copied:
        details["comments"] = list(result.copied)
    if result.refused:
        details["not_copied"] = list(result.refused)
    if result.changed:
        details["changes"] = result.changed
    action = "synced" if result.copied or result.changed else "in_sync"
    yield Log(link.first, action, {"route": facts.name, **details})
    return Decision(action, f"pair {link.first} <-> {link.second}", details)
