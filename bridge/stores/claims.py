"""Escalation claims: the one job that is creating a pair's second-level ticket.

An escalation's create is the one write that cannot be looked up cheaply before it is sent
again, so a job claims the pair first and a second job finds the claim instead of creating a
second issue. The claim is released once the link records the create.
"""

from __future__ import annotations

import json
import time

from redis import Redis

from bridge import keyspace
from bridge.records import Claim, PairKey


class ClaimStore:
    """JSON {owner, at} per pair (keyspace.claim)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def claim_escalation(self, pair: PairKey, owner: str) -> Claim | None:
        # No expiry on purpose: a claim left by a worker that died mid-create must stay visible
        # (the job parks with a reason) instead of silently allowing a second issue.
        key = keyspace.claim(pair)
        value = json.dumps({"owner": owner, "at": time.time()})
        if self.redis.set(key, value, nx=True):
            return None
        raw = self.redis.get(key)
        if raw is None:
            return self.claim_escalation(pair, owner)
        data = json.loads(raw)
        return Claim(owner=data["owner"], at=float(data["at"]))

    def release_claim(self, pair: PairKey) -> None:
        self.redis.delete(keyspace.claim(pair))

    def take_over_claim(self, pair: PairKey, owner: str) -> None:
        self.redis.set(keyspace.claim(pair), json.dumps({"owner": owner, "at": time.time()}))
