"""The seeds table reads the fault run's report as printed."""

from __future__ import annotations

from tests.faults.seeds import parse

REPORT = """\
faults injected      10: worker0 clock 10 min behind
lost                 0 []
duplicated           0 []
leaked               0 []
echo (extra copies)  0 []
inconsistent         1 ['#29/29 status open/resolved']
status order         7 (not in RESULT) ["#4/5 open/assigned"]
parked comments      26 ['refused0: 403']
settled              True, 59 s after the last change (129 s in all)
RESULT               FAIL
"""


def test_a_failing_report_gives_its_counts_and_what_failed() -> None:
    result = parse(4, REPORT)
    assert result.row() == "| 4 | 10 | 0 | 0 | 0 | 0 | 1 | 7 | 26 | 59 s | FAIL |"
    assert result.problems == ["inconsistent: ['#29/29 status open/resolved']"]


def test_a_passing_report_passes() -> None:
    text = REPORT.replace("1 ['#29/29 status open/resolved']", "0 []")
    text = text.replace("RESULT               FAIL", "RESULT               PASS")
    result = parse(1, text)
    assert result.passed and result.problems == []
