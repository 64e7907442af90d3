"""A ticket's sync log as an operator reads it: one sentence per entry, then the leftovers.

The log (bridge.stores) keeps each action with its details as JSON; printed raw, an entry is a
Python dict (`{'customer_number': 'missing'}`) that nobody can read at 3 a.m. Here each action
has a title and a sentence in the words of the systems involved ("Comment copied: helpdesk
comment 12 -> vendor note 100 (MantisBT), public"), and the details the sentence did not use
stay as labelled fields, with lists, mappings and flags spelled out. An action this module
does not know yet still shows, titled after its name, with all of its details as fields.
Used by the console's ticket page and `bridge links show`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.config import Config
from bridge.pair_status import STATUS_ITEM
from bridge.texts import system_title

ARROW = "\u2192"
# What each system type calls a comment.
COMMENT_NOUNS = {"mantis": "note", "zammad": "article", "zendesk": "comment"}
# Severity of an entry, for the console's colouring: what went wrong, what waits, the rest.
BAD = "bad"
WAIT = "wait"
OK = "ok"


@dataclass(frozen=True)
class Line:
    """One entry of the timeline, readable."""

    at: str
    ticket: str
    action: str
    title: str
    text: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    tone: str = OK

    @property
    def sentence(self) -> str:
        return f"{self.title}: {self.text}" if self.text else self.title


def readable(value: Any) -> str:
    """A detail value in words: lists joined, mappings as `key: value`, flags as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {readable(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple | set):
        return ", ".join(readable(v) for v in value) or "none"
    return str(value)


class Narrator:
    """Turns sync-log entries into Lines, naming systems as the config does."""

    def __init__(self, config: Config | None = None) -> None:
        self.types = {n: s.type for n, s in config.systems.items()} if config else {}
        self.titles = {n: system_title(s) for n, s in config.systems.items()} if config else {}
        self.routes = {r.name: (r.first, r.second) for r in config.routes} if config else {}
        self._says: dict[str, Callable[[dict[str, Any]], tuple[str, str, str]]] = {
            "escalated": self._escalated,
            "recovered": self._recovered,
            "created_from": lambda d: ("Created", f"from {self.ticket(d.pop('first', ''))}", OK),
            "link_written": self._link_written,
            "synced": self._synced,
            "in_sync": lambda d: ("In step", f"with {self.ticket(d.pop('second', ''))}", OK),
            "comment_copied": self._comment_copied,
            "not_copied": self._not_copied,
            "status_set": self._status_set,
            "status_restored": self._status_restored,
            "missing_data_requested": lambda d: self._missing("Asked for missing data", d),
            "missing_data_already_requested": lambda d: self._missing("Still waiting for", d),
            "not_technical": lambda d: ("Not escalated", d.pop("reason", ""), OK),
            "ignored_own_write": lambda d: ("Ignored", d.pop("reason", ""), OK),
            "parked": lambda d: ("Parked", d.pop("reason", ""), BAD),
            "retry": self._retry,
            "rate_limited": self._rate_limited,
            "requeued": lambda d: ("Queued again", d.pop("reason", ""), OK),
            "held": self._held,
            "resumed": lambda d: ("Sync queued", f"{d.pop('scope', '?')} resumed", OK),
            "agent_told": self._agent_told,
            "agent_not_told": self._agent_not_told,
            "operator_resync": lambda d: ("Resync", "queued by an operator", OK),
            "operator_retry": lambda d: ("Retry", "queued by an operator", OK),
            "operator_discard": lambda d: ("Discarded", "a failed job, by an operator", OK),
            "superseded": lambda d: (
                "Superseded",
                f"failed job {d.pop('job', '?')}: a later sync did its work ({d.pop('by', '?')})",
                OK,
            ),
            "linked_by_operator": self._linked_by_operator,
        }

    # -- naming --------------------------------------------------------------------------------
    def system(self, name: str) -> str:
        """`vendor (MantisBT)`: the config's name, and what it is when that is not obvious."""
        title = self.titles.get(name)
        return f"{name} ({title})" if title and title.lower() != name.lower() else name

    def ticket(self, ref: Any) -> str:
        """`vendor#100` -> `vendor #100 (MantisBT)`."""
        system, sep, ticket_id = str(ref).partition("#")
        if not sep:
            return str(ref)
        title = self.titles.get(system)
        suffix = f" ({title})" if title and title.lower() != system.lower() else ""
        return f"{system} #{ticket_id}{suffix}"

    def comment(self, key: Any) -> str:
        """`helpdesk:12` -> `helpdesk comment 12`, `vendor:100` -> `vendor note 100`."""
        system, sep, comment_id = str(key).partition(":")
        if not sep:
            return str(key)
        if str(key).startswith(STATUS_ITEM):  # a held-back status (bridge.pair_status)
            return f"the status for {comment_id}"
        noun = COMMENT_NOUNS.get(self.types.get(system, ""), "comment")
        return f"{system} {noun} {comment_id}"

    def side(self, route: str | None, which: str) -> str:
        """The system on `which` ("first"/"second") side of a route, or the word itself."""
        first, second = self.routes.get(route or "", ("first level", "second level"))
        return first if which == "first" else second

    # -- one entry -------------------------------------------------------------------------------
    def line(self, entry: Mapping[str, Any]) -> Line:
        details = {k: v for k, v in entry.items() if k not in ("at", "action", "ticket")}
        action = str(entry.get("action", ""))
        route = details.get("route")
        say = self._says.get(action)
        if say is None:
            title, text, tone = action.replace("_", " ").capitalize() or "Entry", "", OK
        else:
            details["_route"] = route
            title, text, tone = say(details)
            details.pop("_route", None)
        fields = [
            (key.replace("_", " "), readable(value))
            for key, value in details.items()
            if value not in (None, "", [], {}) and not (key == "route" and len(self.routes) <= 1)
        ]
        return Line(
            at=str(entry.get("at", "")),
            ticket=self.ticket(entry.get("ticket", "")),
            action=action,
            title=title,
            text=text,
            fields=fields,
            tone=tone,
        )

    def lines(self, entries: list[dict[str, Any]]) -> list[Line]:
        return [self.line(e) for e in entries]

    # -- the sentences ---------------------------------------------------------------------------
    def _escalated(self, d: dict[str, Any]) -> tuple[str, str, str]:
        priority = d.pop("priority", None)
        text = f"to {self.ticket(d.pop('second', '?'))}"
        return "Escalated", text + (f", priority {priority}" if priority else ""), OK

    def _recovered(self, d: dict[str, Any]) -> tuple[str, str, str]:
        d.pop("priority", None)
        text = f"found {self.ticket(d.pop('second', '?'))}, created by an interrupted attempt"
        return "Escalation recovered", text, OK

    def _link_written(self, d: dict[str, Any]) -> tuple[str, str, str]:
        parts = []
        if "marked" in d:
            parts.append(f"reference {d.pop('marked')} written into the ticket")
        if "status" in d:
            parts.append(f"status {d.pop('status')}")
        if "note_id" in d:
            parts.append(f"link note {d.pop('note_id')} posted")
        d.pop("url", None)
        second = self.ticket(d.pop("second", "?"))
        return "Link written", f"to {second}" + (": " + ", ".join(parts) if parts else ""), OK

    def _changes(self, route: str | None, changes: Mapping[str, Any]) -> list[str]:
        out = []
        for key, value in changes.items():
            which, _, attr = str(key).partition("_")
            target = self.side(route, which) if which in ("first", "second") else which
            out.append(f"{target} {attr or key} {ARROW} {value}")
        return out

    def _synced(self, d: dict[str, Any]) -> tuple[str, str, str]:
        parts = []
        comments = d.pop("comments", [])
        if comments:
            parts.append("copied " + ", ".join(self.comment(c) for c in comments))
        changes = d.pop("changes", {})
        if isinstance(changes, Mapping) and changes:
            parts.append("set " + ", ".join(self._changes(d.get("_route"), changes)))
        refused = d.pop("not_copied", [])
        if refused:
            parts.append("held back " + ", ".join(self.comment(c) for c in refused))
        second = self.ticket(d.pop("second", "?"))
        return "Synced", f"with {second}" + (": " + "; ".join(parts) if parts else ""), OK

    def _comment_copied(self, d: dict[str, Any]) -> tuple[str, str, str]:
        target = str(d.pop("to", "?"))
        source, copy = self.comment(d.pop("from", "?")), self.comment(target)
        system = target.partition(":")[0]
        title = self.titles.get(system)
        if title and title.lower() == system.lower():
            title = None
        extras = ["public" if d.pop("public", False) else "internal"]
        files, left = int(d.pop("attachments", 0) or 0), int(d.pop("not_copied", 0) or 0)
        if files:
            extras.append(f"{files} file(s)")
        if left:
            extras.append(f"{left} file(s) left out")
        text = f"{source} {ARROW} {copy}" + (f" ({title})" if title else "")
        return "Comment copied", f"{text}, {', '.join(extras)}", OK

    def _not_copied(self, d: dict[str, Any]) -> tuple[str, str, str]:
        key = str(d.pop("from", "?"))
        target = d.pop("to", "?")
        if key.startswith(STATUS_ITEM):  # a status write the second level refused
            reason = str(d.pop("reason", "")).removeprefix("status not set: ")
            return "Status not set", f"on {self.system(str(target))}: {reason}", BAD
        source = self.comment(key)
        reason = str(d.pop("reason", "")).removeprefix("not copied: ")
        return "Not copied", f"{source} {ARROW} {target}: {reason}", BAD

    def _status_set(self, d: dict[str, Any]) -> tuple[str, str, str]:
        if "second_status" in d:
            where, status = self.side(d.get("_route"), "second"), d.pop("second_status")
        else:
            where, status = self.side(d.get("_route"), "first"), d.pop("status", "?")
        why = d.pop("why", None)
        return "Status set", f"{where} {ARROW} {status}" + (f" ({why})" if why else ""), OK

    def _status_restored(self, d: dict[str, Any]) -> tuple[str, str, str]:
        tracker, restored = d.pop("tracker_set", "?"), d.pop("restored", "?")
        text = f"the tracker changed it to {tracker} by itself; set back to {restored}"
        return "Status set back", text, OK

    def _missing(self, title: str, d: dict[str, Any]) -> tuple[str, str, str]:
        missing = d.pop("missing", {})
        if isinstance(missing, Mapping):
            names = [k if v == "missing" else f"{k} ({v})" for k, v in missing.items()]
        else:
            names = [readable(missing)]
        if "comment_id" in d:
            d["comment"] = d.pop("comment_id")
        return title, ", ".join(names) or "nothing", WAIT

    def _retry(self, d: dict[str, Any]) -> tuple[str, str, str]:
        left = d.pop("retries_left", None)
        text = str(d.pop("reason", ""))
        return "Will retry", text + (f" ({left} retries left)" if left is not None else ""), WAIT

    def _rate_limited(self, d: dict[str, Any]) -> tuple[str, str, str]:
        wait = d.pop("wait_s", "?")
        reason = d.pop("reason", "")
        return "Rate limited", f"waits {wait} s" + (f": {reason}" if reason else ""), WAIT

    def _held(self, d: dict[str, Any]) -> tuple[str, str, str]:
        scope, reason = d.pop("scope", "?"), d.pop("reason", "")
        return "Held", f"{scope} is paused" + (f" ({reason})" if reason else ""), WAIT

    def _agent_told(self, d: dict[str, Any]) -> tuple[str, str, str]:
        cause = str(d.pop("cause", "")).replace("_", " ")
        note = d.pop("note_id", None)
        text = f"internal note about: {cause}" + (f" (comment {note})" if note else "")
        return "Agent told", text, OK

    def _agent_not_told(self, d: dict[str, Any]) -> tuple[str, str, str]:
        cause = str(d.pop("cause", "")).replace("_", " ")
        return "Agent not told", f"{cause}: {d.pop('reason', '')}", BAD

    def _linked_by_operator(self, d: dict[str, Any]) -> tuple[str, str, str]:
        other = d.pop("second", None) or d.pop("first", "?")
        return "Linked by an operator", f"to {self.ticket(other)}", OK
