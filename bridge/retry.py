"""How long a sync job keeps trying, and which system a passing fault came from.

An outage of a ticket system is measured in hours, not in a count of tries: the schedule is
capped exponential backoff with jitter that covers a configured horizon (default a day), so
a remote answering 500 all night is still retried in the morning, and the workers of many
pairs that failed together do not all come back in the same second. When the horizon is used
up the job parks with a reason (bridge.jobs), and the reconciler queues the pair again once
the system answers (bridge.polling).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from bridge.errors import RateLimited, RetryableError

MAX_TRIES = 500  # each job stores its intervals in Redis: keep that list small


class RandomSource(Protocol):
    """Where jitter comes from: `random.Random` (seeded in tests) satisfies it."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class Backoff:
    """Seconds: the first wait, the longest single wait, and the total time to keep trying.

    `jitter` is the fraction a wait may be shortened by at random (0.2: each wait lies in
    [0.8 * w, w]), so the cap is never exceeded and the horizon never overrun.
    """

    base: float = 30.0
    cap: float = 3600.0
    horizon: float = 24 * 3600.0
    jitter: float = 0.2

    def problem(self) -> tuple[str, str] | None:
        """(key, message) for a setting that cannot work, else None."""
        if self.base < 1:
            return "base", "must be at least 1 second"
        if self.cap < self.base:
            return "cap", "must not be shorter than base"
        if self.horizon < self.base:
            return "horizon", "must not be shorter than base"
        if not 0 <= self.jitter < 1:
            return "jitter", "must be a fraction from 0 up to (not including) 1"
        if self.horizon / (self.cap * (1 - self.jitter)) > MAX_TRIES:
            return "horizon", f"would take more than {MAX_TRIES} tries of cap; raise cap"
        return None


def intervals(policy: Backoff, rng: RandomSource) -> list[int]:
    """The waits between tries, whole seconds (RQ schedules by the second).

    Wait n is min(cap, base * 2**n), shortened by up to `jitter`; waits are added while their
    sum stays within the horizon. At least one wait, since the horizon is at least the base.
    """
    waits: list[int] = []
    total = 0
    while len(waits) < MAX_TRIES:
        ceiling = min(policy.cap, policy.base * 2 ** min(len(waits), 62))
        wait = max(1, math.floor(ceiling * (1 - policy.jitter * rng.random())))
        if waits and total + wait > policy.horizon:
            break
        waits.append(wait)
        total += wait
    return waits


class Unreachable(RetryableError):
    """A passing fault of one named system: the pair is queued again when it answers."""

    def __init__(self, system: str, cause: RetryableError) -> None:
        super().__init__(str(cause), maybe_applied=cause.maybe_applied)
        self.system = system


@contextmanager
def blame(system: str) -> Iterator[None]:
    """Name the system a retryable fault inside the block came from.

    RateLimited stays as it is: it is waited out (Retry-After), never given up on.
    """
    try:
        yield
    except (Unreachable, RateLimited):
        raise
    except RetryableError as exc:
        raise Unreachable(system, exc) from exc
