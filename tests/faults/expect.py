"""What the fault run expects on each side, derived from the mapping the run loaded.

The harness never hard-codes a visibility, a header or a status: a copy's header is the
mapping's `comment_header` for the target side's language with the source system's title, the
visibility a comment must arrive with is the route's flow (plus the consent rule no mapping can
turn off), and the bridge's other writes (link note, notes to the agent) are told apart by the
mapping's and bridge.agent_notes' texts. So a change of defaults changes what is checked, not
whether it is checked.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.agent_notes import DEFAULTS, JOB_CAUSES, NoteCause
from bridge.mapping import RouteMapping, SyncRules, Visibility
from bridge.pair_status import REPLY_STATUS, agree, waits
from bridge.texts import language

ZENDESK, MANTIS = "zendesk", "mantis"  # where a change was made (the run's two sides)


@dataclass
class Expectation:
    """One comment made during the churn; its token is the first word of its text."""

    token: str
    origin: str  # ZENDESK or MANTIS
    ticket: int
    issue: int
    public: bool  # its visibility where it was written


def template_pattern(template: str, known: Mapping[str, str]) -> str:
    """A regular expression for what `template` renders to: the `known` placeholders as their
    values, any other as some text (bridge.rules.render fills the same `{name}` fields)."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(re.escape(known[name]) if name in known else "(?s:.+?)")
    return "".join(parts)


def expected_visibility(rules: SyncRules, e: Expectation, consents: bool | None) -> Visibility:
    """Where the route sends a comment of this visibility. Towards the first level a public copy
    reaches the end customer, so it is public only when the ticket says they may be contacted
    (`consents`; None, not known, counts as no): otherwise the agent gets it as an internal
    note."""
    flow = rules.comments_to_second if e.origin == ZENDESK else rules.comments_to_first
    wanted = flow.get(Visibility.PUBLIC if e.public else Visibility.INTERNAL, Visibility.SKIP)
    if e.origin == MANTIS and wanted is Visibility.PUBLIC and consents is not True:
        return Visibility.INTERNAL
    return wanted


def consent(mapping: RouteMapping, ticket: Mapping[str, Any]) -> bool | None:
    """The sandbox Zendesk ticket's answer to "may the end customer be contacted", read where
    the mapping says it lives (its `field:<id>` sources, first with a value wins)."""
    spec = mapping.required["may_contact_customer"]
    values = {str(f["id"]): f.get("value") for f in ticket.get("custom_fields", [])}
    for source in spec.sources:
        if not source.startswith("field:"):
            continue
        value = values.get(source.removeprefix("field:"))
        if value in (None, ""):
            continue
        word = str(value).lower()
        return True if word in spec.yes else False if word in spec.no else None
    return None


@dataclass(frozen=True)
class BridgeWrite:
    """What a comment written by the bridge user is: a copy (with the token of the comment it
    copies), the link note, a note to the agent (with its cause), or something unexplained."""

    kind: str  # "copy", "link_note", "agent_note", "unknown"
    token: str = ""
    cause: NoteCause | None = None


class Writes:
    """Tells the bridge's writes on one side apart, by the texts the bridge writes there."""

    def __init__(self, mapping: RouteMapping, lang: str, source_title: str) -> None:
        texts = mapping.texts(lang)
        header = template_pattern(texts.comment_header, {"system": source_title})
        # _copy_text: header, a blank line, the source comment (its first word is the token).
        self._copy = re.compile(rf"{header}\n\n(?P<token>\S+)", re.DOTALL)
        self._link = re.compile(template_pattern(texts.link_note, {}), re.DOTALL)
        defaults = DEFAULTS[language(lang)]
        self._notes = {
            cause: re.compile(
                template_pattern(texts.agent_notes.get(cause.value) or defaults[cause], {}),
                re.DOTALL,
            )
            for cause in NoteCause
        }

    def classify(self, body: str) -> BridgeWrite:
        if (m := self._copy.match(body)) is not None:
            return BridgeWrite("copy", token=m.group("token"))
        for cause, pattern in self._notes.items():
            if pattern.fullmatch(body):
                return BridgeWrite("agent_note", cause=cause)
        if self._link.fullmatch(body):
            return BridgeWrite("link_note")
        return BridgeWrite("unknown")


def repeated_notes(causes: Iterable[NoteCause]) -> list[NoteCause]:
    """Notes to the agent told twice for one cause without a recovery note in between (the
    bridge promises one note per cause until it recovers)."""
    told: set[NoteCause] = set()
    repeated = []
    for cause in causes:
        if cause is NoteCause.RECOVERED:
            told -= set(JOB_CAUSES)
        elif cause is NoteCause.ITEMS_RECOVERED:
            told.discard(NoteCause.NOT_COPIED)
        elif cause in told:
            repeated.append(cause)
        else:
            told.add(cause)
    return repeated


@dataclass(frozen=True)
class StatusChange:
    """A status set on one side during the churn, with that system's time stamp of it. On the
    helpdesk it is the customer's reply that sets `open`: `moved` says whether the ticket's
    status changed with it (it may have been open already)."""

    side: str  # ZENDESK or MANTIS
    status: str
    stamp: str  # as the system renders it: whole seconds, like the real ones
    moved: bool = True

    @property
    def at(self) -> datetime:
        """The stamp as a moment (the two systems write different UTC offsets)."""
        return datetime.fromisoformat(self.stamp)


Outcome = tuple[str | None, str | None]  # (first level, second level); None: any


def expected_statuses(
    rules: SyncRules, escalated: str | None, baseline: str, changes: list[StatusChange]
) -> set[Outcome]:
    """The statuses a pair may end with, by playing its changes in order.

    - The vendor's status change is mirrored (the mapping's `to_first`).
    - The customer's reply that moves the helpdesk ticket is a status change too (mapped by
      `to_second`); a reply while the vendor is not working on the issue (waiting for feedback,
      resolved: bridge.pair_status.waits) reopens it to what the mapping gives `open`, and
      the helpdesk keeps its status. A status the tracker flipped on its own after a bridge note
      is set back, so it never shows.
    - The systems stamp whole seconds: the changes of one second on the two sides may have
      happened in any order (the bridge's read of the issue may be older than a vendor's
      change of that second), so every order is allowed.
    A pair nobody changed keeps what escalation left (the escalated status, the new issue's).
    """
    states: set[Outcome] = {(escalated, baseline)}
    groups: list[list[StatusChange]] = []
    for change in changes:  # the changes of one second are neighbours in the run's order
        if groups and groups[-1][0].at == change.at:
            groups[-1].append(change)
        else:
            groups.append([change])
    for group in groups:
        ours = [c for c in group if c.side == ZENDESK]
        theirs = [c for c in group if c.side == MANTIS]
        states = {
            end for order in _interleavings(ours, theirs) for end in _play(rules, states, order)
        }
    return states


def _interleavings(a: list[StatusChange], b: list[StatusChange]) -> list[list[StatusChange]]:
    """Every order of two sides' changes that keeps each side's own order (a system stamps
    whole seconds, so the changes of one second on both sides cannot be ordered)."""
    if not a or not b:
        return [a + b]
    return [[a[0], *rest] for rest in _interleavings(a[1:], b)] + [
        [b[0], *rest] for rest in _interleavings(a, b[1:])
    ]


def _play(rules: SyncRules, states: set[Outcome], changes: list[StatusChange]) -> set[Outcome]:
    for change in changes:
        if change.side == MANTIS:
            states = {(rules.status_to_first.get(change.status.lower(), f), change.status)
                      for f, _ in states}  # fmt: skip
        else:
            states = {_reply(rules, change, f, m) for f, m in states}
    return states


def _reply(rules: SyncRules, change: StatusChange, f: str | None, m: str | None) -> Outcome:
    reopen = rules.status_to_second.get(change.status.lower(), m)
    if change.moved:
        return change.status, reopen
    if m is not None and waits(rules, MANTIS, m):
        # The bridge sets the helpdesk to the reply's status where the pair would disagree.
        if f is not None and reopen is not None and not agree(rules, f, reopen):
            return REPLY_STATUS, reopen
        return f, reopen
    return f, m
