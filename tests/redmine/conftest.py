"""The live Redmine for this folder's tests: one fresh instance per test session.

Skipped, with the reason, only when Debian's packages are not installed or the session cannot
run them as www-data (not root); a Redmine that is installed but does not start is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redmine import live


@pytest.fixture(scope="session")
def redmine() -> Iterator[live.LiveRedmine]:
    missing = live.installed()
    if missing is not None:
        pytest.skip(missing)
    server = live.start()
    try:
        yield server
    finally:
        server.stop()
