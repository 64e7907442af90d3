"""Maintenance windows on a real Redis, the sandboxes and real workers: a paused system gets
no request at all while webhooks are still taken, and after the resume every change made
meanwhile is applied exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bridge import keyspace
from bridge.cli import main
from bridge.cron import BridgeCronScheduler, schedule_polls
from bridge.exit_codes import ExitCode
from bridge.models import SystemRef
from bridge.pause import PauseStore, Scope, ScopeKind
from bridge.queue import get_queue
from bridge.records import PairKey
from bridge.registry import build_connector
from bridge.resume import resume, resume_due
from bridge.sandbox.stack import Stack
from bridge.stores import SyncLog
from tests.integration.ops_helpers import COMPLETE, DESCRIPTION

VENDOR = Scope(ScopeKind.SYSTEM, "vendor")
ACME = Scope(ScopeKind.ROUTE, "acme")


def bridge(stack: Stack, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(stack.config_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def escalate(stack: Stack, subject: str = "Checkout broken") -> int:
    return int(
        stack.zendesk.create_ticket_as(
            stack.zd_customer, subject, DESCRIPTION, custom_fields=COMPLETE
        )["id"]
    )


def note_texts(stack: Stack, issue_id: int) -> list[str]:
    return [n["text"] for n in stack.mantis.issue(issue_id).get("notes", [])]


def zd_bodies(stack: Stack, tid: int) -> list[str]:
    return [c["body"] for c in stack.zendesk.comments(tid)]


def actions(stack: Stack, tid: int) -> list[str]:
    return [e["action"] for e in SyncLog(stack.redis).timeline(SystemRef("helpdesk", str(tid)))]


def test_a_paused_system_gets_no_request_and_each_held_change_lands_once(
    tmp_path: Path, redis: Redis, redis_url: str
) -> None:
    with Stack(tmp_path, redis_url=redis_url) as stack:  # a real `bridge worker` process
        stack.poll()  # the first poll only sets the high-water mark
        tid = escalate(stack)
        assert stack.settle()
        (issue,) = stack.mantis.issues()
        iid = int(issue["id"])

        paused = bridge(stack, "pause", "--system", "vendor", "--reason", "MantisBT upgrade",
                        "--until", "2h")  # fmt: skip
        assert paused.exit_code == ExitCode.OK, paused.output
        assert "system vendor paused" in paused.output and "MantisBT upgrade" in paused.output
        stack.mantis.clear_log()
        sent_before = len(stack.zendesk.deliveries)

        # The maintenance window: both sides go on working.
        zd = stack.zendesk
        zd.update_ticket_as(stack.zd_customer, tid, comment="First reply during the upgrade.")
        zd.update_ticket_as(stack.zd_customer, tid, comment="Second reply during the upgrade.")
        stack.mantis.add_note_as(stack.mt_developer, iid, "Vendor note written in the window.")
        new_tid = escalate(stack, "Second problem, reported in the window")
        assert stack.poll().paused  # the test's own poll ...
        queue = get_queue(stack.redis, stack.config)
        queue.enqueue("bridge.jobs.poll_system", "vendor")  # ... and the cron's, in the worker
        assert stack.settle()

        assert stack.mantis.requests() == []  # not one request reached the paused system
        deliveries = stack.zendesk.deliveries[sent_before:]
        assert len(deliveries) == 3 and {d["status_code"] for d in deliveries} == {202}
        pauses = PauseStore(stack.redis)
        assert sorted(pauses.held(VENDOR)) == sorted(
            [PairKey("acme", str(tid)), PairKey("acme", str(new_tid))]
        )
        assert FailedJobRegistry(queue=queue).count == 0  # held, not failed
        assert ScheduledJobRegistry(queue=queue).count == 0  # ... and not retried
        assert actions(stack, tid).count("held") == 1  # one entry, however many events

        status = bridge(stack, "status", "--json")
        report = json.loads(status.output)
        (pause,) = report["pauses"]
        assert pause["scope"] == "system:vendor" and pause["reason"] == "MantisBT upgrade"
        assert pause["held"] == 2 and pause["since"] and pause["until"]
        vendor = next(s for s in report["systems"] if s["system"] == "vendor")
        assert vendor["paused"] and not vendor["silent"]
        assert not any("vendor" in p for p in report["problems"])
        text = bridge(stack, "status").output
        assert "PAUSED: system vendor paused" in text and "2 pair(s) held" in text

        resumed = bridge(stack, "resume", "--system", "vendor")
        assert resumed.exit_code == ExitCode.OK
        assert "resumed system vendor: 2 held sync(s) queued, a poll of vendor queued" in (
            resumed.output
        )
        assert stack.settle()

        notes = note_texts(stack, iid)
        for reply in ("First reply during the upgrade.", "Second reply during the upgrade."):
            assert sum(reply in n for n in notes) == 1, notes
        assert sum("Vendor note written in the window." in b for b in zd_bodies(stack, tid)) == 1
        issues = stack.mantis.issues()
        assert len(issues) == 2  # the ticket reported in the window, escalated once
        assert pauses.held(VENDOR) == [] and pauses.get(VENDOR) is None
        assert FailedJobRegistry(queue=queue).count == 0
        assert "resumed" in actions(stack, tid)
        status = json.loads(bridge(stack, "status", "--json").output)
        assert status["pauses"] == []


def test_a_paused_route_holds_its_syncs_but_its_systems_are_still_read(stack: Stack) -> None:
    stack.poll()
    tid = escalate(stack)
    assert stack.settle()
    (issue,) = stack.mantis.issues()
    assert bridge(stack, "pause", "--route", "acme", "--reason", "audit").exit_code == 0
    stack.mantis.clear_log()

    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Reply while acme waits.")
    stack.mantis.add_note_as(stack.mt_developer, issue["id"], "Vendor while acme waits.")
    result = stack.poll()  # a route pause leaves the vendor's polls alone (other routes)
    assert not result.paused and result.changes >= 1
    assert stack.settle()
    written = [r for r in stack.mantis.requests() if r["method"] != "GET"]
    assert written == []  # read by the poll, but nothing sent on the paused route
    assert PauseStore(stack.redis).held(ACME) == [PairKey("acme", str(tid))]

    out = bridge(stack, "resume", "--route", "acme").output
    assert "resumed route acme: 1 held sync(s) queued" in out and "poll" not in out
    assert stack.settle()
    assert sum("Reply while acme waits." in n for n in note_texts(stack, issue["id"])) == 1
    assert sum("Vendor while acme waits." in b for b in zd_bodies(stack, tid)) == 1


def test_a_retry_due_in_the_window_is_held_without_counting_as_a_try(stack: Stack) -> None:
    stack.poll()
    tid = escalate(stack)
    assert stack.settle()
    (issue,) = stack.mantis.issues()
    queue = get_queue(stack.redis, stack.config)

    stack.mantis.fail_next(3, status=503)  # the sync's read fails 3 times in the call: RQ retry
    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Copied after the window.")
    stack.zendesk.wait_for_deliveries()
    stack.work_burst()
    (retry_id,) = ScheduledJobRegistry(queue=queue).get_job_ids()
    PauseStore(stack.redis).pause(VENDOR, "emergency maintenance")
    stack.mantis.clear_log()

    assert stack.settle()  # the retry comes due and runs: held
    assert stack.mantis.requests() == []
    job = Job.fetch(retry_id, connection=stack.redis, serializer=JSONSerializer)
    assert job.return_value() == {"action": "held", "paused": "system:vendor"}
    assert FailedJobRegistry(queue=queue).count == 0

    connectors = {n: build_connector(s) for n, s in stack.config.systems.items()}
    drained = resume(stack.redis, stack.config, connectors, queue, VENDOR)
    assert len(drained.jobs) == 1 and drained.poll_job is not None
    assert stack.settle()
    assert sum("Copied after the window." in n for n in note_texts(stack, issue["id"])) == 1


def test_an_until_ends_the_pause_and_the_cron_tick_drains_it(stack: Stack) -> None:
    t0 = datetime(2030, 1, 31, 3, 0, tzinfo=UTC)
    now = [t0]
    pauses = PauseStore(stack.redis, clock=lambda: now[0])
    pauses.pause(VENDOR, "upgrade", until=t0 + timedelta(hours=2), by="test")
    assert pauses.hold([ACME, VENDOR], PairKey("acme", "7")) is not None
    queue = get_queue(stack.redis, stack.config)
    connectors = {n: build_connector(s) for n, s in stack.config.systems.items()}

    now[0] = t0 + timedelta(hours=1)
    assert resume_due(stack.redis, stack.config, connectors, queue, lambda: now[0]) == []
    assert pauses.system_paused("vendor") is not None

    now[0] = t0 + timedelta(hours=2)  # run out: no longer holds, even before the tick
    assert pauses.system_paused("vendor") is None
    assert pauses.hold([ACME, VENDOR], PairKey("acme", "8")) is None
    (done,) = resume_due(stack.redis, stack.config, connectors, queue, lambda: now[0])
    assert done.ended is not None and done.ended.reason == "upgrade"
    assert len(done.jobs) == 1 and done.poll_job is not None
    assert pauses.get(VENDOR) is None and pauses.held(VENDOR) == []
    job = Job.fetch(done.jobs[0], connection=stack.redis, serializer=JSONSerializer)
    assert job.args[:2] == ["acme", "7"]


def test_a_resume_cut_short_is_finished_by_the_next_tick(stack: Stack) -> None:
    pauses = PauseStore(stack.redis)
    pauses.pause(ACME, "x")
    assert pauses.hold([ACME], PairKey("acme", "1")) is not None
    assert pauses.unpause(ACME) is not None  # the resume removed the pause, then died
    assert pauses.hold([ACME], PairKey("acme", "2")) is None  # not paused: the sync goes ahead
    queue = get_queue(stack.redis, stack.config)
    (done,) = resume_due(stack.redis, stack.config, {}, queue)
    assert done.ended is None and len(done.jobs) == 1
    assert pauses.scopes_with_held() == []


def test_pause_and_resume_say_one_line_for_mistakes(stack: Stack) -> None:
    for args, says in (
        (("pause",), "name exactly one of --route or --system"),
        (("pause", "--route", "acme", "--system", "vendor"), "exactly one"),
        (("pause", "--system", "nope"), "no system 'nope' in the config (known: helpdesk, vendor)"),
        (("pause", "--route", "acme", "--until", "yesterday"), "neither an ISO time"),
        (("pause", "--route", "acme", "--until", "2001-01-01T00:00Z"), "not in the future"),
    ):  # fmt: skip
        result = bridge(stack, *args)
        assert result.exit_code == ExitCode.USAGE and says in result.output, result.output
        assert "Traceback" not in result.output
    out = bridge(stack, "resume", "--system", "vendor").output
    assert "system vendor was not paused; nothing to do" in out


def test_pause_json_and_the_pauses_list(stack: Stack) -> None:
    args = ("pause", "--system", "helpdesk", "--reason", "  Zendesk   migration ", "--json")
    data: dict[str, Any] = json.loads(bridge(stack, *args).output)
    assert data["scope"] == "system:helpdesk" and data["reason"] == "Zendesk migration"
    assert data["until"] is None and data["by"].startswith("cli")
    listed = {s["scope"]: s for s in json.loads(bridge(stack, "pauses", "--json").output)}
    assert listed["system:helpdesk"]["paused"] and not listed["route:acme"]["paused"]
    assert "system helpdesk paused" in bridge(stack, "pauses").output


def test_the_cron_registers_the_tick_and_its_job_ends_a_run_out_pause(stack: Stack) -> None:
    scheduler = BridgeCronScheduler(connection=stack.redis, name="t-cron")
    schedule_polls(scheduler, stack.config)
    assert "resume-pauses" in [job.name for job in scheduler._cron_jobs]

    long_ago = datetime(2001, 1, 1, tzinfo=UTC)  # a window that ended long before any "now"
    PauseStore(stack.redis, clock=lambda: long_ago).pause(
        ACME, "old window", until=long_ago + timedelta(hours=1)
    )
    assert (
        PauseStore(stack.redis).hold([ACME], PairKey("acme", "5")) is None
    )  # run out: not holding
    stack.redis.sadd(ACME.held_key, "acme|4")  # held while it was still on
    stack.redis.sadd(keyspace.HELD_SCOPES, str(ACME))
    queue = get_queue(stack.redis, stack.config)
    tick = queue.enqueue("bridge.jobs.resume_pauses")
    stack.work_burst()
    (done,) = Job.fetch(tick.id, connection=stack.redis, serializer=JSONSerializer).return_value()
    assert done["scope"] == "route:acme" and done["was_paused"] and len(done["jobs"]) == 1
    assert PauseStore(stack.redis).get(ACME) is None
