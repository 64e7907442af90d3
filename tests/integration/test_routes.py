"""Every shipped route end to end: the sandboxes of each pair fire signed webhooks at the real
web endpoint (or are polled, MantisBT), jobs run in a real RQ worker on a real Redis, and the
checks read the sandboxes' own state through the stack's drivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.demo import run_demo
from bridge.models import SystemRef
from bridge.records import PairKey
from bridge.sandbox.drivers import Driver
from bridge.sandbox.stack import ROUTES, Stack
from bridge.stores import LinkStore, SyncLog


@pytest.fixture(params=list(ROUTES))
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, redis: Redis, redis_url: str
) -> Iterator[Stack]:
    with Stack(tmp_path, redis_url=redis_url, worker_process=False, route=request.param) as s:
        assert s.catch_up()  # a polled second level: the first poll sets the high-water mark
        yield s


def timeline(stack: Stack, system: str, ticket_id: int) -> list[str]:
    return [e["action"] for e in SyncLog(stack.redis).timeline(SystemRef(system, str(ticket_id)))]


# The first level's status once escalated, by the shipped mappings: Zendesk on-hold (waiting on
# a third party); Zammad has no such state by default.
ESCALATED = {"zendesk": "hold", "zammad": "open"}


def count(driver: Driver, ticket_id: int, text: str) -> int:
    return sum(text in c["body"] for c in driver.comments(ticket_id))


def test_escalation_asks_once_dedupes_and_escalates_when_complete(stack: Stack) -> None:
    first, second = stack.first_level, stack.second_level
    tid = first.open_ticket(False, priority="high")
    assert stack.catch_up()
    (asked,) = first.bridge_comments(tid)
    assert "Customer number" in asked["body"] and asked["public"] is False
    assert first.status(tid) == "open"  # the internal note asks the agent: not waiting on anyone
    assert second.issues() == []

    accepted = first.deliver(tid, "replayed-delivery")
    replayed = first.deliver(tid, "replayed-delivery")
    assert accepted.status_code == 202
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate"
    assert stack.catch_up()
    assert len(first.bridge_comments(tid)) == 1

    first.complete_ticket(tid)
    assert stack.catch_up()
    (issue,) = second.issues()
    assert second.find_issues(first.ticket_url(tid)) == [issue]
    assert issue["priority"] == second.priorities["high"]
    assert (issue["customer_number"], issue["domain"]) == ("40711", "shop.kunde.example")
    assert first.link_value(tid) == f"vendor:{issue['id']}"
    notes = [c for c in first.bridge_comments(tid) if second.ticket_url(issue["id"]) in c["body"]]
    assert len(notes) == 1 and notes[0]["public"] is False
    assert timeline(stack, "helpdesk", tid)[-3:] == ["escalated", "link_written", "in_sync"]


def test_sync_round_trip(stack: Stack) -> None:
    first, second = stack.first_level, stack.second_level
    tid = first.open_ticket(True, priority="normal")
    assert stack.catch_up()
    (issue,) = second.issues()
    iid = issue["id"]
    assert first.status(tid) == ESCALATED[first.kind]  # waiting on the vendor

    # The vendor asks (public), notes something internal and waits on the customer: the agent
    # gets the question as an internal note (never the customer by default), the ticket is open.
    second.comment(iid, "Please retest with build 2.4.1.")
    second.comment(iid, "Internal: probably the cache.", public=False)
    second.set_status(iid, second.ask_status)
    assert stack.catch_up()
    copied = [c for c in first.comments(tid) if "Please retest with build 2.4.1." in c["body"]]
    assert len(copied) == 1 and copied[0]["public"] is False
    assert count(first, tid, "probably the cache") == 0
    assert first.status(tid) == "open"

    # The customer answers on the first level: it reaches the vendor once, publicly.
    first.comment(tid, "Retested: still fails.")
    assert stack.catch_up()
    retest = [c for c in second.comments(iid) if "Retested: still fails." in c["body"]]
    assert len(retest) == 1 and retest[0]["public"] is True

    # More deliveries and polls change nothing on either side (no echo, no second copy).
    before = (first.comments(tid), second.comments(iid), first.status(tid), second.status(iid))
    for _ in range(2):
        assert stack.catch_up()
    after = (first.comments(tid), second.comments(iid), first.status(tid), second.status(iid))
    assert after == before


@pytest.mark.parametrize("extra", ["zendesk", "zammad"])
def test_two_helpdesks_into_one_tracker_never_collide(
    extra: str, tmp_path: Path, redis: Redis, redis_url: str
) -> None:
    """Routes "acme" (Zendesk) and "globex" both escalate their ticket #1 into one MantisBT."""
    with Stack(
        tmp_path, redis_url=redis_url, worker_process=False, extra_first_level=extra
    ) as stack:
        acme, globex, vendor = stack.first_level, stack.extra_level, stack.second_level
        assert globex is not None
        assert stack.catch_up()
        a = acme.open_ticket(True, subject="Acme checkout fails")
        b = globex.open_ticket(
            True,
            subject="Globex import hangs",
            data={"customer_number": "50001", "domain": "globex.example"},
        )
        assert a == b == 1
        assert stack.catch_up()

        assert len(vendor.issues()) == 2
        (ia,) = vendor.find_issues(acme.ticket_url(a))
        (ib,) = vendor.find_issues(globex.ticket_url(b))
        assert ia["id"] != ib["id"]
        assert (ia["customer_number"], ib["customer_number"]) == ("40711", "50001")
        assert acme.link_value(a) == f"vendor:{ia['id']}"
        assert globex.link_value(b) == f"vendor:{ib['id']}"

        store = LinkStore(stack.redis)
        link_a, link_b = (
            store.get_link(PairKey("acme", "1")),
            store.get_link(PairKey("globex", "1")),
        )
        assert link_a is not None and link_b is not None
        assert (link_a.first.system, link_a.second.id) == ("helpdesk", str(ia["id"]))
        assert (link_b.first.system, link_b.second.id) == ("helpdesk2", str(ib["id"]))
        assert store.first_for_second("acme", SystemRef("vendor", str(ib["id"]))) is None
        assert store.first_for_second("globex", SystemRef("vendor", str(ia["id"]))) is None
        assert stack.redis.exists("tb:link:acme:1", "tb:link:globex:1") == 2
        assert stack.redis.keys("tb:dedupe:helpdesk:*") and stack.redis.keys(
            "tb:dedupe:helpdesk2:*"
        )

        # A vendor note on acme's issue reaches acme's ticket #1 only.
        vendor.comment(ia["id"], "A note for Acme only.")
        assert stack.catch_up()
        assert count(acme, a, "A note for Acme only.") == 1
        assert count(globex, b, "A note for Acme only.") == 0


@pytest.mark.parametrize("route", [r for r in ROUTES if r != "zendesk-mantis"])
def test_demo_story_passes_on_route(
    route: str, tmp_path: Path, redis: Redis, redis_url: str
) -> None:
    """zendesk-mantis is played in test_escalation_flow.py."""
    lines: list[str] = []
    assert run_demo(tmp_path, echo=lines.append, redis_url=redis_url, route=route), "\n".join(lines)
    assert not any("FAIL" in line for line in lines)
