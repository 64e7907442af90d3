"""A request budget per remote system, shared by every worker through Redis.

Zendesk allows a plan-wide number of requests per minute (200 to 2500); several worker processes
on several machines must stay under it together, or the account gets 429s for everyone. This is
GCRA (the generic cell rate algorithm) in one Lua script: each request reserves the next free
slot, so callers sleep just long enough and the budget is used evenly without a retry storm.
Written by hand because RQ's limits are about concurrent jobs, not requests per minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

from bridge import keyspace
from bridge.errors import RateLimited

# KEYS[1]: theoretical arrival time of the next request (float seconds, Redis clock).
# ARGV: interval (s per request), tolerance (s of burst), max_wait (s), now ('' = Redis's TIME:
# one clock for every worker, whatever their own clocks say).
# Returns the seconds to wait as a string; a negative value means "too long, nothing reserved".
_GCRA = """
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return tostring(-wait) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'EX', math.ceil(tat + interval - now) + 60)
return tostring(wait)
"""


class RequestBudget:
    """`acquire()` before each request: sleeps until the request fits the shared budget."""

    def __init__(
        self,
        redis: Redis,
        system: str,
        per_minute: float,
        burst: int = 1,
        max_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.01,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (epoch seconds) replaces Redis's clock; tests use it to pin time."""
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.key = keyspace.budget(system)
        self.system = system
        # Requests leave evenly spaced but arrive with network jitter; a remote that counts a
        # sliding minute would see 701 in 60 s now and then. 1 % slack absorbs ~0.6 s of it.
        self.interval = 60.0 / per_minute * (1 + margin)
        self.tolerance = self.interval * max(0, burst - 1)
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self._script = redis.register_script(_GCRA)

    def acquire(self) -> float:
        """Reserve a slot and wait for it; RateLimited when the wait would be too long.

        A long wait goes up to the job layer, which reschedules instead of holding a worker.
        """
        now = "" if self.clock is None else repr(self.clock())
        wait = float(self._script(keys=[self.key], args=[self.interval, self.tolerance,
                                                          self.max_wait, now]))  # fmt: skip
        if wait < 0:
            raise RateLimited(
                f"request budget of {self.system} is used up for {-wait:.1f} s", retry_after=-wait
            )
        if wait > 0:
            self.sleep(wait)
        return wait
