"""A lock that cannot outlive its holder by more than its lease.

It expires by Redis's clock (a holder that is killed, or a Redis restart that replays it from
the AOF, blocks the next holder for at most `seconds`), and only its holder releases it (a
holder that overran its lease cannot delete the next holder's lock).
"""

from __future__ import annotations

import secrets

from redis import Redis

LEASE_SECONDS = 60

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A lock that expires by Redis's clock and is released only by its holder."""

    def __init__(
        self, redis: Redis, key: str, seconds: int = LEASE_SECONDS, holder: str = ""
    ) -> None:
        self.redis = redis
        self.key = key
        self.seconds = seconds
        # The holder's name first, so an operator (or the fault run) can see who holds it.
        self.token = f"{holder}:{secrets.token_hex(8)}"
        self._release = redis.register_script(_RELEASE)

    def acquire(self) -> bool:
        return bool(self.redis.set(self.key, self.token, nx=True, ex=self.seconds))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])
