"""What `--until` and a pause scope accept; pure (the Redis side is in tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.pause import Pause, PauseError, Scope, ScopeKind, parse_until

NOW = datetime(2030, 1, 31, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW + timedelta(minutes=90)),
        ("2h", NOW + timedelta(hours=2)),
        ("2030-01-31T06:00:00Z", datetime(2030, 1, 31, 6, tzinfo=UTC)),
        ("2030-01-31T07:00:00+01:00", datetime(2030, 1, 31, 6, tzinfo=UTC)),
        ("2030-01-31T06:00", datetime(2030, 1, 31, 6, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_until_is_a_time_or_a_duration(text: str, expected: datetime) -> None:
    assert parse_until(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tomorrow", "neither an ISO time"),
        ("2030-01-31T02:00:00Z", "not in the future"),
        ("0s", "not in the future"),
    ],
)
def test_a_bad_until_says_why(text: str, says: str) -> None:
    with pytest.raises(PauseError, match=says):
        parse_until(text, NOW)


def test_scopes_parse_and_print() -> None:
    scope = Scope.parse("system:vendor")
    assert scope == Scope(ScopeKind.SYSTEM, "vendor") and str(scope) == "system:vendor"
    assert scope.label == "system vendor"
    for bad in ("vendor", "planet:x", "route:"):
        with pytest.raises(PauseError):
            Scope.parse(bad)


def test_a_pause_ends_at_its_until() -> None:
    pause = Pause(Scope(ScopeKind.ROUTE, "acme"), "upgrade", NOW, NOW + timedelta(hours=1))
    assert pause.active(NOW) and not pause.active(NOW + timedelta(hours=1))
    again = Pause.from_json(pause.scope, pause.to_json())
    assert again == pause
    assert Pause(pause.scope, "", NOW).active(NOW + timedelta(days=365))


def test_an_unreadable_record_still_pauses() -> None:
    pause = Pause.from_json(Scope(ScopeKind.SYSTEM, "vendor"), "not json")
    assert pause.active(NOW)
