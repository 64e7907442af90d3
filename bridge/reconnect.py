"""Waiting out a Redis outage: every long-running process (worker, cron, `bridge run`) comes
back by itself when Redis does, instead of exiting and staying down.

tenacity does the waiting (capped exponential backoff with jitter); the caller says when to
give up waiting (a stop was requested).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

log = logging.getLogger("bridge.reconnect")

WAIT_INITIAL = 0.5
WAIT_MAX = 15.0


def wait_for_redis(
    redis: Redis,
    stopping: Callable[[], bool] = lambda: False,
    what: str = "process",
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Block until Redis answers a PING; False if `stopping()` turned true meanwhile."""

    def give_up(state: RetryCallState) -> bool:
        return stopping()

    def tell(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s: Redis unreachable (%s); trying again in %.1f s", what, error, wait,
            extra={"attempt": state.attempt_number},
        )  # fmt: skip

    retrying = Retrying(
        retry=retry_if_exception_type(RedisError),
        wait=wait_exponential_jitter(multiplier=WAIT_INITIAL, max=WAIT_MAX),
        stop=give_up,
        sleep=sleep,
        before_sleep=tell,
    )
    try:
        retrying(redis.ping)
    except RetryError:
        return False
    return not stopping()
