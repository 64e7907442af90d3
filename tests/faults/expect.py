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
    """A status set on one side during the churn, with that system's time stamp of it."""

    side: str  # ZENDESK or MANTIS
    status: str
    stamp: str  # as the system renders it: whole seconds, like the real ones

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.stamp)


Outcome = tuple[str | None, str | None]  # (first level, second level); None: any


def expected_statuses(
    rules: SyncRules, escalated: str | None, baseline: str, changes: list[StatusChange]
) -> list[Outcome]:
    """The statuses a pair may end with: the latest change wins, mapped to the other side.

    That is the sync's rule (the newer change wins when both sides moved since the last sync)
    and the retest loop's: the customer's reply after the vendor asked or resolved reopens the
    issue to what the mapping gives `open`, and a status the tracker flipped on its own after a
    bridge note is set back, so it never shows. The systems stamp whole seconds, so a change on
    one side in the same second as the other side's cannot be ordered: either may win then. A
    pair nobody changed keeps what escalation left (the escalated status, the new issue's).
    """
    if not changes:
        return [(escalated, baseline)]

    def outcome(change: StatusChange) -> Outcome:
        if change.side == ZENDESK:
            return change.status, rules.status_to_second.get(change.status.lower())
        return rules.status_to_first.get(change.status.lower()), change.status

    last = changes[-1]
    before = [c for c in changes if c.side != last.side]
    if before and before[-1].at == last.at:  # the same second: no order between them
        later = changes[changes.index(before[-1]) + 1 :]
        if all(c.at == last.at for c in later):
            return [outcome(last), outcome(before[-1])]
    return [outcome(last)]
