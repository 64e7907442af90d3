"""Internal notes that keep the helpdesk agent from guessing: what to say, and when (a plan).

When an escalation or the sync of a ticket is parked, delayed past `queue.notify_agent_after`,
or a comment is held back, the agent sees nothing in the helpdesk: the ticket stays as it was.
So the bridge writes one internal note on the first-level ticket, with the reason in plain
words and what to do, and one when it works again. At most one note per cause: a marker per
pair and cause in the store says the agent was told, and recovery clears it. Each note goes
through the write-ahead scheme of every other write (its slot is the cause's marker), so a
lost answer never makes two. `bridge.agent_notes` runs these plans for the jobs.

A note to the agent must never change what the job does: a failure to write it is logged and
left for the next occasion (its marker stays unsure, so that one looks before posting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from bridge.errors import BridgeError
from bridge.marks import Unsure
from bridge.models import SystemRef
from bridge.rules import render
from bridge.snapshot import NotesSnapshot, RouteFacts
from bridge.steps import AgentNoteSlot, ClearAgentNotes, Guard, Log, NoteToAgent, Plan, Posted, ask
from bridge.texts import Language, side_language, system_title


class NoteCause(StrEnum):
    """Why the agent was told; also the key of the marker that says so."""

    ESCALATION_PARKED = "escalation_parked"
    SYNC_PARKED = "sync_parked"
    DELAYED = "delayed"
    NOT_COPIED = "not_copied"
    # The markers of a recovery note being written (write-ahead), one per group of causes.
    RECOVERED = "recovered"
    ITEMS_RECOVERED = "items_recovered"


JOB_CAUSES = (NoteCause.ESCALATION_PARKED, NoteCause.SYNC_PARKED, NoteCause.DELAYED)

# Placeholders: {target} (the vendor system, with the issue number once escalated), {reason}.
# A mapping may reword any of them under messages.<lang>.agent_notes.
DEFAULTS: Mapping[Language, Mapping[NoteCause, str]] = {
    Language.EN: {
        NoteCause.ESCALATION_PARKED: (
            "The escalation to {target} is on hold: {reason}\n"
            "The ticket is not escalated until this is fixed. What to do: pass this note to the "
            "bridge's operator; once the cause is fixed, they run `bridge resync` for this "
            "ticket. Until then, please look after the customer here."
        ),
        NoteCause.SYNC_PARKED: (
            "This ticket is no longer kept in step with {target}: {reason}\n"
            "Comments and status changes wait until this is fixed; nothing is lost. What to do: "
            "pass this note to the bridge's operator; once the cause is fixed, they run "
            "`bridge resync` for this ticket."
        ),
        NoteCause.DELAYED: (
            "{target} has not been reachable for the bridge for a while: {reason}\n"
            "The bridge keeps trying by itself; nothing written here is lost. What to do: "
            "nothing yet. If the customer is waiting, let them know the vendor's side is "
            "delayed."
        ),
        NoteCause.NOT_COPIED: (
            "Not passed on to {target}: {reason}\n"
            "Everything else keeps syncing. What to do: if the vendor's issue is resolved or "
            "closed, ask the vendor to reopen it (or have the bridge's user given the access "
            "level the README names); then the bridge's operator runs `bridge resync` for "
            "this ticket."
        ),
        NoteCause.RECOVERED: (
            "The bridge works on this ticket again: {target} is in step, and what waited has "
            "been passed on."
        ),
        NoteCause.ITEMS_RECOVERED: "Everything held back has now reached {target}.",
    },
    Language.DE: {
        NoteCause.ESCALATION_PARKED: (
            "Die Eskalation an {target} ist angehalten: {reason}\n"
            "Das Ticket wird erst eskaliert, wenn das behoben ist. Was tun: Geben Sie diese "
            "Notiz an den Betreiber der Bridge weiter; ist die Ursache behoben, führt er "
            "`bridge resync` für dieses Ticket aus. Bis dahin betreuen Sie den Kunden bitte hier."
        ),
        NoteCause.SYNC_PARKED: (
            "Dieses Ticket wird nicht mehr mit {target} abgeglichen: {reason}\n"
            "Kommentare und Statusänderungen warten, bis das behoben ist; nichts geht verloren. "
            "Was tun: Geben Sie diese Notiz an den Betreiber der Bridge weiter; ist die Ursache "
            "behoben, führt er `bridge resync` für dieses Ticket aus."
        ),
        NoteCause.DELAYED: (
            "{target} ist für die Bridge seit einer Weile nicht erreichbar: {reason}\n"
            "Die Bridge versucht es selbst weiter; was hier geschrieben wird, geht nicht "
            "verloren. Was tun: vorerst nichts. Wartet der Kunde, sagen Sie ihm, dass sich die "
            "Antwort des Herstellers verzögert."
        ),
        NoteCause.NOT_COPIED: (
            "Nicht an {target} weitergegeben: {reason}\n"
            "Alles andere wird weiter abgeglichen. Was tun: Ist das Ticket beim Hersteller "
            "gelöst oder geschlossen, bitten Sie den Hersteller, es wieder zu öffnen (oder "
            "lassen Sie dem Benutzer der Bridge die im README genannte Zugriffsstufe geben); "
            "danach führt der Betreiber der Bridge `bridge resync` für dieses Ticket aus."
        ),
        NoteCause.RECOVERED: (
            "Die Bridge arbeitet wieder an diesem Ticket: {target} ist auf dem aktuellen Stand, "
            "und was gewartet hat, ist weitergegeben."
        ),
        NoteCause.ITEMS_RECOVERED: "Alles Zurückgehaltene ist jetzt bei {target} angekommen.",
    },
}


def _template(facts: RouteFacts, cause: NoteCause) -> str:
    lang = side_language(facts.first.settings, facts.language)
    own = facts.mapping.texts(lang).agent_notes
    return own.get(cause.value) or DEFAULTS[lang][cause]


def _target(facts: RouteFacts, snap: NotesSnapshot) -> str:
    title = system_title(facts.second.settings)
    return f"{title} #{snap.link.second.id}" if snap.link is not None else title


def _post(
    facts: RouteFacts, first_id: str, cause: NoteCause, body: str, unsure: bool
) -> Plan[bool]:
    """Write one internal note; False (logged) when the helpdesk did not take it."""
    ref = SystemRef(facts.first.settings.name, first_id)
    guard = Guard(AgentNoteSlot(cause.value), unsure=unsure)
    try:
        posted = yield from ask(NoteToAgent(first_id, body, guard), Posted)
    except BridgeError as exc:
        yield Log(ref, "agent_not_told", {"route": facts.name, "cause": cause.value,
                                          "reason": str(exc)},
                  warning=f"note to the agent ({cause.value}) not written: {exc}")  # fmt: skip
        return False
    yield Log(ref, "agent_told", {"route": facts.name, "cause": cause.value, "note_id": posted.id})
    return True


def tell_agent(
    facts: RouteFacts, snap: NotesSnapshot, first_id: str, cause: NoteCause, reason: str
) -> Plan[bool]:
    """One note per cause until it recovers; True when a note was written now."""
    mark = snap.notes.get(cause.value)
    if mark is not None and not isinstance(mark, Unsure):
        return False  # told already
    body = render(_template(facts, cause), {"target": _target(facts, snap), "reason": reason})
    return (yield from _post(facts, first_id, cause, body, unsure=mark is not None))


def _recover(
    facts: RouteFacts,
    snap: NotesSnapshot,
    first_id: str,
    causes: Iterable[NoteCause],
    note: NoteCause,
) -> Plan[bool]:
    told = [c for c in causes if c.value in snap.notes]
    if not told:
        return False
    body = render(_template(facts, note), {"target": _target(facts, snap), "reason": ""})
    unsure = isinstance(snap.notes.get(note.value), Unsure)
    if not (yield from _post(facts, first_id, note, body, unsure=unsure)):
        return False
    yield ClearAgentNotes(tuple(c.value for c in [*told, note]))
    return True


def job_recovered(facts: RouteFacts, snap: NotesSnapshot, first_id: str) -> Plan[bool]:
    """A job of the ticket succeeded: one note if the agent was told it was stuck."""
    return (yield from _recover(facts, snap, first_id, JOB_CAUSES, NoteCause.RECOVERED))


def job_stuck(
    facts: RouteFacts, snap: NotesSnapshot, first_id: str, reason: str, parked: bool
) -> Plan[bool]:
    """A job of the ticket parked (or retries past the threshold): tell the agent once."""
    if not parked:
        return (yield from tell_agent(facts, snap, first_id, NoteCause.DELAYED, reason))
    cause = NoteCause.SYNC_PARKED if snap.link is not None else NoteCause.ESCALATION_PARKED
    return (yield from tell_agent(facts, snap, first_id, cause, reason))


def tell_about_items(facts: RouteFacts, snap: NotesSnapshot, first_id: str) -> Plan[None]:
    """After a sync: a note while comments are held back, one when none is any more."""
    if not snap.parked:
        yield from _recover(facts, snap, first_id, (NoteCause.NOT_COPIED,),
                            NoteCause.ITEMS_RECOVERED)  # fmt: skip
        return
    reasons = sorted({item.reason for item in snap.parked.values()})
    yield from tell_agent(facts, snap, first_id, NoteCause.NOT_COPIED, "; ".join(reasons))
