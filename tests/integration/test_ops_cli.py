"""Operator commands through click's CliRunner, against the real Redis and the sandboxes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import responses
from click.testing import CliRunner, Result
from rq.job import JobStatus

from bridge.cli import main
from bridge.models import Event, EventKind, SystemRef, TicketDraft
from bridge.queue import enqueue_sync, get_queue
from bridge.registry import build_connector
from bridge.sandbox.stack import CATEGORY, Stack
from tests.integration.ops_helpers import (
    COMPLETE,
    DESCRIPTION,
    bearer,
    ops_app,
    park_an_escalation,
)


def bridge(stack: Stack, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(stack.config_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_status_shows_queue_parked_jobs_and_sources(stack: Stack) -> None:
    park_an_escalation(stack)
    result = bridge(stack, "status")
    out = result.output
    assert (
        "queue bridge: 0 queued, 0 waiting for their ticket's slot, 0 running, 0 scheduled, "
        "1 parked, 0 failed"
    ) in out
    assert "PROBLEM: no live worker listens on queue bridge" in out
    assert "helpdesk" in out and "webhooks" in out
    assert "vendor" in out and "polled every 60 s" in out and "SILENT" in out  # never polled
    assert "PROBLEM: system vendor is SILENT: never heard from" in out
    assert result.exit_code == 1


def test_status_counts_jobs_waiting_for_their_ticket_s_slot(stack: Stack) -> None:
    """Two syncs of one ticket: the second waits for the first's slot (in neither the queue
    nor a registry), and both the text and the JSON say so."""
    queue = get_queue(stack.redis, stack.config)
    route = stack.config.routes[0]
    event = Event(SystemRef("helpdesk", "77"), EventKind.OTHER)
    enqueue_sync(queue, stack.config, route, event, job_id="tb-acme-first")
    second = enqueue_sync(queue, stack.config, route, event, job_id="tb-acme-second")
    assert second.get_status() == JobStatus.RATE_LIMITED
    out = bridge(stack, "status").output
    assert "queue bridge: 1 queued, 1 waiting for their ticket's slot, 0 running" in out
    queue_json = json.loads(bridge(stack, "status", "--json").output)["queue"]
    assert (queue_json["queued"], queue_json["waiting_slot"]) == (1, 1)
    page = ops_app(stack).test_client().get("/ops/", headers=bearer()).get_data(as_text=True)
    card = page.split('id="waiting-slot"', 1)[1].split("</div>", 1)[0]
    assert "<b>1</b>waiting for their ticket" in card


def test_failed_list_retry_and_discard(stack: Stack) -> None:
    tid = park_an_escalation(stack)
    listing = bridge(stack, "failed", "list").output
    (line,) = [row for row in listing.splitlines() if "parked" in row]
    job_id = line.split()[0]
    assert f"helpdesk#{tid}" in line and "403" in line
    assert bridge(stack, "failed", "retry").exit_code == 2  # needs an id or --all
    assert "queued again" in bridge(stack, "failed", "retry", job_id).output
    assert stack.settle()
    assert len(stack.mantis.issues()) == 1
    assert "no failed or parked jobs" in bridge(stack, "failed", "list").output
    assert bridge(stack, "failed", "retry", job_id).exit_code == 1  # not failed any more

    park_an_escalation(stack)
    assert "1 job(s) queued again" in bridge(stack, "failed", "retry", "--all").output
    stack.redis.flushdb()  # nothing left: discarding an unknown id says so
    assert "no job" in bridge(stack, "failed", "discard", "tb-nope").output


def test_discard(stack: Stack) -> None:
    park_an_escalation(stack)
    listing = bridge(stack, "failed", "list").output.splitlines()
    job_id = next(row for row in listing if "parked" in row).split()[0]
    assert "discarded" in bridge(stack, "failed", "discard", job_id).output
    assert "no failed or parked jobs" in bridge(stack, "failed", "list").output


def test_links_show_and_resync(stack: Stack) -> None:
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle()
    (issue,) = stack.mantis.issues()
    for system, ticket in (("helpdesk", tid), ("vendor", issue["id"])):
        out = bridge(stack, "links", "show", system, str(ticket)).output
        assert f"helpdesk#{tid} <-> vendor#{issue['id']} on route acme" in out
        assert f"Escalated: to vendor #{issue['id']} (MantisBT)" in out
        assert "Link written: " in out and f"Created: from helpdesk #{tid} (Zendesk)" in out
        assert "{" not in out  # sentences, not Python dicts
    assert bridge(stack, "links", "show", "vendor", "424242").exit_code == 1

    out = bridge(stack, "resync", "vendor", str(issue["id"])).output
    assert out.startswith("queued tb-acme-resync-")
    assert stack.settle()
    story = bridge(stack, "links", "show", "helpdesk", str(tid)).output
    assert "Resync: queued by an operator" in story and "In step: with vendor #" in story
    assert bridge(stack, "resync", "vendor", "424242").exit_code == 1


def test_link_existing_tickets_then_sync_writes_reference_and_note(stack: Stack) -> None:
    # Made by the bridge user, so no webhook fires: two tickets the bridge does not know yet.
    tid = stack.zendesk.create_ticket_as(stack.zd_bridge, "Old case", DESCRIPTION)["id"]
    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Context from before")
    assert stack.settle()
    vendor = build_connector(stack.config.systems["vendor"])
    issue = vendor.create_ticket(TicketDraft("Old case", "Filed by hand", project="Support",
                                             category="General"))  # fmt: skip
    out = bridge(stack, "link", "vendor", issue.ref.id, "helpdesk", str(tid)).output
    assert f"linked helpdesk#{tid} <-> vendor#{issue.ref.id} on route acme" in out
    assert "queued tb-acme-resync-" in out
    assert stack.settle()
    assert stack.zendesk.ticket(tid)["external_id"] == f"vendor:{issue.ref.id}"
    notes = [c for c in stack.zendesk.comments(tid) if c["author_id"] == stack.zd_bridge]
    assert any(issue.ref.id in c["body"] for c in notes)
    # The comment from before the link is history: it is not copied to MantisBT.
    assert all("Context from before" not in n.get("text", "")
               for n in stack.mantis.issue(int(issue.ref.id)).get("notes", []))  # fmt: skip
    again = bridge(stack, "link", "helpdesk", str(tid), "vendor", issue.ref.id)
    assert again.exit_code == 1 and "already linked" in again.output


def test_dry_run_shows_decisions_and_writes_nothing(stack: Stack, tmp_path: Path) -> None:
    zd = stack.zendesk
    complete = zd.create_ticket_as(stack.zd_bridge, "Checkout broken", DESCRIPTION,
                                   custom_fields=COMPLETE, priority="urgent")["id"]  # fmt: skip
    partial = zd.create_ticket_as(stack.zd_bridge, "Checkout broken", DESCRIPTION,
                                  custom_fields={CATEGORY: "technik"})["id"]  # fmt: skip
    before = stack.zendesk.comments(complete) + stack.zendesk.comments(partial)
    for tid, expected in (
        (complete, ["escalate to vendor", "payload: status=new", "summary:", "priority:",
                    "project:  Support", "field Kundennummer: 40711"]),
        (partial, ["missing_data_requested", "customer_number: missing", "would post one note"]),
    ):  # fmt: skip
        payload = tmp_path / f"{tid}.json"
        body = {"ticket_id": str(tid), "current_user_id": "5", "status": "New"}
        payload.write_text(json.dumps(body))
        out = bridge(stack, "dry-run", "helpdesk", str(payload)).output
        for text in expected:
            assert text in out, (text, out)
    assert stack.mantis.issues() == []
    assert stack.zendesk.comments(complete) + stack.zendesk.comments(partial) == before
    assert stack.zendesk.ticket(partial)["status"] != "pending"


@responses.activate
def test_check_config_online_reports_each_system(stack: Stack) -> None:
    """The sandboxes answer `users/me` themselves; faked answers show the failure modes."""
    zd = stack.config.systems["helpdesk"].url
    responses.add_passthru(zd)
    responses.add_passthru(stack.config.systems["vendor"].url)
    result = bridge(stack, "check-config", "--online")
    assert f"credentials of Ticket Bridge (id {stack.zd_bridge})" in result.output
    assert f"credentials of Ticket Bridge (id {stack.mt_bridge})" in result.output

    responses.get(f"{zd}/api/v2/users/me", json={"user": {"id": None, "name": "Anonymous user"}})
    result = bridge(stack, "check-config", "--online")
    assert result.exit_code == 1
    assert "  helpdesk: PROBLEMS" in result.output
    assert "answered as an anonymous user: the credentials are not accepted" in result.output
    responses.replace(
        responses.GET, f"{zd}/api/v2/users/me", json={"user": {"id": 5, "name": "Eve"}}
    )
    result = bridge(stack, "check-config", "--online")
    assert f"belong to Eve (id 5), but bridge_user is {stack.zd_bridge}" in result.output
    responses.replace(responses.GET, f"{zd}/api/v2/users/me", status=401,
                      json={"error": "Couldn't authenticate you"})  # fmt: skip
    result = bridge(stack, "check-config", "--online")
    assert result.exit_code == 1
    assert "helpdesk: FAILED" in result.output and "401" in result.output
    assert "zd-token" not in result.output


def test_worker_writes_json_logs_without_secrets_and_its_metrics_count(stack: Stack) -> None:
    stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION, custom_fields=COMPLETE)
    stack.zendesk.wait_for_deliveries(10)
    env = {**os.environ, "BRIDGE_LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "worker", "--burst", "--config",
         str(stack.config_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    (decision,) = [line for line in lines if line["message"].startswith("decision: escalated")]
    assert decision["system"] == "helpdesk" and decision["link"] == "acme"
    assert decision["ticket"] and decision["job"].startswith("tb-acme-")
    for secret in (stack.secret, "zd-token", "mantis-token"):
        assert secret not in done.stderr + done.stdout
    assert len(stack.mantis.issues()) == 1
    out = bridge(stack, "status").output
    assert "0 parked" in out
    raw = stack.redis.hget("tb:metrics:jobs", json.dumps(["acme", "synced"]))
    assert raw is not None and int(raw) == 1  # counted in the worker process, seen here
