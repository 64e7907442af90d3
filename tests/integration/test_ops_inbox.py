"""The failure inbox in the console (Flask test client) and the CLI, on a real Redis with real
jobs: groups, filters, group retry and discard behind a confirmation, rejected webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from markupsafe import escape
from rq.registry import FailedJobRegistry

from bridge.cli import main
from bridge.failures.causes import classify
from bridge.failures.inbox import Inbox
from bridge.failures.inbox_model import Failure, Kind, Outcome
from bridge.queue import get_queue
from bridge.sandbox.stack import Stack, post_zendesk_webhook
from tests.integration.ops_helpers import COMPLETE, DESCRIPTION, OPS, bearer, csrf_of, ops_app


def failed_ids(stack: Stack) -> list[str]:
    return FailedJobRegistry(queue=get_queue(stack.redis, stack.config)).get_job_ids()


def park_three(stack: Stack) -> list[int]:
    """Three complete tickets whose MantisBT creates are refused with 403: one cause."""
    stack.mantis.fail_next(3, status=403)
    tids = [
        int(stack.zendesk.create_ticket_as(stack.zd_customer, f"Checkout broken {n}",
                                           DESCRIPTION, custom_fields=COMPLETE)["id"])
        for n in range(3)
    ]  # fmt: skip
    assert stack.settle()
    assert len(failed_ids(stack)) == 3
    return tids


def bridge(stack: Stack, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(stack.config_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def page(client: object, path: str) -> str:
    response = client.get(path, headers=bearer())  # type: ignore[attr-defined]
    assert response.status_code == 200, (path, response.status_code)
    return str(response.get_data(as_text=True))


def test_three_parked_tickets_are_one_entry_retried_as_a_group(stack: Stack) -> None:
    tids = park_three(stack)
    (group,) = Inbox(stack.redis).groups()
    assert group.system == "vendor" and group.cause == "PermanentError: HTTP 403 Forbidden"
    assert (group.count, group.tickets, group.open_tickets) == (3, 3, 3)
    client = ops_app(stack).test_client()

    inbox = page(client, "/ops/inbox/")
    assert inbox.count("data-group=") == 1 and group.id in inbox
    assert "3 open of 3" in inbox and "PermanentError: HTTP 403 Forbidden" in inbox
    assert group.reason in inbox
    assert all(f"helpdesk#{t}" in inbox for t in tids)
    assert "none: fix the cause, then retry the group" in inbox
    assert group.id in page(client, "/ops/")  # the overview shows the inbox too

    # Filters: by system, route, ticket (either side) and age.
    for query, shown in [("in_system=vendor", True), ("in_system=helpdesk", False),
                         ("route=acme", True), (f"ticket_id={tids[1]}", True),
                         ("ticket_id=99999", False), ("newer_than=1h", True),
                         ("older_than=1h", False)]:  # fmt: skip
        assert (group.id in page(client, f"/ops/inbox/?{query}")) is shown, query
    assert "is not a duration" in page(client, "/ops/inbox/?newer_than=soon")

    # The confirmation step says what will happen; nothing happens without it.
    confirm = page(client, f"/ops/inbox/g/{group.id}/retry")
    assert "Queues <b>3</b> failed or parked job(s) again" in confirm
    token = csrf_of(client, f"/ops/inbox/g/{group.id}/retry", headers=bearer())
    unconfirmed = client.post(f"/ops/inbox/g/{group.id}/retry", headers=bearer(),
                              data={"csrf_token": token})  # fmt: skip
    assert unconfirmed.status_code == 303 and unconfirmed.location.endswith("/retry")
    no_csrf = client.post(f"/ops/inbox/g/{group.id}/retry", headers=bearer(),
                          data={"confirm": "yes"})  # fmt: skip
    assert no_csrf.status_code == 400
    assert len(failed_ids(stack)) == 3

    done = client.post(f"/ops/inbox/g/{group.id}/retry", headers=bearer(),
                       data={"csrf_token": token, "confirm": "yes"})  # fmt: skip
    assert done.status_code == 303
    assert "3 job(s) queued again" in page(client, "/ops/inbox/")
    assert stack.settle()
    assert failed_ids(stack) == [] and len(stack.mantis.issues()) == 3
    assert Inbox(stack.redis).groups() == []  # every ticket synced: the entry closed itself
    closed = page(client, "/ops/inbox/?closed=1")
    assert group.id in closed and "every ticket in it synced since" in closed


def test_long_reasons_are_shown_whole(stack: Stack) -> None:
    reason = (
        "update MantisBT issue 17 failed: 422 Unprocessable Entity: custom field "
        "'Customer number' (id 4) must match ^[0-9]{5}$; the value given was '4071'"
    )
    cause = classify(reason, "PermanentError")
    failure = Failure(Kind.SYNC, "vendor", cause, reason, Outcome.PARKED, datetime.now(UTC),
                      "acme", "7")  # fmt: skip
    Inbox(stack.redis).record(failure)
    client = ops_app(stack).test_client()
    assert len(reason) > 140
    assert str(escape(reason)) in page(client, "/ops/inbox/")
    assert "HTTP 422 Unprocessable Entity" in page(client, "/ops/inbox/")
    (group,) = Inbox(stack.redis).groups()
    assert f"reason   {reason}" in bridge(stack, "failed", "group", group.id).output


def test_a_later_good_sync_closes_the_entry_and_drops_the_superseded_job(stack: Stack) -> None:
    tid = park_three(stack)[0]
    stack.zendesk.update_ticket_as(stack.zd_customer, tid, comment="Any news?")
    assert stack.settle()
    (left,) = Inbox(stack.redis).groups()
    assert left.open_tickets == 2 and ("acme", str(tid)) not in left.sample
    assert len(failed_ids(stack)) == 2  # the parked job of that ticket is done by the sync
    out = " ".join(bridge(stack, "links", "show", "helpdesk", str(tid)).output.split())
    assert "Superseded: failed job " in out and "a later sync did its work" in out


def test_discard_a_group_from_the_console(stack: Stack) -> None:
    park_three(stack)
    (group,) = Inbox(stack.redis).groups()
    client = ops_app(stack).test_client()
    confirm = page(client, f"/ops/inbox/g/{group.id}/discard")
    assert "Deletes <b>3</b> failed or parked job(s) for good" in confirm
    token = csrf_of(client, f"/ops/inbox/g/{group.id}/discard", headers=bearer())
    client.post(f"/ops/inbox/g/{group.id}/discard", headers=bearer(),
                data={"csrf_token": token, "confirm": "yes"})  # fmt: skip
    assert failed_ids(stack) == [] and Inbox(stack.redis).groups() == []
    assert "discarded by an operator" in page(client, "/ops/inbox/?closed=1")
    missing = client.get("/ops/inbox/g/nope", headers=bearer(), follow_redirects=True)
    assert "no failure group" in missing.get_data(as_text=True)
    assert client.get("/ops/inbox/g/x/explode", headers=bearer()).status_code == 404


def test_repeated_poll_failures_are_one_entry_until_a_good_poll(stack: Stack) -> None:
    for _ in range(4):
        stack.mantis.fail_next(1, status=401)
        with pytest.raises(Exception, match="401"):
            stack.poll()
    (group,) = Inbox(stack.redis).groups()
    assert group.kind.value == "poll" and group.count == 4 and group.system == "vendor"
    client = ops_app(stack).test_client()
    inbox = page(client, "/ops/inbox/")
    assert inbox.count("data-group=") == 1 and "next poll at" in inbox

    listed = bridge(stack, "failed", "inbox")
    assert listed.exit_code == 0 and group.id in listed.output
    assert listed.output.count(group.id) == 1
    stack.poll()  # fine again
    assert Inbox(stack.redis).groups() == []
    assert "no open failure group" in bridge(stack, "failed", "inbox").output
    assert "the system polls fine again" in bridge(stack, "failed", "inbox", "--closed").output


def test_cli_inbox_group_retry_and_discard(stack: Stack) -> None:
    tids = park_three(stack)
    (group,) = Inbox(stack.redis).groups()
    rows = json.loads(bridge(stack, "failed", "inbox", "--json").output)
    assert [r["id"] for r in rows] == [group.id]
    assert rows[0]["count"] == 3 and rows[0]["cause"] == group.cause
    assert rows[0]["next"] == "none: fix the cause, then retry the group"
    filtered = bridge(stack, "failed", "inbox", "--ticket", str(tids[0]), "--system", "vendor")
    assert group.id in filtered.output
    assert "matches the filter" in bridge(stack, "failed", "inbox", "--route", "nope").output
    assert bridge(stack, "failed", "inbox", "--newer-than", "soon").exit_code == 2

    jobs = json.loads(bridge(stack, "failed", "list", "--json").output)
    assert {j["group"] for j in jobs} == {group.id}
    assert {j["cause"] for j in jobs} == {group.cause}
    shown = bridge(stack, "failed", "group", group.id).output
    assert f"reason   {group.reason}" in shown and "3 failed or parked" in shown

    refused = bridge(stack, "failed", "discard", "--group", group.id)
    assert refused.exit_code == 2 and "Add --yes" in refused.output
    assert len(failed_ids(stack)) == 3
    assert bridge(stack, "failed", "retry", "--group", "nope").exit_code == 1
    out = bridge(stack, "failed", "retry", "--group", group.id).output
    assert "3 job(s) queued again" in out
    stack.mantis.fail_next(3, status=403)  # still refused: the same entry fills up again
    assert stack.settle()
    assert len(failed_ids(stack)) == 3
    (again,) = Inbox(stack.redis).groups()
    assert again.id == group.id and again.count == 6
    out = bridge(stack, "failed", "discard", "--group", group.id, "--yes").output
    assert "3 job(s) discarded; the entry is closed" in out
    assert failed_ids(stack) == [] and Inbox(stack.redis).groups() == []


def test_rejected_webhooks_are_listed_without_secrets(stack: Stack) -> None:
    body = {"ticket": {"id": 1}, "note": "x" * 300}
    assert post_zendesk_webhook(stack, body, "inv-1", secret="wrong-secret").status_code == 401
    client = ops_app(stack).test_client()
    client.post("/webhooks/nosuch", data=b"{}")
    text = page(client, "/ops/inbox/rejected")
    assert "SignatureError" in text and "does not match the body" in text
    assert "UnknownSystem" in text and "127.0.0.1" in text and ">401<" in text
    assert "x" * 101 not in text  # only the start of the body
    assert stack.secret not in text and OPS["token"] not in text
    rows = json.loads(bridge(stack, "failed", "rejected", "--json").output)
    assert [r["reason"] for r in rows] == ["UnknownSystem", "SignatureError"]
    assert rows[1]["status"] == 401 and rows[1]["system"] == "helpdesk"
    assert len(rows[1]["excerpt"]) <= 100
    assert "SignatureError" in bridge(stack, "failed", "rejected", "--system", "helpdesk").output


def test_the_inbox_is_behind_the_console_guard_and_its_limits(stack: Stack) -> None:
    app = ops_app(stack, login_attempts=3, login_window=3600)
    client = app.test_client()
    for path in ("/ops/inbox/", "/ops/inbox/rejected", "/ops/inbox/g/x"):
        assert client.get(path).status_code == 401, path
    assert client.post("/ops/inbox/g/x/retry", data={"confirm": "yes"}).status_code == 401
    wrong = {"Authorization": "Bearer wrong-token-0123456789"}
    codes = [client.get("/ops/inbox/", headers=wrong).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]  # failed logins count here as on every console page
    response = ops_app(stack).test_client().get("/ops/inbox/", headers=bearer())
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
