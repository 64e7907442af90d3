"""The retest loop against a sandbox MantisBT that behaves like a real 2.28: a note by the
issue's reporter (the bridge) flips `feedback` back to `assigned`/`new`, and resolved issues are
read-only for a DEVELOPER bridge user. Real Redis, real RQ jobs, Zendesk webhooks, polling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq.registry import FailedJobRegistry

from bridge.ops.actions import resync
from bridge.ops.inspect import Inspector
from bridge.queue import get_queue
from bridge.sandbox.stack import Stack
from tests.integration.ops_helpers import bearer, ops_app
from tests.integration.test_two_way_sync import escalate, notes
from tests.unit.helpers import SHIPPED


def statuses(stack: Stack, iid: int) -> list[tuple[str, str, str]]:
    """The issue's status history: (who, from, to)."""
    return [
        (str(h["user"]["id"]), h["old_value"], h["new_value"])
        for h in stack.mantis.issue(iid)["history"]
        if h.get("field", {}).get("name") == "status"
    ]


def agent_notes(stack: Stack, tid: int) -> list[dict[str, Any]]:
    """The bridge's internal notes on the helpdesk ticket other than the link note and copies."""
    return [
        c
        for c in stack.zendesk.comments(tid)
        if str(c["author_id"]) == str(stack.zd_bridge)
        and not c["public"]
        and "wrote:" not in c["body"]
        and not c["body"].startswith("Escalated")
    ]


def ask_for_feedback(stack: Stack, iid: int) -> None:
    stack.mantis.add_note_as(stack.mt_developer, iid, "Please retest with build 2.4.1.")
    stack.mantis.set_status_as(stack.mt_developer, iid, "feedback")
    stack.poll()
    assert stack.settle()


def test_a_reply_on_feedback_reopens_first_and_nothing_is_mirrored_back(stack: Stack) -> None:
    tid, iid = escalate(stack)
    ask_for_feedback(stack, iid)
    # The agent relays the question to the customer in public: that answers nothing, so the
    # vendor issue keeps waiting (MantisBT flipped it on the bridge's note; set back).
    stack.zendesk.update_ticket_as(stack.zd_agent, tid, comment="Could you retest with 2.4.1?")
    assert stack.settle()
    assert stack.mantis.issue(iid)["status"]["name"] == "feedback"
    assert sum("Could you retest" in n["text"] for n in notes(stack, iid)) == 1
    status_before = stack.zendesk.ticket(tid)["status"]

    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Retested: still fails.")
    assert stack.settle()

    issue = stack.mantis.issue(iid)
    assert issue["status"]["name"] == "assigned"
    # The bridge set it, explicitly, before its note: the tracker had nothing to flip.
    bridge = str(stack.mt_bridge)
    assert statuses(stack, iid)[-1] == (bridge, "feedback", "assigned")
    kinds = [h["type"]["name"] for h in issue["history"]]
    assert kinds[-1] == "note-added" and "field-updated" in kinds[-2:-1]
    assert sum("Retested: still fails." in n["text"] for n in notes(stack, iid)) == 1
    for _ in range(2):  # the polls that see the bridge's own change mirror nothing
        stack.poll()
        assert stack.settle()
    assert stack.zendesk.ticket(tid)["status"] == status_before


@pytest.fixture()
def internal_stack(tmp_path: Path, redis: Redis, redis_url: str) -> Iterator[Stack]:
    """A route that opts into copying the agents' internal notes to the vendor (private)."""
    lines = SHIPPED.read_text().splitlines()
    at = lines.index("  comments_to_second:            # Zendesk -> MantisBT") + 2
    assert lines[at].startswith("    internal: skip ")
    lines[at] = "    internal: internal"
    (tmp_path / "zendesk-mantis").write_text("\n".join(lines) + "\n")
    with Stack(tmp_path, redis_url=redis_url, worker_process=False) as s:
        yield s


def test_an_internal_note_while_the_vendor_waits_changes_no_status(internal_stack: Stack) -> None:
    stack = internal_stack
    tid, iid = escalate(stack)
    ask_for_feedback(stack, iid)
    helpdesk_status = stack.zendesk.ticket(tid)["status"]

    stack.zendesk.update_ticket_as(
        stack.zd_agent, tid, comment="Internal: customer is on holiday.", public=False
    )
    assert stack.settle()

    note = [n for n in notes(stack, iid) if "on holiday" in n["text"]]
    assert len(note) == 1 and note[0]["view_state"]["name"] == "private"
    # MantisBT flipped it on the bridge's note (to `new`: the issue has no handler); the bridge
    # set it back.
    bridge = str(stack.mt_bridge)
    assert statuses(stack, iid)[-2:] == [(bridge, "feedback", "new"), (bridge, "new", "feedback")]
    assert stack.mantis.issue(iid)["status"]["name"] == "feedback"
    for _ in range(2):
        stack.poll()
        assert stack.settle()
    assert stack.zendesk.ticket(tid)["status"] == helpdesk_status  # the flip never came back


def resolve(stack: Stack, tid: int, iid: int) -> None:
    stack.mantis.add_note_as(stack.mt_developer, iid, "Fixed in 2.4.2.")
    stack.mantis.set_status_as(stack.mt_developer, iid, "resolved")
    stack.poll()
    assert stack.settle()
    assert stack.zendesk.ticket(tid)["status"] == "solved"


def parked_jobs(stack: Stack) -> list[str]:
    return FailedJobRegistry(queue=get_queue(stack.redis, stack.config)).get_job_ids()


def test_retest_failed_on_a_read_only_issue_is_held_back_and_told_to_the_agent(
    stack: Stack,
) -> None:
    tid, iid = escalate(stack)
    resolve(stack, tid, iid)

    stack.zendesk.update_ticket_as(
        stack.zd_customer, tid, comment="Retest failed: still error 500.", status="open"
    )
    assert stack.settle()

    assert parked_jobs(stack) == []  # the pair keeps syncing
    assert stack.mantis.issue(iid)["status"]["name"] == "resolved"
    assert not any("Retest failed" in n["text"] for n in notes(stack, iid))
    (told,) = agent_notes(stack, tid)
    assert told["body"].startswith(f"Not passed on to MantisBT #{iid}: ")
    assert "resolved issue" in told["body"] and "MANAGER" in told["body"]
    assert "What to do:" in told["body"]
    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Any news?")
    assert stack.settle()
    assert len(agent_notes(stack, tid)) == 1  # one note per cause

    # The vendor gives the bridge user MANAGER; the operator resyncs the ticket.
    stack.mantis.set_access(stack.mt_bridge, "manager")
    resync(Inspector(stack.redis, stack.config), "helpdesk", str(tid))
    assert stack.settle()

    assert stack.mantis.issue(iid)["status"]["name"] == "assigned"
    for text in ("Retest failed: still error 500.", "Any news?"):
        assert sum(text in n["text"] for n in notes(stack, iid)) == 1
    assert agent_notes(stack, tid)[-1]["body"] == (
        f"Everything held back has now reached MantisBT #{iid}."
    )


def test_a_held_back_retest_arrives_by_itself_when_the_vendor_reopens(stack: Stack) -> None:
    tid, iid = escalate(stack)
    resolve(stack, tid, iid)
    stack.zendesk.update_ticket_as(
        stack.zd_customer, tid, comment="Retest failed: still error 500.", status="open"
    )
    assert stack.settle()
    assert not any("Retest failed" in n["text"] for n in notes(stack, iid))
    # The operator sees it held back on the ticket's page, with the reason and what comes next.
    page = ops_app(stack).test_client().get(f"/ops/search?ticket={tid}", headers=bearer())
    shown = page.get_data(as_text=True)
    assert "Held back" in shown and "resolved issue" in shown
    assert "by itself once the issue leaves resolved" in shown

    # The vendor reads the agent's relay and reopens; the next poll brings the reply over.
    stack.mantis.set_status_as(stack.mt_developer, iid, "assigned")
    stack.poll()
    assert stack.settle()

    assert sum("Retest failed: still error 500." in n["text"] for n in notes(stack, iid)) == 1
    assert agent_notes(stack, tid)[-1]["body"] == (
        f"Everything held back has now reached MantisBT #{iid}."
    )
    stack.poll()
    assert stack.settle()
    assert sum("Retest failed: still error 500." in n["text"] for n in notes(stack, iid)) == 1


def test_retest_failed_with_a_manager_bridge_user_reopens_then_posts(stack: Stack) -> None:
    stack.mantis.set_access(stack.mt_bridge, "manager")
    tid, iid = escalate(stack)
    resolve(stack, tid, iid)

    stack.zendesk.update_ticket_as(
        stack.zd_customer, tid, comment="Retest failed: still error 500.", status="open"
    )
    assert stack.settle()

    issue = stack.mantis.issue(iid)
    assert issue["status"]["name"] == "assigned"
    assert statuses(stack, iid)[-1] == (str(stack.mt_bridge), "resolved", "assigned")
    assert issue["history"][-1]["type"]["name"] == "note-added"  # the note after the reopen
    assert sum("Retest failed" in n["text"] for n in notes(stack, iid)) == 1
    assert agent_notes(stack, tid) == []


def test_a_parked_escalation_is_told_to_the_agent_once_and_its_recovery_too(
    stack: Stack,
) -> None:
    stack.poll()
    stack.mantis.fail_next(1, status=404)  # the create is refused for good
    from tests.integration.test_two_way_sync import COMPLETE

    tid = stack.zendesk.create_ticket_as(
        stack.zd_customer, "Checkout broken", "Every order fails with error 500 since today.",
        custom_fields=COMPLETE, priority="normal",
    )["id"]  # fmt: skip
    assert stack.settle()
    assert len(parked_jobs(stack)) == 1
    (told,) = agent_notes(stack, tid)
    assert told["body"].startswith("The escalation to MantisBT is on hold: ")
    assert "404" in told["body"] and "What to do:" in told["body"]

    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Any news?")
    assert stack.settle()  # the sandbox answers again: escalated now

    assert len(stack.mantis.issues()) == 1
    said = [c["body"] for c in agent_notes(stack, tid)]
    assert len(said) == 2 and said[1].startswith("The bridge works on this ticket again")
