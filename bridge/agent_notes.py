"""Internal notes that keep the helpdesk agent from guessing.

When an escalation or the sync of a ticket is parked, delayed past `queue.notify_agent_after`,
or a comment is held back, the agent sees nothing in the helpdesk: the ticket stays as it was.
So the bridge writes one internal note on the first-level ticket, with the reason in plain
words and what to do, and one when it works again. At most one note per cause: a marker per
pair and cause in the store says the agent was told, and recovery clears it. Each note goes
through the write-ahead scheme of every other write (writes.post_once), so a lost answer
never makes two.

A note to the agent must never change what the job does: a failure to write it is logged and
left for the next occasion (its marker stays unsure, so that one looks before posting).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from enum import StrEnum

from bridge.context import RouteContext
from bridge.errors import BridgeError
from bridge.models import NewComment, SystemRef
from bridge.rules import render
from bridge.texts import Language, side_language, system_title
from bridge.writes import UNSURE, post_once

log = logging.getLogger("bridge")


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


def _template(ctx: RouteContext, cause: NoteCause) -> str:
    lang = side_language(ctx.first.settings, ctx.language)
    own = ctx.mapping.texts(lang).agent_notes
    return own.get(cause.value) or DEFAULTS[lang][cause]


def _target(ctx: RouteContext, first_id: str) -> str:
    title = system_title(ctx.second.settings)
    link = ctx.store.get_link(ctx.name, first_id)
    return f"{title} #{link.second.id}" if link is not None else title


def _post(ctx: RouteContext, first_id: str, cause: NoteCause, body: str, unsure: bool) -> bool:
    """Write one internal note; False (logged) when the helpdesk did not take it."""
    ref = SystemRef(ctx.first.settings.name, first_id)
    try:
        note_id = post_once(
            ctx.first,
            first_id,
            NewComment(body, public=False),
            unsure=unsure,
            mark_unsure=lambda: ctx.store.set_agent_note(ctx.name, first_id, cause, UNSURE),
        )
    except BridgeError as exc:
        log.warning("note to the agent (%s) not written: %s", cause.value, exc)
        ctx.store.log(ref, "agent_not_told", {"route": ctx.name, "cause": cause.value,
                                              "reason": str(exc)})  # fmt: skip
        return False
    ctx.store.set_agent_note(ctx.name, first_id, cause, note_id)
    ctx.store.log(ref, "agent_told", {"route": ctx.name, "cause": cause.value, "note_id": note_id})
    return True


def tell_agent(ctx: RouteContext, first_id: str, cause: NoteCause, reason: str) -> bool:
    """One note per cause until it recovers; True when a note was written now."""
    mark = ctx.store.agent_notes(ctx.name, first_id).get(cause.value)
    if mark is not None and mark != UNSURE:
        return False  # told already
    body = render(_template(ctx, cause), {"target": _target(ctx, first_id), "reason": reason})
    return _post(ctx, first_id, cause, body, unsure=mark == UNSURE)


def _recover(
    ctx: RouteContext, first_id: str, causes: Iterable[NoteCause], note: NoteCause
) -> bool:
    marks = ctx.store.agent_notes(ctx.name, first_id)
    told = [c for c in causes if c.value in marks]
    if not told:
        return False
    body = render(_template(ctx, note), {"target": _target(ctx, first_id), "reason": ""})
    if not _post(ctx, first_id, note, body, unsure=marks.get(note.value) == UNSURE):
        return False
    ctx.store.clear_agent_notes(ctx.name, first_id, [*told, note])
    return True


def job_recovered(ctx: RouteContext, first_id: str) -> bool:
    """A job of the ticket succeeded: one note if the agent was told it was stuck."""
    return _recover(ctx, first_id, JOB_CAUSES, NoteCause.RECOVERED)


def job_stuck(ctx: RouteContext, first_id: str, reason: str, parked: bool) -> bool:
    """A job of the ticket parked (or retries past the threshold): tell the agent once."""
    if not parked:
        return tell_agent(ctx, first_id, NoteCause.DELAYED, reason)
    escalated = ctx.store.get_link(ctx.name, first_id) is not None
    cause = NoteCause.SYNC_PARKED if escalated else NoteCause.ESCALATION_PARKED
    return tell_agent(ctx, first_id, cause, reason)


def tell_about_items(ctx: RouteContext, first_id: str) -> None:
    """After a sync: a note while comments are held back, one when none is any more."""
    items = ctx.store.parked_items(ctx.name, first_id)
    if not items:
        _recover(ctx, first_id, (NoteCause.NOT_COPIED,), NoteCause.ITEMS_RECOVERED)
        return
    reasons = sorted({item.reason for item in items.values()})
    tell_agent(ctx, first_id, NoteCause.NOT_COPIED, "; ".join(reasons))
