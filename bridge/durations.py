"""Durations as people write them in the config and the console, and as they read them back.

`parse_duration` reads what an operator types ("15m", "24h"); `fmt_age` writes what an operator
reads ("12 min"). Both are below every layer that shows or takes a duration: the config, the
jobs (a park reason says how long they tried) and the console.
"""

from __future__ import annotations

import re

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


def fmt_age(seconds: float | None) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`: readable at a glance."""
    if seconds is None:
        return "never"
    s = int(max(0, seconds))
    if s < 90:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"
