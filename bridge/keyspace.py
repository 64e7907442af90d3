"""Every Redis key the bridge writes, spelled in one place (as RQ's own `keys` are).

A running Redis holds these names: a changed spelling orphans data that is still in use (links,
pauses, metrics), so each family is spelled once here and pinned byte for byte by
tests/unit/test_keyspace.py. Each entry says what lives there and how long it stays. Keys RQ
owns (`rq:*`) are not spelled here: the bridge reaches them through RQ's public API.

No Redis client in here, only names: the planner's records and the ops views can import it.
Lua scripts that build keys at run time take their prefixes from here too.
"""

from __future__ import annotations

from bridge.models import SystemRef
from bridge.records import PairKey

PREFIX = "tb"


def _pair(family: str, pair: PairKey) -> str:
    return f"{PREFIX}:{family}:{pair.route}:{pair.first_id}"


def pair_member(pair: PairKey) -> str:
    """A pair as a member of the waiting and gave-up sets: `<route>:<first-level id>`.

    Routes never contain a colon (config names), so the id may."""
    return f"{pair.route}:{pair.first_id}"


def parse_pair_member(member: str) -> PairKey:
    route, _, first_id = member.partition(":")
    return PairKey(route, first_id)


# -- intake ---------------------------------------------------------------------------------
def dedupe(system: str, delivery_id: str) -> str:
    """A delivery seen: "pending" for PENDING_DELIVERY_TTL while its jobs are written, then the
    time it was taken, for `dedupe_ttl` (config)."""
    return f"{PREFIX}:dedupe:{system}:{delivery_id}"


LAST_SEEN = f"{PREFIX}:last_seen"
"""Hash: system -> when it was last heard from (webhook or poll), ISO time. Kept for good."""


def waiting_job(pair: PairKey) -> str:
    """The id of the pair's newest sync job; a later event for the pair is coalesced onto it
    while RQ says it still waits to run. Expires a day after it was set."""
    return _pair("waiting_job", pair)


def pair_slot(pair: PairKey) -> str:
    """RQ's per-key concurrency key of the pair's sync jobs (one runs at a time). RQ keeps its
    registries under `rq:rl:<this key>` and removes them once empty."""
    return _pair("pair", pair)


PAIR_SLOT_PREFIX = f"{PREFIX}:pair:"
"""What every `pair_slot` starts with: RQ's rate-limit registries of the bridge's pairs."""


# -- a pair's records (bridge.stores): kept as long as the link, none expires --------------------
def link(pair: PairKey) -> str:
    """Hash: the escalation (second-level ticket, url, follow-up writes done)."""
    return _pair("link", pair)


def reverse_link(route: str, second: SystemRef) -> str:
    """The first-level id a second-level ticket is linked to on a route (string)."""
    return f"{PREFIX}:rlink:{route}:{second.system}:{second.id}"


def claim(pair: PairKey) -> str:
    """JSON {owner, at}: the escalation being created. No expiry on purpose (a worker that died
    mid-create leaves it visible); deleted once the link is written."""
    return _pair("claim", pair)


def asked(pair: PairKey) -> str:
    """The mark of the missing data last asked for; deleted when nothing is asked."""
    return _pair("asked", pair)


def pair_state(pair: PairKey) -> str:
    """Hash: status and priority of both sides as last seen in step, the expected status."""
    return _pair("state", pair)


def comment_marks(pair: PairKey) -> str:
    """Hash: source comment key -> its mark (copied as, history, parked, unsure)."""
    return _pair("comments", pair)


def parked_items(pair: PairKey) -> str:
    """Hash: source comment key -> JSON of why it is not copied; removed when it is."""
    return _pair("parked_items", pair)


def agent_notes(pair: PairKey) -> str:
    """Hash: cause -> id of the note that told the agent; a cause leaves when it recovers."""
    return _pair("agent_notes", pair)


WAITING = f"{PREFIX}:waiting"
"""Zset: pair member -> first time its escalation waited for data; left when it escalates."""

WAITING_DETAIL = f"{PREFIX}:waiting:detail"
"""Hash: pair member -> JSON of what is missing; left with the `WAITING` entry."""


def gave_up(system: str) -> str:
    """Set of pair members that stopped retrying because `system` did not answer; each leaves
    once its sync is queued again after a good poll of the system."""
    return f"{PREFIX}:gave_up:{system}"


def sync_log(ref: SystemRef) -> str:
    """List: a ticket's sync log, newest first, trimmed to LOG_KEEP entries; no expiry."""
    return f"{PREFIX}:log:{ref.system}:{ref.id}"


# -- polling and request budgets ----------------------------------------------------------------
def poll_status(system: str) -> str:
    """Hash: the system's poll cursor and its last good poll (when, changes, took). Kept."""
    return f"{PREFIX}:poll:{system}"


def poll_lock(system: str) -> str:
    """Lease of the system's running poll (bridge.lease): expires after twice the interval."""
    return f"{PREFIX}:polllock:{system}"


def budget(system: str) -> str:
    """GCRA state of the system's request budget; expires a minute after its last slot."""
    return f"{PREFIX}:budget:{system}"


# -- pauses (bridge.pause, bridge.resume) --------------------------------------------------------
PAUSED = f"{PREFIX}:paused"
"""Hash: scope (`<kind>:<name>`) -> JSON of the pause; a field leaves when the pause ends."""

HELD_SCOPES = f"{PREFIX}:held_scopes"
"""Set of scopes that ever held a pair (at most one per route and system)."""


def held(scope: str) -> str:
    """Set of `<route>|<first-level id>` held while `scope` was paused; drained by a resume."""
    return f"{PREFIX}:held:{scope}"


def drain_lock(scope: str) -> str:
    """Lease of the resume that is queueing `scope`'s held pairs (DRAIN_LEASE seconds)."""
    return f"{PREFIX}:drainlock:{scope}"


# -- workers (bridge.maintenance) ----------------------------------------------------------------
PULSED = f"{PREFIX}:pulsed"
"""Set of worker names that keep a pulse (others: RQ's own liveness); a name leaves when the
worker stops in order or its RQ registration is gone."""

SUSPECTS = f"{PREFIX}:suspect_entries"
"""Hash: started-registry entry that looks abandoned but may be mid-change (it names no
worker, its worker runs another job, or its job's status already moved on) -> when first seen
(Redis time)."""


def alive(worker_name: str) -> str:
    """A worker's pulse, naming the job it runs ("" idle): expires PULSE_TTL seconds after its
    last beat."""
    return f"{PREFIX}:alive:{worker_name}"


def orphan_sweep(queue_name: str) -> str:
    """Timer: present while the queue's sweep for jobs in no queue or registry is not due."""
    return f"{PREFIX}:orphan_sweep:{queue_name}"


def orphan_suspects(queue_name: str) -> str:
    """Set of job ids the last sweep found in no queue or registry; requeued if the next one
    finds them so again."""
    return f"{PREFIX}:orphan_suspects:{queue_name}"


def maintenance(queue_name: str) -> str:
    """Lease of the queue's maintenance run (released by its holder, else expires)."""
    return f"{PREFIX}:maintenance:{queue_name}"


# -- telemetry and the operator console ----------------------------------------------------------
def metric(name: str) -> str:
    """Hash of one metric (counter fields, histogram buckets, timestamps); kept for good."""
    return f"{PREFIX}:metrics:{name}"


INBOX = f"{PREFIX}:inbox:"
"""What every failure-inbox key starts with; its Lua builds group keys from these prefixes."""

INBOX_OPEN = f"{INBOX}open"
"""Zset: open group id -> last seen; at most MAX_OPEN (bridge.failures.inbox)."""

INBOX_CLOSED = f"{INBOX}closed"
"""Zset: closed group id -> closed at; the newest CLOSED_KEPT are kept."""

INBOX_EPISODES = f"{INBOX}episodes"
"""Counter: every (re)opened group gets the next episode number."""

INBOX_GROUP = f"{INBOX}g:"
"""Prefix of a group's hash (`<prefix><gid>`); deleted when trimmed from the closed ones."""

INBOX_TICKETS = ":tickets"
"""Suffix of a group's zset of its newest tickets (`<group key><suffix>`); goes with it."""

INBOX_POLLS = f"{INBOX}polls:"
"""Prefix of a system's set of open poll groups (`<prefix><system>`)."""


def inbox_ticket(route: str, ticket: str) -> str:
    """A failing ticket's current group (`<gid>|<episode>|<job id>`); expires with the failed
    registry's retention (TICKET_TTL)."""
    return f"{INBOX}t:{route}:{ticket}"


def inbox_group(gid: str) -> str:
    return f"{INBOX_GROUP}{gid}"


def inbox_group_tickets(gid: str) -> str:
    return f"{inbox_group(gid)}{INBOX_TICKETS}"


def inbox_polls(system: str) -> str:
    return f"{INBOX_POLLS}{system}"


REJECTED = f"{INBOX}rejected"
"""List: the last KEPT refused webhooks, newest first (bridge.telemetry.rejected)."""

ALERTS_TOLD = f"{PREFIX}:alerts:told"
"""Hash: condition key -> JSON {at, kind, cooldown_key, condition} of a told condition; a field
leaves when its resolved message went out (or, unresolvable, when the condition ends)."""

ALERTS_LAST = f"{PREFIX}:alerts:last"
"""Hash: cooldown key -> when a message about it last went out; trimmed past the cooldown."""

ALERTS_HISTORY = f"{PREFIX}:alerts:history"
"""Hash: a kind (or `test`, `undelivered`) -> JSON of the last message sent; one field each."""

OPS_SESSION = f"{PREFIX}:ops:session:"
"""Prefix of a console session (Flask-Session, `<prefix><id>`); TTL `ops.session_lifetime`."""

OPS_LIMITS = f"{PREFIX}-ops"
"""Flask-Limiter's key prefix for the console's login limits (its moving windows expire)."""
