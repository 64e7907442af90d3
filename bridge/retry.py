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
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rq import Retry

from bridge.errors import RateLimited, RetryableError

if TYPE_CHECKING:
    from bridge.config import Config

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


_SHARED_RNG = random.Random()


def retry_for(config: Config, rng: RandomSource = _SHARED_RNG) -> Retry:
    """RQ's Retry for one sync job: the configured fixed list if any, else the backoff."""
    fixed = list(config.retry_intervals)
    waits = fixed or intervals(config.retry, rng)
    return Retry(max=len(waits), interval=waits)


# Durations in the config: plain seconds (30, 1.5, "90") or a number with a unit. Written by
# hand because four suffixes do not justify a dependency.
_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from 30, 2.5, "90", "90s", "15m", "24h" or "2d"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError("use seconds, or a number with s, m, h or d (e.g. 90s, 15m, 24h)")
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


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
