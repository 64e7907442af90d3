"""A running stack per test: sandboxes, the real web app, the shared real Redis (flushed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.sandbox.stack import Stack


@pytest.fixture()
def stack(tmp_path: Path, redis: Redis, redis_url: str) -> Iterator[Stack]:
    """Jobs run in a burst worker inside the test (Stack.settle), so failures show here."""
    with Stack(tmp_path, redis_url=redis_url, worker_process=False) as s:
        yield s
