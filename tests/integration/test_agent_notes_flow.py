"""A vendor outage the agent hears about: delayed past `queue.notify_agent_after`, parked when
the retries give up, recovered after the next good poll; one note each, however many retries.
Real Redis, real RQ jobs, sandbox servers; the waits between tries are made due at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bridge.models import SystemRef
from bridge.sandbox.stack import Stack
from bridge.stores import SyncLog
from tests.integration.test_retest_loop import agent_notes
from tests.integration.test_retry_horizon import SHORT, end_outage, run_retries_now
from tests.integration.test_two_way_sync import escalate, notes


@pytest.fixture(params=[(0, ["delayed", "sync_parked", "recovered"]),
                        ("1h", ["sync_parked", "recovered"])])  # fmt: skip
def case(
    request: pytest.FixtureRequest, tmp_path: Path, redis: Redis, redis_url: str
) -> Iterator[tuple[Stack, list[str]]]:
    threshold, told = request.param
    queue = {**SHORT, "notify_agent_after": threshold}
    with Stack(tmp_path, redis_url=redis_url, worker_process=False, queue=queue) as s:
        yield s, told


def test_an_outage_is_told_once_per_cause_and_its_end_once(case: tuple[Stack, list[str]]) -> None:
    stack, told = case
    tid, iid = escalate(stack)
    stack.mantis.fail_next(60, status=500)
    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Retest: still failing.")
    assert stack.first_level.wait_for_deliveries(10)
    run_retries_now(stack)  # three tries, then the job gives up

    end_outage(stack)
    assert stack.poll("vendor").requeued == 1
    assert stack.settle()

    story = SyncLog(stack.redis).timeline(SystemRef("helpdesk", str(tid)))
    assert [e["cause"] for e in story if e["action"] == "agent_told"] == told
    bodies = [c["body"] for c in agent_notes(stack, tid)]
    assert len(bodies) == len(told)
    assert bodies[-1].startswith(f"The bridge works on this ticket again: MantisBT #{iid}")
    parked = bodies[-2]
    assert parked.startswith(f"This ticket is no longer kept in step with MantisBT #{iid}: ")
    assert "gave up after 3 attempts" in parked
    assert sum("Retest: still failing." in n["text"] for n in notes(stack, iid)) == 1
