"""What the bridge remembers in Redis, one small store per concept.

Each module keeps one kind of record and says why it is kept; every key is spelled by
bridge.keyspace. A caller that needs one store builds it from a Redis client; `Stores` only
carries them all for wiring (a job, the console), and has no methods of its own beyond
building them.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from bridge.records import PairStores
from bridge.stores.agent_notes import NoteStore
from bridge.stores.claims import ClaimStore
from bridge.stores.dedupe import IntakeStore
from bridge.stores.gave_up import GaveUpStore
from bridge.stores.links import LinkStore
from bridge.stores.marks import MarkStore
from bridge.stores.pair_state import PairStateStore
from bridge.stores.sync_log import SyncLog
from bridge.stores.waiting import WaitingStore

__all__ = [
    "ClaimStore",
    "GaveUpStore",
    "IntakeStore",
    "LinkStore",
    "MarkStore",
    "NoteStore",
    "PairStateStore",
    "Stores",
    "SyncLog",
    "WaitingStore",
]


@dataclass(frozen=True)
class Stores(PairStores):
    """Every store on one Redis: the ones a sync works with, the intake's and the gave-up sets."""

    links: LinkStore
    claims: ClaimStore
    waiting: WaitingStore
    state: PairStateStore
    marks: MarkStore
    notes: NoteStore
    log: SyncLog
    intake: IntakeStore
    gave_up: GaveUpStore

    @classmethod
    def of(cls, redis: Redis) -> Stores:
        return cls(
            links=LinkStore(redis),
            claims=ClaimStore(redis),
            waiting=WaitingStore(redis),
            state=PairStateStore(redis),
            marks=MarkStore(redis),
            notes=NoteStore(redis),
            log=SyncLog(redis),
            intake=IntakeStore(redis),
            gave_up=GaveUpStore(redis),
        )
