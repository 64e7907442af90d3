"""The intake's records: deliveries taken (dedupe keys), each pair's newest sync job, and when
each source was last heard from.

Kept apart from the pair's records because the web process and the poller write them before
any job runs, in one script and one transaction with the jobs (bridge.queue): a delivery
counts as received exactly when its jobs exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.client import Pipeline

from bridge import keyspace
from bridge.records import PairKey
from bridge.stores.values import text, text_map

WAITING_JOB_TTL = 24 * 3600  # a pair's newest job id is kept this long for coalescing

# How long a reserved dedupe key waits for its commit. Longer than any intake transaction
# takes; short enough that a sender's retry after a failed intake is accepted (senders retry
# after seconds to minutes), and shorter than the poll overlap window, so a poll that failed
# half-way dispatches the same changes again on its next run.
PENDING_DELIVERY_TTL = 30

# One round trip per webhook: dedupe the delivery, note when the source was last heard from,
# and read, per target pair, the id of its newest sync job (whether that job still waits to
# run is RQ's to say: bridge.queue asks it through RQ's API, so this script needs no knowledge
# of how RQ stores a job). The dedupe key is only *reserved* here ("pending", with a short
# expiry): it becomes final in the same transaction that writes the job (`commit_delivery`),
# so a crash or a hung Redis between the two never leaves a delivery marked as received
# without its job. A reservation that is never committed expires and the sender's retry is
# taken.
# KEYS[1] dedupe key, KEYS[2] last-seen hash, KEYS[3..] the pairs' waiting-job keys; ARGV:
# pending ttl, system, now. Returns 0 for a duplicate, -1 while another request is queueing
# the same delivery, else the pairs' newest job ids ('' for none).
_INTAKE = """
if redis.call('SET', KEYS[1], 'pending', 'NX', 'EX', tonumber(ARGV[1])) == false then
  if redis.call('GET', KEYS[1]) == 'pending' then return -1 end
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local out = {}
for i = 3, #KEYS do
  table.insert(out, redis.call('GET', KEYS[i]) or '')
end
return out
"""


@dataclass(frozen=True)
class Intake:
    duplicate: bool
    newest: tuple[str, ...] = ()  # per pair: the id of its newest sync job, "" for none
    in_progress: bool = False  # another request is queueing this delivery right now


class IntakeStore:
    """Dedupe keys, waiting-job ids and last-seen times on Redis (keys by bridge.keyspace)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._intake = redis.register_script(_INTAKE)

    def intake(self, system: str, delivery_id: str, pairs: Sequence[PairKey]) -> Intake:
        """Reserve a delivery and read the newest sync job of each pair it concerns.

        The reservation counts as received only once `commit_delivery` joins the transaction
        that writes the jobs.
        """
        keys = [keyspace.dedupe(system, delivery_id), keyspace.LAST_SEEN]
        keys += [keyspace.waiting_job(pair) for pair in pairs]
        args: list[Any] = [PENDING_DELIVERY_TTL, system, datetime.now(UTC).isoformat()]
        result = self._intake(keys=keys, args=args)
        if result == 0:
            return Intake(duplicate=True)
        if result == -1:
            return Intake(duplicate=False, in_progress=True)
        return Intake(False, tuple(text(x) for x in result))

    def commit_delivery(self, pipe: Pipeline, system: str, delivery_id: str, ttl: int) -> None:
        """Make a reserved delivery final, inside the transaction that writes its jobs."""
        pipe.set(keyspace.dedupe(system, delivery_id), datetime.now(UTC).isoformat(), ex=ttl)

    def note_waiting_job(self, pipe: Pipeline, pair: PairKey, job_id: str) -> None:
        """Remember the pair's newest job, inside the transaction that writes it, so later
        events for the pair can be coalesced onto it while it waits."""
        pipe.set(keyspace.waiting_job(pair), job_id, ex=WAITING_JOB_TTL)

    def release_reservations(self, taken: Sequence[tuple[str, str, Sequence[PairKey]]]) -> None:
        """Give back reserved deliveries and their pairs' waiting-job keys, in one round trip:
        (system, delivery id, pairs)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for system, delivery_id, pairs in taken:
                pipe.delete(keyspace.dedupe(system, delivery_id))
                for pair in pairs:
                    pipe.delete(keyspace.waiting_job(pair))
            pipe.execute()

    def touch_source(self, system: str) -> None:
        self.redis.hset(keyspace.LAST_SEEN, system, datetime.now(UTC).isoformat())

    def sources_seen(self) -> dict[str, str]:
        """System -> when it was last heard from (ISO time), for the systems ever heard from."""
        return text_map(self.redis.hgetall(keyspace.LAST_SEEN))
