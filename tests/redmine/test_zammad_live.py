"""The shipped zammad-redmine mapping end to end: the Zammad sandbox as the first level (its
webhooks into the real web endpoint), RQ jobs on a real Redis, the live Redmine polled; checks
read both systems' own state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.sandbox.drivers import Driver
from bridge.sandbox.stack import Stack
from tests.redmine.driver import live_stack
from tests.redmine.live import LiveRedmine


@pytest.fixture
def stack(tmp_path: Path, redis: Redis, redis_url: str, redmine: LiveRedmine) -> Iterator[Stack]:
    with live_stack(tmp_path, redis_url, redmine, "zammad-redmine") as s:
        yield s


def copies(driver: Driver, ticket_id: int, text: str) -> list[tuple[bool, int]]:
    """(public, author) of each comment on the ticket that carries `text`."""
    found = driver.comments(ticket_id)
    return [(bool(c["public"]), int(c["author_id"])) for c in found if text in str(c["body"])]


def test_a_zammad_ticket_escalates_into_redmine_and_comments_cross_both_ways(
    stack: Stack,
) -> None:
    helpdesk, vendor = stack.first_level, stack.second_level
    tid = helpdesk.open_ticket(True, priority="high")
    assert stack.catch_up()
    (issue,) = vendor.issues()
    iid = issue["id"]
    assert (issue["project"], issue["category"], issue["priority"]) == (
        "Bridge Test", "Support", "high"  # "3 high" through priority.map
    )  # fmt: skip
    assert (issue["customer_number"], issue["domain"]) == ("40711", "shop.kunde.example")
    assert helpdesk.link_value(tid) == f"vendor:{iid}"
    assert helpdesk.status(tid) == "open"  # escalated_status: Zammad has no third-party state

    # Redmine -> Zammad: the vendor asks; the agent gets it as an internal article by the bridge.
    vendor.comment(iid, "Please retest with build 2.4.1.")
    vendor.set_status(iid, "feedback")
    assert stack.catch_up()
    asked = copies(helpdesk, tid, "Please retest with build 2.4.1.")
    assert (asked, helpdesk.status(tid)) == ([(False, helpdesk.bridge)], "open")

    # Zammad -> Redmine: the customer answers; a public note of the bridge user, and the
    # vendor works again (the retest loop: `open` stands for `in progress`).
    helpdesk.comment(tid, "Retested: still fails.")
    assert stack.catch_up()
    answered = copies(vendor, iid, "Retested: still fails.")
    assert (answered, vendor.status(iid)) == ([(True, vendor.bridge)], "in progress")

    # Later polls see the bridge's own journal again and copy nothing back.
    state = [helpdesk.comments(tid), vendor.comments(iid), helpdesk.status(tid)]
    assert stack.catch_up()
    assert [helpdesk.comments(tid), vendor.comments(iid), helpdesk.status(tid)] == state
