"""The bridge end to end into a live Redmine: a Zendesk sandbox as the first level, the real
web endpoint and RQ jobs on a real Redis, Redmine polled; checks read both systems' own state.

The bridge user's own journals (the copied customer reply, the link) come back in every poll:
they must never be copied back to the helpdesk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.sandbox.stack import Stack
from tests.redmine.driver import live_stack
from tests.redmine.live import LiveRedmine


@pytest.fixture
def stack(tmp_path: Path, redis: Redis, redis_url: str, redmine: LiveRedmine) -> Iterator[Stack]:
    with live_stack(tmp_path, redis_url, redmine, "zendesk-redmine") as s:
        yield s


def count(texts: list[dict[str, object]], needle: str) -> int:
    return sum(needle in str(c["body"]) for c in texts)


def test_escalation_and_sync_round_trip_with_a_real_redmine(stack: Stack) -> None:
    first, second = stack.first_level, stack.second_level
    tid = first.open_ticket(True, priority="high")
    assert stack.catch_up()
    (issue,) = second.issues()
    iid = issue["id"]
    assert (issue["project"], issue["category"]) == ("Bridge Test", "Support")
    assert (issue["customer_number"], issue["domain"]) == ("40711", "shop.kunde.example")
    assert issue["priority"] == "high"
    assert second.find_issues(first.ticket_url(tid)) == [issue]
    assert first.link_value(tid) == f"vendor:{iid}"
    assert first.status(tid) == "hold"  # waiting on the vendor

    # The vendor asks (public), notes something private and waits on the customer.
    second.comment(iid, "Please retest with build 2.4.1.")
    second.comment(iid, "Internal: probably the cache.", public=False)
    second.set_status(iid, "feedback")
    assert stack.catch_up()
    copied = [c for c in first.comments(tid) if "Please retest with build 2.4.1." in c["body"]]
    assert len(copied) == 1 and copied[0]["public"] is False  # the agent relays it
    assert count(first.comments(tid), "probably the cache") == 0
    assert first.status(tid) == "open"

    # The customer answers: it reaches Redmine once, as a public note of the bridge user ...
    first.comment(tid, "Retested: still fails.")
    assert stack.catch_up()
    retest = [c for c in second.comments(iid) if "Retested: still fails." in c["body"]]
    assert len(retest) == 1 and retest[0]["public"] is True
    assert retest[0]["author_id"] == second.bridge
    assert second.status(iid) == "in progress"  # open on the helpdesk: the vendor works again

    # ... and that journal, seen by every later poll, never comes back to the helpdesk.
    before = (first.comments(tid), second.comments(iid), first.status(tid), second.status(iid))
    for _ in range(2):
        assert stack.catch_up()
    after = (first.comments(tid), second.comments(iid), first.status(tid), second.status(iid))
    assert after == before
    assert count(first.comments(tid), "Retested: still fails.") == 1

    # The vendor resolves it: the helpdesk ticket is solved.
    second.set_status(iid, "resolved")
    assert stack.catch_up()
    assert first.status(tid) == "solved"
