"""Run a Python module with its wall clock off by some seconds, its monotonic clock untouched:
`python -m tests.faults.skewed -600 bridge.cli worker ...` is a worker ten minutes behind.

Why not faketime alone: libfaketime 0.9.10 (Debian's) breaks Python 3.11's timed waits on
thread primitives. With the monotonic clock faked, `Event.wait(timeout)` and
`Lock.acquire(timeout=...)` never return (Python waits with sem_clockwait on CLOCK_MONOTONIC,
which that libfaketime does not translate), so a worker's pulse thread beats once and stops,
and its live jobs are handed on for a reason that has nothing to do with its clock; with the
monotonic clock left alone (`--exclude-monotonic`), `time.sleep` fails with EINVAL. A machine
whose clock is wrong has a wrong wall clock and a right monotonic one, which is what this
does for Python code: `time.time`, `time.time_ns` and `datetime.now/utcnow/today` are skewed
(RQ's and the bridge's timestamps come from them), nothing else.
"""

from __future__ import annotations

import datetime as _datetime
import runpy
import sys
import time
from typing import Any

_real_time = time.time
_real_time_ns = time.time_ns
_BaseDatetime = _datetime.datetime


def skew(seconds: float) -> None:
    """From now on this process's wall clock reads `seconds` off (negative: behind)."""
    offset = _datetime.timedelta(seconds=seconds)

    class Meta(type):
        def __instancecheck__(cls, obj: object) -> bool:  # datetimes made in C count too
            return isinstance(obj, _BaseDatetime)

    class SkewedDatetime(_BaseDatetime, metaclass=Meta):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return _BaseDatetime.now(tz) + offset

        @classmethod
        def utcnow(cls) -> Any:
            return _BaseDatetime.utcnow() + offset

        @classmethod
        def today(cls) -> Any:
            return _BaseDatetime.today() + offset

    time.time = lambda: _real_time() + seconds
    time.time_ns = lambda: _real_time_ns() + int(seconds * 1e9)
    # Modules imported after this (RQ, the bridge) take the skewed class by name.
    _datetime.datetime = SkewedDatetime  # type: ignore[misc]


def main() -> None:
    seconds, module, *args = sys.argv[1:]
    skew(float(seconds))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
