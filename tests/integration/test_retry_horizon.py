"""A remote that keeps failing: the job retries over its horizon, parks saying it gave up, and
is queued again after the system's next good poll. Real Redis, real RQ jobs, sandbox servers;
the waits between tries are skipped by making the scheduled retries due (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bridge.models import SystemRef
from bridge.ops.inspect import Inspector
from bridge.queue import get_queue
from bridge.records import PairKey
from bridge.sandbox.stack import Stack
from bridge.stores import GaveUpStore, SyncLog
from tests.integration.test_two_way_sync import escalate, notes

# Two waits of one second: three tries in all, then the job gives up.
SHORT = {"retry": {"base": 1, "cap": 1, "horizon": 2, "jitter": 0}}
OUTAGE = 60  # injected 500s, more than three tries use; the rest are drained when it ends


@pytest.fixture()
def stack(tmp_path: Path, redis: Redis, redis_url: str) -> Iterator[Stack]:
    with Stack(tmp_path, redis_url=redis_url, worker_process=False, queue=SHORT) as s:
        yield s


def run_retries_now(stack: Stack, rounds: int = 10) -> int:
    """Work the queue; whenever retries are scheduled, make them due at once (the scheduler
    step of a burst worker then queues them). Returns how many rounds had retries waiting."""
    scheduled = ScheduledJobRegistry(queue=get_queue(stack.redis, stack.config))
    for waited in range(rounds):
        stack.work_burst()
        waiting = scheduled.get_job_ids()
        if not waiting:
            return waited
        stack.redis.zadd(scheduled.key, dict.fromkeys(waiting, 0))
    raise AssertionError("the retries never ended")


def end_outage(stack: Stack) -> None:
    """Use up the injected faults, so the sandbox answers normally again (on an issue path:
    the site's meta reads, users/me among them, pass injected faults by)."""
    url = f"{stack.second_level.url}/api/rest/issues/0"
    for _ in range(OUTAGE):
        if requests.get(url, timeout=5).status_code != 500:
            return
    raise AssertionError("the outage did not end")


def actions(stack: Stack, tid: int) -> list[str]:
    return [e["action"] for e in SyncLog(stack.redis).timeline(SystemRef("helpdesk", str(tid)))]


def test_an_outage_longer_than_the_horizon_parks_and_is_requeued_when_it_ends(
    stack: Stack,
) -> None:
    tid, iid = escalate(stack)
    store, gave_up = SyncLog(stack.redis), GaveUpStore(stack.redis)
    stack.mantis.fail_next(OUTAGE, status=500)
    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Retest: still failing.")
    assert stack.first_level.wait_for_deliveries(10)

    assert run_retries_now(stack) == 2  # two scheduled retries after the first try

    failed = FailedJobRegistry(queue=get_queue(stack.redis, stack.config))
    (job_id,) = failed.get_job_ids()
    job = Job.fetch(job_id, connection=stack.redis, serializer=JSONSerializer)
    reason = job.meta["park_reason"]
    assert reason.startswith("gave up after 3 attempts over ") and "500" in reason
    assert job.meta["waits_for"] == "vendor"
    story = [
        e for e in store.timeline(SystemRef("helpdesk", str(tid))) if e["action"] != "agent_told"
    ]
    assert [e["action"] for e in story[-3:]] == ["retry", "retry", "parked"]
    assert story[-1]["reason"] == reason
    (shown,) = Inspector(stack.redis, stack.config).failed_jobs()
    assert shown.parked and shown.reason == reason and shown.waits_for == "vendor"
    assert gave_up.gave_up_on("vendor") == [PairKey("acme", str(tid))]
    assert not any("Retest: still failing." in n["text"] for n in notes(stack, iid))

    end_outage(stack)
    result = stack.poll("vendor")  # the reconciler's next poll of the system succeeds

    assert result.requeued == 1
    assert gave_up.gave_up_on("vendor") == []
    assert "requeued" in actions(stack, tid)
    assert stack.settle()
    assert sum("Retest: still failing." in n["text"] for n in notes(stack, iid)) == 1
    assert stack.poll("vendor").requeued == 0  # queued once, not at every poll
