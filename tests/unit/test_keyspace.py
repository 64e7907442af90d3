"""Every Redis key family keeps its exact spelling: a running Redis holds data under these names.

The table is the contract. A new family in bridge.keyspace fails `test_every_family_is_pinned`
until it is added here; a changed spelling fails `test_spelling`; a key spelled anywhere else in
bridge/ fails `test_no_key_is_spelled_outside_the_keyspace`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge import keyspace
from bridge.models import SystemRef
from bridge.records import PairKey

PAIR = PairKey("acme", "7")
ODD = PairKey("globex", "a:b")  # an id with a colon: only the route is split off

# name in bridge.keyspace -> (how to build the key, its exact bytes)
FAMILIES: dict[str, tuple[Callable[[], str], str]] = {
    "PREFIX": (lambda: keyspace.PREFIX, "tb"),
    "dedupe": (lambda: keyspace.dedupe("helpdesk", "inv-1"), "tb:dedupe:helpdesk:inv-1"),
    "LAST_SEEN": (lambda: keyspace.LAST_SEEN, "tb:last_seen"),
    "waiting_job": (lambda: keyspace.waiting_job(PAIR), "tb:waiting_job:acme:7"),
    "pair_slot": (lambda: keyspace.pair_slot(PAIR), "tb:pair:acme:7"),
    "PAIR_SLOT_PREFIX": (lambda: keyspace.PAIR_SLOT_PREFIX, "tb:pair:"),
    "link": (lambda: keyspace.link(PAIR), "tb:link:acme:7"),
    "reverse_link": (
        lambda: keyspace.reverse_link("acme", SystemRef("vendor", "42")),
        "tb:rlink:acme:vendor:42",
    ),
    "claim": (lambda: keyspace.claim(PAIR), "tb:claim:acme:7"),
    "asked": (lambda: keyspace.asked(PAIR), "tb:asked:acme:7"),
    "pair_state": (lambda: keyspace.pair_state(PAIR), "tb:state:acme:7"),
    "comment_marks": (lambda: keyspace.comment_marks(PAIR), "tb:comments:acme:7"),
    "parked_items": (lambda: keyspace.parked_items(PAIR), "tb:parked_items:acme:7"),
    "agent_notes": (lambda: keyspace.agent_notes(PAIR), "tb:agent_notes:acme:7"),
    "WAITING": (lambda: keyspace.WAITING, "tb:waiting"),
    "WAITING_DETAIL": (lambda: keyspace.WAITING_DETAIL, "tb:waiting:detail"),
    "gave_up": (lambda: keyspace.gave_up("vendor"), "tb:gave_up:vendor"),
    "sync_log": (lambda: keyspace.sync_log(SystemRef("helpdesk", "7")), "tb:log:helpdesk:7"),
    "poll_status": (lambda: keyspace.poll_status("vendor"), "tb:poll:vendor"),
    "poll_lock": (lambda: keyspace.poll_lock("vendor"), "tb:polllock:vendor"),
    "budget": (lambda: keyspace.budget("helpdesk"), "tb:budget:helpdesk"),
    "PAUSED": (lambda: keyspace.PAUSED, "tb:paused"),
    "HELD_SCOPES": (lambda: keyspace.HELD_SCOPES, "tb:held_scopes"),
    "held": (lambda: keyspace.held("route:acme"), "tb:held:route:acme"),
    "drain_lock": (lambda: keyspace.drain_lock("system:vendor"), "tb:drainlock:system:vendor"),
    "PULSED": (lambda: keyspace.PULSED, "tb:pulsed"),
    "SUSPECTS": (lambda: keyspace.SUSPECTS, "tb:suspect_entries"),
    "alive": (lambda: keyspace.alive("w1"), "tb:alive:w1"),
    "orphan_sweep": (lambda: keyspace.orphan_sweep("bridge"), "tb:orphan_sweep:bridge"),
    "orphan_suspects": (lambda: keyspace.orphan_suspects("bridge"), "tb:orphan_suspects:bridge"),
    "maintenance": (lambda: keyspace.maintenance("bridge"), "tb:maintenance:bridge"),
    "metric": (lambda: keyspace.metric("jobs"), "tb:metrics:jobs"),
    "INBOX": (lambda: keyspace.INBOX, "tb:inbox:"),
    "INBOX_OPEN": (lambda: keyspace.INBOX_OPEN, "tb:inbox:open"),
    "INBOX_CLOSED": (lambda: keyspace.INBOX_CLOSED, "tb:inbox:closed"),
    "INBOX_EPISODES": (lambda: keyspace.INBOX_EPISODES, "tb:inbox:episodes"),
    "INBOX_GROUP": (lambda: keyspace.INBOX_GROUP, "tb:inbox:g:"),
    "INBOX_TICKETS": (lambda: keyspace.INBOX_TICKETS, ":tickets"),
    "INBOX_POLLS": (lambda: keyspace.INBOX_POLLS, "tb:inbox:polls:"),
    "inbox_ticket": (lambda: keyspace.inbox_ticket("acme", "7"), "tb:inbox:t:acme:7"),
    "inbox_group": (lambda: keyspace.inbox_group("vendor-ab12"), "tb:inbox:g:vendor-ab12"),
    "inbox_group_tickets": (
        lambda: keyspace.inbox_group_tickets("vendor-ab12"),
        "tb:inbox:g:vendor-ab12:tickets",
    ),
    "inbox_polls": (lambda: keyspace.inbox_polls("vendor"), "tb:inbox:polls:vendor"),
    "REJECTED": (lambda: keyspace.REJECTED, "tb:inbox:rejected"),
    "ALERTS_TOLD": (lambda: keyspace.ALERTS_TOLD, "tb:alerts:told"),
    "ALERTS_LAST": (lambda: keyspace.ALERTS_LAST, "tb:alerts:last"),
    "ALERTS_HISTORY": (lambda: keyspace.ALERTS_HISTORY, "tb:alerts:history"),
    "OPS_SESSION": (lambda: keyspace.OPS_SESSION, "tb:ops:session:"),
    "OPS_LIMITS": (lambda: keyspace.OPS_LIMITS, "tb-ops"),
    # Members of the waiting and gave-up sets: stored data too.
    "pair_member": (lambda: keyspace.pair_member(ODD), "globex:a:b"),
}
NOT_KEYS = {"parse_pair_member", "annotations", "PairKey", "SystemRef"}

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_spelling(name: str) -> None:
    build, spelled = FAMILIES[name]
    assert build() == spelled


def test_every_family_is_pinned() -> None:
    public = {n for n in vars(keyspace) if not n.startswith("_")} - NOT_KEYS
    assert public == set(FAMILIES)


def test_a_member_reads_back_as_its_pair() -> None:
    assert keyspace.parse_pair_member(keyspace.pair_member(ODD)) == ODD
    assert keyspace.parse_pair_member(keyspace.pair_member(PAIR)) == PAIR


# A quoted string that starts like one of the bridge's keys, or RQ's: `"tb:`, `'tb:`, `f"tb:`,
# `"tb-ops` (Flask-Limiter's prefix) and `"rq:` (RQ's layout, reached through RQ's API only);
# or a key built from the bare prefix elsewhere (`f"{keyspace.PREFIX}:..."`).
STRAY = re.compile(r"""[rbf]?["'](?:tb:|tb-ops|rq:)|\bkeyspace\.PREFIX\b|import .*\bPREFIX\b""")


def test_no_key_is_spelled_outside_the_keyspace() -> None:
    found = [
        f"{path.relative_to(BRIDGE.parent)}:{n}: {line.strip()}"
        for path in sorted(BRIDGE.rglob("*.py"))
        if path.name != "keyspace.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if STRAY.search(line)
    ]
    assert found == []


def test_the_stray_check_sees_what_it_looks_for() -> None:
    for line in ('key = "tb:link:x"', "f'tb:{x}'", 'prefix="tb-ops"', "HGET 'rq:job:' .. id",
                 'f"{keyspace.PREFIX}:x"', "from bridge.keyspace import PREFIX"):  # fmt: skip
        assert STRAY.search(line), line
    for line in ('job_id=f"tb-{route}-x"', "tb: TracebackType", '"bridge.tb"'):
        assert not STRAY.search(line), line
