"""The customer's reply answers the vendor's question when it was written after the status
change, whatever else happened on the issue since: a vendor note after the reply moves the
issue's `updated_at`, not the time the question was asked (MantisBT's history tells that)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bridge.engine import handle_first_level
from bridge.models import NewComment
from connectors.mantis.parse import parse_issue
from tests.unit.fakes import FakeConnector
from tests.unit.test_retest import pair, status_writes
from tests.unit.test_sync import AGENT, CUSTOMER, DEV, bodies, linked


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


class VendorActsMeanwhile(FakeConnector):
    """A tracker on which someone changes the status while the bridge's note lands: the vendor
    (a change of their own) or the tracker itself on the note's author's behalf (the flip)."""

    meanwhile: tuple[str, str] | None = None  # (status, by whom)

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        cid = super().add_comment(ticket_id, comment)
        if self.meanwhile is not None:
            status, by = self.meanwhile
            self.tickets[ticket_id] = replace(
                self.tickets[ticket_id], status=status, status_changed_by=by
            )
        return cid


def _while_a_note_lands(status: str, by: str) -> tuple[FakeConnector, FakeConnector, str]:
    ctx, first, plain, _store, issue = linked()
    second = VendorActsMeanwhile("vendor", kind="mantis", bridge_user="7")
    vars(second).update(vars(plain))  # the escalated issue and its notes
    ctx = replace(ctx, second=second)
    second.set(issue, status="feedback")  # the vendor asks
    handle_first_level(ctx, "1")
    second.meanwhile = (status, by)
    first.say("1", AGENT, "Relaying to the customer: please retest.")  # answers nothing
    handle_first_level(ctx, "1")
    second.meanwhile = None
    handle_first_level(ctx, "1")  # the next poll's sync
    return first, second, issue


def test_the_vendor_s_own_change_while_the_note_lands_is_kept_and_mirrored() -> None:
    first, second, issue = _while_a_note_lands("resolved", DEV)
    assert second.tickets[issue].status == "resolved"  # not set back to feedback
    assert first.tickets["1"].status == "solved"


def test_the_tracker_s_flip_on_the_bridge_s_behalf_is_set_back() -> None:
    first, second, issue = _while_a_note_lands("assigned", "7")
    assert second.tickets[issue].status == "feedback"
    assert first.tickets["1"].status == "open"  # the question stands
