"""Waiting for a condition in tests that drive real processes: bounded, never a timing claim."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60, step: float = 0.05) -> None:
    """Poll `check` until it holds; fail naming `what` after `seconds` (a generous bound for a
    loaded machine, not a measurement)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)
