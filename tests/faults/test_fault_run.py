"""CI-sized fault run: a few hundred mixed changes while workers die (one right after taking
the maintenance lease, one running ten minutes behind), Redis restarts and hangs, and the remote
APIs fail, trickle and refuse one pair's comments. The large run is `python -m tests.faults.run`
(docs/fault-suite.md)."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import FaultRun, Plan


def test_nothing_is_lost_duplicated_or_echoed_under_faults(tmp_path: Path) -> None:
    report = FaultRun(tmp_path, Plan(tickets=12, events=240, workers=3, seed=11)).run()
    text = "\n".join(report.lines())
    print(text)  # the report of a passing run too (pytest -rP)
    assert report.settled, text
    assert report.lost == [] and report.duplicated == [], text
    assert report.leaked == [] and report.echo == [], text
    assert report.inconsistent == [], text
    assert report.failed_without_reason == [] and report.still_queued == 0, text
    assert sum(report.events_sent.values()) >= 200, text
    assert len(report.faults) == 10, text
    assert report.applied["comments copied"] > 100, text
    # The refused pair: its comments parked with the remote's reason, each once, not a job each.
    assert report.parked_comments, text
    assert all("403" in p and p.endswith("(refused 1x)") for p in report.parked_comments), text
    # ... and its agent told of them, once (a second note for one cause counts as duplicated).
    assert report.untold == [] and report.agent_notes["not_copied"] >= 1, text
    assert len(report.parked) <= 2, text
    assert report.slow_recovery == [] and len(report.recoveries) == 3, text
    # No live worker lost its job (worker0 runs ten minutes behind), no webhook given up on.
    assert report.live_reclaimed == [] and report.undelivered == [], text
    assert report.ok, text
