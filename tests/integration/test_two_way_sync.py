"""After escalation both sides keep working; the bridge keeps them in step. Sandbox Zendesk
webhooks and MantisBT polling, real Redis, real RQ jobs; checked in the sandboxes' state."""

from __future__ import annotations

from typing import Any

from rq.registry import FailedJobRegistry

from bridge.models import SystemRef
from bridge.ops.actions import resync
from bridge.ops.inspect import Inspector
from bridge.queue import get_queue
from bridge.records import PairKey
from bridge.sandbox.stack import CATEGORY, CUSTOMER_NUMBER, DOMAIN, MAY_CONTACT, Stack
from bridge.stores import MarkStore, SyncLog

COMPLETE = {CUSTOMER_NUMBER: "40711", DOMAIN: "shop.example.com", MAY_CONTACT: "kontakt_ja",
            CATEGORY: "technik"}  # fmt: skip


def escalate(stack: Stack) -> tuple[int, int]:
    stack.poll()  # the first poll only sets the high-water mark
    tid = stack.zendesk.create_ticket_as(
        stack.zd_customer, "Checkout broken", "Every order fails with error 500 since today.",
        custom_fields=COMPLETE, priority="normal",
    )["id"]  # fmt: skip
    assert stack.settle()
    (issue,) = stack.mantis.issues()
    return tid, issue["id"]


def notes(stack: Stack, issue_id: int) -> list[dict[str, Any]]:
    return stack.mantis.issue(issue_id).get("notes", [])


def zd_bodies(stack: Stack, tid: int) -> list[str]:
    return [c["body"] for c in stack.zendesk.comments(tid)]


def test_the_support_loop_runs_both_ways(stack: Stack) -> None:
    tid, iid = escalate(stack)
    zd, mt = stack.zendesk, stack.mantis

    assert zd.ticket(tid)["status"] == "hold"  # escalated: waiting on the vendor

    # The vendor asks for a retest and sets feedback: the agent gets the question as an
    # internal note (never the customer by default) and the ticket is open for them again.
    mt.add_note_as(stack.mt_developer, iid, "Please retest with build 2.4.1.")
    mt.add_note_as(stack.mt_developer, iid, "Internal: probably the cache.", private=True)
    mt.set_status_as(stack.mt_developer, iid, "feedback")
    stack.poll()
    assert stack.settle()
    ticket = zd.ticket(tid)
    assert ticket["status"] == "open"
    copied = [c for c in zd.comments(tid) if "Please retest" in c["body"]]
    assert len(copied) == 1 and copied[0]["public"] is False
    assert "Dana Developer" in copied[0]["body"] or "dev" in copied[0]["body"]
    assert not any("probably the cache" in b for b in zd_bodies(stack, tid))

    # The agent has asked the customer and waits on them.
    zd.update_ticket_as(stack.zd_agent, tid, status="pending")
    assert stack.settle()

    # The customer's retest note goes back and reopens the vendor issue.
    zd.update_ticket_as(stack.zd_customer, tid, comment="Retested: still fails.", status="open")
    assert stack.settle()
    issue = mt.issue(iid)
    assert issue["status"]["name"] == "assigned"
    retest = [n for n in notes(stack, iid) if "Retested: still fails." in n["text"]]
    assert len(retest) == 1 and retest[0]["view_state"]["name"] == "public"

    # The vendor resolves with a solution text: the helpdesk ticket is solved.
    mt.add_note_as(stack.mt_developer, iid, "Solution: clear the template cache.")
    mt.set_status_as(stack.mt_developer, iid, "resolved")
    stack.poll()
    assert stack.settle()
    assert zd.ticket(tid)["status"] == "solved"
    assert sum("Solution: clear the template cache." in b for b in zd_bodies(stack, tid)) == 1

    # The helpdesk closes. A resolved issue is read-only for a DEVELOPER bridge user, so it
    # stays resolved: the refused status is held back, the pair is not parked.
    zd.update_ticket_as(stack.zd_agent, tid, status="closed")
    assert stack.settle()
    assert mt.issue(iid)["status"]["name"] == "resolved"
    assert FailedJobRegistry(queue=get_queue(stack.redis, stack.config)).get_job_ids() == []
    (held,) = MarkStore(stack.redis).parked_items(PairKey("acme", str(tid))).values()
    assert held.key == "#status:vendor" and "MANAGER" in held.reason
    # With MANAGER (what closing needs) the next sync closes it.
    mt.set_access(stack.mt_bridge, "manager")
    resync(Inspector(stack.redis, stack.config), "helpdesk", str(tid))
    assert stack.settle()
    assert mt.issue(iid)["status"]["name"] == "closed"
    assert MarkStore(stack.redis).parked_items(PairKey("acme", str(tid))) == {}


def test_priority_changes_cross_and_nothing_echoes(stack: Stack) -> None:
    tid, iid = escalate(stack)
    stack.zendesk.update_ticket_as(stack.zd_agent, tid, priority="urgent")
    assert stack.settle()
    assert stack.mantis.issue(iid)["priority"]["name"] == "urgent"
    # Polls after the bridge's own writes change nothing on either side.
    before = (len(stack.zendesk.comments(tid)), len(notes(stack, iid)), stack.zendesk.ticket(tid))
    for _ in range(3):
        stack.poll()
        assert stack.settle()
    after = (len(stack.zendesk.comments(tid)), len(notes(stack, iid)), stack.zendesk.ticket(tid))
    assert after == before


def test_repeated_polls_and_webhooks_copy_each_comment_once(stack: Stack) -> None:
    tid, iid = escalate(stack)
    for n in range(3):
        stack.mantis.add_note_as(stack.mt_developer, iid, f"vendor note {n}")
        stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment=f"customer note {n}")
    for _ in range(3):
        stack.poll()
        assert stack.settle()
    for n in range(3):
        assert sum(f"vendor note {n}" in b for b in zd_bodies(stack, tid)) == 1
        assert sum(f"customer note {n}" in x["text"] for x in notes(stack, iid)) == 1


def test_a_file_refused_after_the_note_was_written_is_named_once_and_never_duplicated(
    stack: Stack,
) -> None:
    """PHP's upload limit on the MantisBT host is lower than anything its /config shows: 2.28
    creates the note, then answers `400 File 'x' too big`. The note is the copy (not written
    twice) and a note under it tells the vendor which file is missing."""
    tid, iid = escalate(stack)
    stack.mantis.upload_max_filesize = 1_000
    token = stack.zendesk.upload("trace.log", b"t" * 5_000, stack.first_level.url + "/")
    stack.zendesk.update_ticket_as(
        stack.zd_customer, tid, comment="Retest failed, trace attached.", uploads=[token]
    )
    assert stack.settle()
    for _ in range(2):  # later polls and syncs add nothing
        stack.poll()
        assert stack.settle()

    texts = [n["text"] for n in notes(stack, iid)]
    assert sum("Retest failed, trace attached." in t for t in texts) == 1
    named = [t for t in texts if "trace.log" in t]
    assert len(named) == 1 and "refused the file as too big" in named[0]
    assert all(not n.get("attachments") for n in notes(stack, iid))
    timeline = SyncLog(stack.redis).timeline(SystemRef("helpdesk", str(tid)))
    refusals = [e for e in timeline if e["action"] == "not_copied"]
    assert len(refusals) == 1 and "trace.log" in refusals[0]["reason"]
