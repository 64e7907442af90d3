"""Retries inside one HTTP call: which failures are tried again, how long to wait, when to stop.

tenacity absorbs short blips here (a few tries within seconds); longer outages and long
`Retry-After` waits go up to the job layer, which reschedules instead of holding a worker.
Kept apart from connectors.http so the policy reads in one place, next to the client that
applies it to every request and download.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.stop import stop_base

from bridge.errors import RateLimited, RetryableError
from connectors.transport import Deadline

# Short in-call retries only: a RateLimited with a long Retry-After goes up to the job layer,
# which reschedules instead of holding a worker.
MAX_INLINE_RETRY_AFTER = 2.0


def retry_inline(idempotent: bool) -> Callable[[BaseException], bool]:
    """Retry blips inside the call, but never repeat a write that may already have happened."""

    def decide(exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            return exc.retry_after <= MAX_INLINE_RETRY_AFTER
        if isinstance(exc, RetryableError):
            return idempotent or not exc.maybe_applied
        return False

    return decide


class OutOfTime(stop_base):
    """Stop retrying when the next try could not even start before the deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.deadline.remaining() <= (retry_state.upcoming_sleep or 0.0)


def retrying(idempotent: bool, deadline: Deadline, attempts: int, wait_max: float) -> Retrying:
    """At most `attempts` tries within `deadline`; a short RateLimited waits its Retry-After,
    anything else backs off exponentially up to `wait_max` seconds."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            return exc.retry_after
        return wait_exponential(multiplier=0.2, max=wait_max)(state)

    return Retrying(
        retry=retry_if_exception(retry_inline(idempotent)),
        stop=stop_after_attempt(attempts) | OutOfTime(deadline),
        wait=wait,
        sleep=time.sleep,
        reraise=True,
    )
