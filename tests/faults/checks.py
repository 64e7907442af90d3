"""The fault run's checks of the sandboxes' final state: comments and statuses.

Every comment made during the churn must be on the other side exactly once, with the
visibility the route gives it (tests/faults/expect.py derives it from the loaded mapping and the
ticket's consent), or parked with the remote's reason; nothing the route skips may cross (a
vendor's private note, a helpdesk agent's internal note: a leak), nothing may reach the end
customer publicly without consent (a leak), and the bridge writes nothing it cannot explain
(an echo, or a stray write). A pair's statuses must show its latest status change on both
sides, mapped (the retest loop included); a pair whose status nobody changed must still show
what escalation left; priorities must agree by the mapping.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bridge.agent_notes import NoteCause
from bridge.config import Route
from bridge.mapping import Visibility
from bridge.pair_status import agree
from bridge.sandbox.stack import Stack
from bridge.texts import side_language, system_title
from tests.faults.expect import (
    ZENDESK,
    Expectation,
    Outcome,
    StatusChange,
    Writes,
    consent,
    expected_statuses,
    expected_visibility,
    repeated_notes,
)
from tests.faults.report import Report


@dataclass
class Copies:
    """The bridge's copies found on one side, by the token of the comment they copy."""

    count: Counter[str] = field(default_factory=Counter)
    public: dict[str, bool] = field(default_factory=dict)
    where: dict[str, set[int]] = field(default_factory=dict)  # token -> tickets/issues

    def add(self, token: str, public: bool, on: int) -> None:
        self.count[token] += 1
        self.public[token] = public
        self.where.setdefault(token, set()).add(on)


class FinalState:
    """Reads both sandboxes once the run settled and writes what is wrong into the report."""

    def __init__(self, stack: Stack, route: Route, report: Report) -> None:
        self.stack, self.route, self.rep = stack, route, report
        self.mapping = route.mapping
        helpdesk, vendor = stack.config.systems[route.first], stack.config.systems[route.second]
        # Copies are written in the language of the side they land on, headed with the title
        # of the side they come from.
        self.on_first = Writes(
            self.mapping, side_language(helpdesk, route.language), system_title(vendor)
        )
        self.on_second = Writes(
            self.mapping, side_language(vendor, route.language), system_title(helpdesk)
        )
        self.to_first, self.to_second = Copies(), Copies()
        self.notes: dict[int, list[NoteCause]] = {}  # ticket -> notes to its agent, in order

    def read(self, pairs: Iterable[tuple[int, int]]) -> None:
        s, rep = self.stack, self.rep
        for tid, iid in pairs:
            for c in s.zendesk.comments(tid):
                if c["author_id"] != s.zd_bridge:
                    continue
                write = self.on_first.classify(c["body"])
                if write.kind == "copy":
                    self.to_first.add(write.token, bool(c["public"]), tid)
                    continue
                if c["public"]:  # the bridge's own notes are for the agent only
                    rep.leaked.append(f"#{tid} public bridge note: {c['body'][:60]!r}")
                if write.cause is not None:
                    self.notes.setdefault(tid, []).append(write.cause)
                    rep.agent_notes[write.cause.value] += 1
                elif write.kind == "unknown":
                    rep.echo.append(f"#{tid} unexplained bridge comment {c['body'][:60]!r}")
            for note in s.mantis.issue(iid).get("notes", []):
                if note["reporter"]["id"] != s.mt_bridge:
                    continue
                write = self.on_second.classify(note["text"])
                if write.kind == "copy":
                    public = note["view_state"]["name"] == "public"
                    self.to_second.add(write.token, public, iid)
                else:  # neither a link note nor notes to an agent belong on the vendor's side
                    rep.echo.append(f"MantisBT #{iid} unexplained bridge note "
                                    f"{note['text'][:60]!r}")  # fmt: skip
        for tid, causes in self.notes.items():
            for cause in repeated_notes(causes):
                rep.duplicated.append(f"#{tid} note to the agent '{cause.value}' again")

    def comments(
        self, expect: list[Expectation], parked_reason: Callable[[Expectation], str | None]
    ) -> None:
        s, rep, rules = self.stack, self.rep, self.mapping.sync
        consents = {e.ticket: consent(self.mapping, s.zendesk.ticket(e.ticket)) for e in expect}
        expected: set[str] = set()
        for e in expect:
            copies = self.to_second if e.origin == ZENDESK else self.to_first
            wanted = expected_visibility(rules, e, consents[e.ticket])
            what = f"{e.origin} {'public' if e.public else 'internal'}"
            n = copies.count[e.token]
            if wanted is Visibility.SKIP:
                if n:
                    rep.leaked.append(f"{e.token} ({what}) copied; the route keeps it")
                continue
            expected.add(e.token)
            if n == 0:
                reason = parked_reason(e)
                if reason:
                    rep.parked_comments.append(f"{e.token}: {reason}")
                else:
                    rep.lost.append(f"{e.token} ({what} #{e.ticket}/{e.issue})")
                continue
            if n > 1:
                rep.duplicated.append(f"{e.token} ({e.origin} #{e.ticket}/{e.issue})")
                continue
            target = e.issue if e.origin == ZENDESK else e.ticket
            if copies.where[e.token] != {target}:
                rep.leaked.append(f"{e.token} ({what}) landed on {copies.where[e.token]}")
            public = copies.public[e.token]
            if public and wanted is Visibility.INTERNAL:
                rep.leaked.append(f"{e.token} ({what}, consent {consents[e.ticket]}) public")
            elif not public and wanted is Visibility.PUBLIC:
                rep.inconsistent.append(f"{e.token} ({what}) internal; the route makes it public")
            rep.applied["comments copied"] += 1
        copied = set(self.to_first.count) | set(self.to_second.count)
        rep.echo.extend(sorted(copied - expected))

    def told_of_parked(self, tid: int) -> None:
        """The agent of a pair with held-back comments is told (once: see `read`)."""
        if NoteCause.NOT_COPIED not in self.notes.get(tid, []):
            self.rep.untold.append(f"#{tid}: held-back comments, no note to the agent")

    def statuses(
        self,
        pairs: Iterable[tuple[int, int]],
        changes: dict[int, list[StatusChange]],
        baseline: dict[int, str],
    ) -> None:
        s, rep, rules = self.stack, self.rep, self.mapping.sync
        for tid, iid in pairs:
            zt, mi = s.zendesk.ticket(tid), s.mantis.issue(iid)
            now = (zt["status"], mi["status"]["name"])
            told = changes.get(tid, [])
            allowed = expected_statuses(rules, self.mapping.escalated_status, baseline[tid], told)
            if not told and not any(_matches(w, now) for w in allowed):
                rep.inconsistent.append(f"#{tid}/{iid} status {now[0]}/{now[1]} changed by "
                                        f"itself, escalation left {allowed}")  # fmt: skip
            elif told and not agree(rules, *now):
                rep.inconsistent.append(f"#{tid}/{iid} status {now[0]}/{now[1]}")
            elif not any(_matches(w, now) for w in allowed):
                # In step by the mapping, but not what the changes played in order give: kept
                # apart (see Report.status_order) until the races behind it are settled.
                last = [(c.side, c.status, f"{c.at:%H:%M:%S}", c.moved) for c in told[-4:]]
                rep.status_order.append(f"#{tid}/{iid} {now[0]}/{now[1]}, played in order "
                                        f"{sorted(allowed, key=str)}, after {last}")  # fmt: skip
            fp, mp = zt["priority"], mi["priority"]["name"]
            if not (
                rules.priority_to_first.get(mp) == fp or rules.priority_to_second.get(fp) == mp
            ):
                rep.inconsistent.append(f"#{tid}/{iid} priority {fp}/{mp}")


def _matches(wanted: Outcome, now: tuple[str, str]) -> bool:
    return all(w is None or w == n for w, n in zip(wanted, now, strict=True))
