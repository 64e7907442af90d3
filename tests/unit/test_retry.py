"""The retry schedule (capped exponential backoff with jitter over a horizon) and its config."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.durations import parse_duration
from bridge.errors import ConfigError, RateLimited, RetryableError
from bridge.queue import retry_for
from bridge.retry import Backoff, Unreachable, blame, intervals
from tests.unit.test_config import GOOD, write

DAY = 24 * 3600.0


def test_waits_double_from_base_up_to_the_cap_without_jitter() -> None:
    waits = intervals(Backoff(base=10, cap=300, horizon=DAY, jitter=0), random.Random(1))
    assert waits[:7] == [10, 20, 40, 80, 160, 300, 300]
    assert max(waits) == 300


def test_jitter_only_shortens_a_wait_and_by_at_most_the_fraction() -> None:
    policy = Backoff(base=10, cap=3600, horizon=DAY, jitter=0.2)
    for seed in range(50):
        waits = intervals(policy, random.Random(seed))
        for n, wait in enumerate(waits):
            ceiling = min(3600, 10 * 2**n)
            assert int(ceiling * 0.8) <= wait <= ceiling


def test_the_waits_fill_the_horizon_and_never_overrun_it() -> None:
    policy = Backoff(base=30, cap=3600, horizon=DAY, jitter=0.2)
    for seed in range(50):
        waits = intervals(policy, random.Random(seed))
        # Short of the horizon by less than one more wait (which would not have fitted).
        assert DAY - 3600 < sum(waits) <= DAY


def test_a_seeded_source_gives_the_same_schedule_and_others_differ() -> None:
    policy = Backoff(base=30, cap=3600, horizon=DAY, jitter=0.5)
    assert intervals(policy, random.Random(7)) == intervals(policy, random.Random(7))
    assert intervals(policy, random.Random(7)) != intervals(policy, random.Random(8))


def test_the_default_schedule_covers_a_day_in_a_few_dozen_tries(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={"ZD_TOKEN": "t"})
    retry = retry_for(config, random.Random(3))
    assert config.retry == Backoff()
    assert 25 <= retry.max <= 40 and len(retry.intervals) == retry.max
    assert DAY - 3600 < sum(retry.intervals) <= DAY


def test_a_horizon_of_two_one_second_waits_means_three_tries(tmp_path: Path) -> None:
    text = GOOD + "queue:\n  retry: {base: 1, cap: 1s, horizon: 2, jitter: 0}\n"
    retry = retry_for(load_config(write(tmp_path, text), env={"ZD_TOKEN": "t"}))
    assert (retry.max, retry.intervals) == (2, [1, 1])


def test_a_fixed_list_of_waits_is_still_honoured(tmp_path: Path) -> None:
    text = GOOD + "queue:\n  retry_intervals: [1, 2, 3]\n"
    retry = retry_for(load_config(write(tmp_path, text), env={"ZD_TOKEN": "t"}))
    assert (retry.max, retry.intervals) == (3, [1, 2, 3])


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30), (1.5, 1.5), ("90", 90), ("90s", 90), ("15m", 900), ("15 min", 900),
     ("24h", DAY), ("2d", 2 * DAY)],
)  # fmt: skip
def test_durations_are_seconds_or_a_number_with_a_unit(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-5", "5 weeks", True, -1])
def test_what_is_not_a_duration_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("lines", "key", "words"),
    [
        ("  retry: {horizon: soon}", "queue.retry.horizon", "not a duration"),
        ("  retry: {base: 60, cap: 30}", "queue.retry.cap", "shorter than base"),
        ("  retry: {base: 60, horizon: 30}", "queue.retry.horizon", "shorter than base"),
        ("  retry: {jitter: 1.5}", "queue.retry.jitter", "fraction"),
        ("  retry: {base: 1, cap: 1, horizon: 30d}", "queue.retry.horizon", "more than 500 tries"),
        ("  retry: {base: 0}", "queue.retry.base", "at least 1 second"),
        ("  retry_intervals: [1]\n  retry: {base: 5}", "queue.retry", "either retry"),
    ],
)
def test_a_bad_retry_setting_names_file_line_and_key(
    tmp_path: Path, lines: str, key: str, words: str
) -> None:
    path = write(tmp_path, GOOD + "queue:\n" + lines + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={"ZD_TOKEN": "t"})
    message = str(err.value)
    assert str(path) in message and key in message and words in message
    assert f"line {GOOD.count(chr(10)) + lines.count(chr(10)) + 2}:" in message  # retry's line


def test_blame_names_the_system_of_a_passing_fault_but_not_of_a_rate_limit() -> None:
    with pytest.raises(Unreachable) as err, blame("vendor"):
        raise RetryableError("GET issue failed: 500", maybe_applied=True)
    assert err.value.system == "vendor" and err.value.maybe_applied
    assert "500" in str(err.value)
    with pytest.raises(Unreachable) as inner, blame("helpdesk"), blame("vendor"):
        raise RetryableError("timeout")
    assert inner.value.system == "vendor"  # the innermost call is the one that failed
    with pytest.raises(RateLimited), blame("vendor"):
        raise RateLimited("slow down", retry_after=3)
