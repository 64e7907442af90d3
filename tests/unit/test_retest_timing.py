"""The customer's reply answers the vendor's question when it was written after the status
change, whatever else happened on the issue since: a vendor note after the reply moves the
issue's `updated_at`, not the time the question was asked (MantisBT's history tells that)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bridge.engine import handle_first_level
from connectors.mantis.parse import parse_issue
from tests.unit.test_retest import pair, status_writes
from tests.unit.test_sync import CUSTOMER, DEV, bodies, linked


def test_a_vendor_note_after_the_reply_does_not_make_the_reply_older_than_the_question() -> None:
    ctx, first, second, _store, issue = pair()
    handle_first_level(ctx, "1")  # in step: the baseline
    second.reporter_note_flips_to = "assigned"
    second.set(issue, status="feedback")  # the vendor asks
    asked = second.tickets[issue]
    second.tickets[issue] = replace(asked, status_changed_at=asked.updated_at)
    first.say("1", CUSTOMER, "Retest: still broken with build 2.4.1.")  # the customer answers
    second.say(issue, DEV, "Noted, looking at the logs.")  # the vendor writes again
    noted = second.tickets[issue]
    second.tickets[issue] = replace(noted, updated_at=second.comments[issue][-1].created_at)
    second.writes.clear()

    handle_first_level(ctx, "1")

    assert any("Retest: still broken" in b for b in bodies(second, issue))
    assert second.tickets[issue].status == "assigned"  # reopened for the answer
    assert status_writes(second) == ["assigned"]  # explicitly, before the note


def test_a_reply_written_before_the_question_still_reopens_nothing() -> None:
    ctx, first, second, _store, issue = pair()
    handle_first_level(ctx, "1")
    second.reporter_note_flips_to = "assigned"
    first.say("1", CUSTOMER, "Any news?")  # written before the vendor asked
    second.set(issue, status="feedback")
    asked = second.tickets[issue]
    second.tickets[issue] = replace(asked, status_changed_at=asked.updated_at)

    handle_first_level(ctx, "1")

    assert any("Any news?" in b for b in bodies(second, issue))
    assert second.tickets[issue].status == "feedback"  # the flip after the note is set back


def test_mantis_tells_when_the_status_changed_from_its_history() -> None:
    issue = {
        "id": 7, "summary": "s", "status": {"id": 20, "name": "feedback"},
        "updated_at": "2030-05-01T10:30:00+00:00",
        "history": [
            {"created_at": "2030-05-01T09:00:00+00:00", "field": {"name": "status"},
             "user": {"id": 2}},
            {"created_at": "2030-05-01T10:00:00+00:00", "field": {"name": "status"},
             "user": {"id": 2}},
            {"created_at": "2030-05-01T10:30:00+00:00", "type": {"name": "note-added"},
             "user": {"id": 2}},
        ],
    }  # fmt: skip
    ticket = parse_issue(issue, "vendor", "http://mantis.example")
    assert ticket.status_changed_at == datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    assert ticket.updated_at == datetime(2030, 5, 1, 10, 30, tzinfo=UTC)
    assert parse_issue({**issue, "history": []}, "vendor", "x").status_changed_at is None


def test_the_helpdesk_s_later_status_wins_over_an_earlier_vendor_change() -> None:
    """Both sides moved since the last sync: the later *status change* wins, not the side with
    the later note (the vendor's status at 1, the customer's reopen at 2, a vendor note at 3)."""
    ctx, first, second, _store, issue = linked()
    first.set("1", status="hold")
    handle_first_level(ctx, "1")  # in step: the baseline
    second.set(issue, status="feedback")
    asked = second.tickets[issue]
    second.tickets[issue] = replace(asked, status_changed_at=asked.updated_at)
    first.set("1", status="solved")  # the agent closes it meanwhile: the later change
    second.say(issue, DEV, "Noted.")
    noted = second.tickets[issue]
    second.tickets[issue] = replace(noted, updated_at=second.comments[issue][-1].created_at)

    handle_first_level(ctx, "1")

    assert first.tickets["1"].status == "solved"  # not set back to the vendor's mapped status
    assert second.tickets[issue].status == "resolved"  # the helpdesk's change went across
