"""The escalation story end to end: sandbox Zendesk fires signed webhooks at the real web
endpoint, jobs run in real RQ workers on a real Redis, and the sandboxes' state is checked."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bridge.demo import run_demo
from bridge.models import SystemRef
from bridge.queue import get_queue
from bridge.sandbox.stack import (
    CATEGORY,
    CUSTOMER_NUMBER,
    DOMAIN,
    MAY_CONTACT,
    Stack,
    post_zendesk_webhook,
)
from bridge.stores import SyncLog

COMPLETE = {CUSTOMER_NUMBER: "40711", DOMAIN: "shop.example.com", MAY_CONTACT: "kontakt_ja",
            CATEGORY: "technik"}  # fmt: skip
DESCRIPTION = "The checkout answers error 500 for every order since the update."


def bridge_comments(stack: Stack, ticket_id: int) -> list[dict]:  # type: ignore[type-arg]
    return [c for c in stack.zendesk.comments(ticket_id) if c["author_id"] == stack.zd_bridge]


def timeline(stack: Stack, ticket_id: int) -> list[str]:
    return [
        e["action"] for e in SyncLog(stack.redis).timeline(SystemRef("helpdesk", str(ticket_id)))
    ]


def test_incomplete_ticket_is_asked_once_then_escalates_when_completed(stack: Stack) -> None:
    zd, mt = stack.zendesk, stack.mantis
    tid = zd.create_ticket_as(stack.zd_customer, "Checkout broken", DESCRIPTION,
                              custom_fields={CATEGORY: "technik"})["id"]  # fmt: skip
    assert stack.settle()
    # The customer adds a comment: another webhook, same gaps -> no second request.
    zd.update_ticket_as(stack.zd_customer, tid, comment="Any news?")
    assert stack.settle()
    (asked,) = bridge_comments(stack, tid)
    assert "Customer number" in asked["body"] and "Domain" in asked["body"]
    assert asked["public"] is False
    assert zd.ticket(tid)["status"] == "open"  # the internal note asks the agent
    assert mt.issues() == []

    zd.update_ticket_as(stack.zd_agent, tid, custom_fields=COMPLETE)
    assert stack.settle()
    (issue,) = mt.issues()
    assert issue["priority"]["name"] == "normal"  # Zendesk had no priority: the default
    assert zd.ticket(tid)["external_id"] == f"vendor:{issue['id']}"
    # The customer's comment after the bridge's request goes along at escalation.
    assert timeline(stack, tid)[-5:] == ["missing_data_already_requested", "escalated",
                                         "link_written", "comment_copied", "synced"]  # fmt: skip
    assert sum("Any news?" in n["text"] for n in mt.issue(issue["id"])["notes"]) == 1


def test_own_writes_do_not_echo(stack: Stack) -> None:
    """Event-style webhooks (no trigger condition) fire for the bridge's writes too."""
    stack.zendesk.configure_webhook(
        f"{stack.bridge_url}/webhooks/helpdesk", stack.secret, style="event"
    )
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle()
    assert len(stack.mantis.issues()) == 1
    assert len(bridge_comments(stack, tid)) == 1  # the link note only
    assert "ignored_own_write" in timeline(stack, tid)


def test_permanent_error_parks_with_a_reason_and_is_not_retried(stack: Stack) -> None:
    stack.mantis.fail_next(1, status=403)
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle()
    failed = FailedJobRegistry(queue=get_queue(stack.redis, stack.config))
    (job_id,) = failed.get_job_ids()
    job = Job.fetch(job_id, connection=stack.redis, serializer=JSONSerializer)
    assert "403" in job.meta["park_reason"] and "create MantisBT issue" in job.meta["park_reason"]
    assert job.retries_left == 0
    assert stack.mantis.issues() == []
    assert timeline(stack, tid)[-2:] == ["parked", "agent_told"]  # an internal note says why


def test_outage_is_retried_until_it_succeeds(stack: Stack) -> None:
    # 3 in-call tries fail (tenacity), the RQ retry one second later succeeds.
    stack.mantis.fail_next(3, status=503)
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle(timeout=30)
    assert len(stack.mantis.issues()) == 1
    actions = timeline(stack, tid)
    assert "retry" in actions and actions[-3:] == ["escalated", "link_written", "in_sync"]


def test_rate_limit_waits_retry_after_without_losing_the_event(stack: Stack) -> None:
    stack.mantis.fail_next(1, status=429, retry_after=3)
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle(timeout=30)
    assert len(stack.mantis.issues()) == 1
    log = SyncLog(stack.redis).timeline(SystemRef("helpdesk", str(tid)))
    waits = [e for e in log if e["action"] == "rate_limited"]
    assert len(waits) == 1 and waits[0]["wait_s"] == 3


def test_concurrent_deliveries_with_real_worker_processes_create_one_issue(
    tmp_path: Path, redis: Redis, redis_url: str
) -> None:
    with Stack(tmp_path, redis_url=redis_url, worker_process=True) as stack:
        env = {**os.environ, "BRIDGE_CONFIG": str(stack.config_path)}
        second = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "worker", "--config", str(stack.config_path)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            # Created by the bridge user: the trigger excludes it, so only our deliveries count.
            tids = [
                stack.zendesk.create_ticket_as(
                    stack.zd_bridge, f"Crash {i}", DESCRIPTION, custom_fields=COMPLETE
                )["id"]
                for i in range(3)
            ]
            threads = [
                threading.Thread(
                    target=post_zendesk_webhook,
                    args=(stack, {"ticket_id": str(tid), "current_user_id": "1"}, f"{tid}-{n % 3}"),
                )
                for tid in tids
                for n in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert stack.settle(timeout=60)
        finally:
            second.terminate()
            second.wait(timeout=10)
        issues = stack.mantis.issues()
        assert len(issues) == 3
        for tid in tids:
            mine = [i for i in issues if f"/agent/tickets/{tid}\n" in i["description"] + "\n"]
            assert len(mine) == 1, tid
            notes = [c for c in bridge_comments(stack, tid) if "Escalated to" in c["body"]]
            assert len(notes) == 1, tid


def test_demo_story_passes(tmp_path: Path, redis: Redis, redis_url: str) -> None:
    lines: list[str] = []
    assert run_demo(tmp_path, echo=lines.append, redis_url=redis_url), "\n".join(lines)
    assert not any("FAIL" in line for line in lines)
