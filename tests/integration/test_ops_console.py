"""The operator console through the Flask test client, on a real Redis with real jobs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from rq.registry import FailedJobRegistry

from bridge.queue import get_queue
from bridge.sandbox.stack import CATEGORY, Stack
from tests.integration.ops_helpers import (
    DESCRIPTION,
    OPS,
    bearer,
    csrf_of,
    ops_app,
    park_an_escalation,
)


def failed_ids(stack: Stack) -> list[str]:
    return FailedJobRegistry(queue=get_queue(stack.redis, stack.config)).get_job_ids()


def test_console_is_404_without_an_ops_section(stack: Stack) -> None:
    client = ops_app(stack, enabled=False).test_client()
    assert client.get("/ops/", headers=bearer()).status_code == 404
    assert client.get("/metrics").status_code == 200  # metrics stay available


def test_console_needs_credentials(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    page = client.get("/ops/")
    assert page.status_code == 401
    assert page.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/ops/", headers=bearer("wrong-token-0123456789")).status_code == 401
    basic = base64.b64encode(f"{OPS['username']}:{OPS['password']}".encode()).decode()
    assert client.get("/ops/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    wrong = base64.b64encode(f"{OPS['username']}:nope".encode()).decode()
    assert client.get("/ops/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    assert client.get("/ops/", headers=bearer()).status_code == 200
    assert client.post("/ops/jobs/x/retry").status_code == 401  # no user: 401 before CSRF


def test_login_form_opens_a_session(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    token = csrf_of(client, "/ops/login")
    bad = client.post("/ops/login", data={"csrf_token": token, "username": "oncall",
                                          "password": "nope"})  # fmt: skip
    assert bad.status_code == 401
    assert client.post("/ops/login", data={"username": "oncall"}).status_code == 400  # no CSRF
    ok = client.post("/ops/login", data={"csrf_token": token, **{
        "username": OPS["username"], "password": OPS["password"]}})  # fmt: skip
    assert ok.status_code == 303
    assert client.get("/ops/").status_code == 200
    client.post("/ops/logout", data={"csrf_token": csrf_of(client)})
    assert client.get("/ops/").status_code == 401


def test_parked_job_is_listed_and_retried_after_the_cause_is_fixed(stack: Stack) -> None:
    tid = park_an_escalation(stack)
    (job_id,) = failed_ids(stack)
    client = ops_app(stack).test_client()
    page = client.get("/ops/jobs", headers=bearer()).get_data(as_text=True)
    assert job_id in page
    assert f"helpdesk#{tid}" in page and ">acme<" in page
    assert "403" in page and "create MantisBT issue" in page  # the park reason

    # An action without (or with a wrong) CSRF token is refused, and changes nothing.
    assert client.post(f"/ops/jobs/{job_id}/retry", headers=bearer()).status_code == 400
    refused = client.post(f"/ops/jobs/{job_id}/retry", headers=bearer(),
                          data={"csrf_token": "forged"})  # fmt: skip
    assert refused.status_code == 400
    assert failed_ids(stack) == [job_id]

    answer = client.post(f"/ops/jobs/{job_id}/retry", headers=bearer(),
                         data={"csrf_token": csrf_of(client, headers=bearer())})  # fmt: skip
    assert answer.status_code == 303
    assert stack.settle()
    assert failed_ids(stack) == []
    (issue,) = stack.mantis.issues()
    assert stack.zendesk.ticket(tid)["external_id"] == f"vendor:{issue['id']}"
    page = client.get("/ops/jobs", headers=bearer()).get_data(as_text=True)
    assert job_id in page  # the flash message names it ...
    assert 'id="parked"' not in page  # ... but the parked table is gone


def test_discard_deletes_the_job(stack: Stack) -> None:
    park_an_escalation(stack)
    (job_id,) = failed_ids(stack)
    client = ops_app(stack).test_client()
    token = csrf_of(client, headers=bearer())
    answer = client.post(f"/ops/jobs/{job_id}/discard", headers=bearer(),
                         data={"csrf_token": token})  # fmt: skip
    assert answer.status_code == 303
    assert failed_ids(stack) == []
    missing = client.post("/ops/jobs/nope/retry", headers=bearer(), data={"csrf_token": token})
    assert missing.status_code == 303
    assert "no job" in client.get("/ops/", headers=bearer()).get_data(as_text=True)


def test_search_finds_link_and_timeline_from_either_side(stack: Stack) -> None:
    tid = park_an_escalation(stack)
    client = ops_app(stack).test_client()
    csrf = csrf_of(client, headers=bearer())
    client.post(f"/ops/jobs/{failed_ids(stack)[0]}/retry", headers=bearer(),
                data={"csrf_token": csrf})  # fmt: skip
    assert stack.settle()
    (issue,) = stack.mantis.issues()
    for query in (f"ticket={tid}&system=helpdesk", f"ticket={issue['id']}&system=vendor",
                  f"ticket={tid}"):  # fmt: skip
        page = client.get(f"/ops/search?{query}", headers=bearer()).get_data(as_text=True)
        assert f"helpdesk#{tid}" in page and f"vendor#{issue['id']}" in page, query
        for action in ("parked", "operator_retry", "escalated", "link_written", "created_from"):
            assert action in page, (query, action)
    nothing = client.get("/ops/search?ticket=999999", headers=bearer()).get_data(as_text=True)
    assert "knows nothing" in nothing


def test_escalations_waiting_for_data_are_listed_until_complete(stack: Stack) -> None:
    from tests.integration.ops_helpers import COMPLETE

    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Checkout broken", DESCRIPTION,
                                         custom_fields={CATEGORY: "technik"})["id"]  # fmt: skip
    assert stack.settle()
    client = ops_app(stack).test_client()
    page = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert 'id="waiting"' in page and f"helpdesk#{tid}" in page
    assert "customer_number" in page and "domain" in page
    stack.zendesk.update_ticket_as(stack.zd_agent, tid, custom_fields=COMPLETE)
    assert stack.settle()
    page = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert 'id="waiting"' not in page


def test_silent_sources_are_flagged(stack: Stack) -> None:
    client = ops_app(stack).test_client()
    stack.redis.hdel("tb:last_seen", "helpdesk", "vendor")
    page = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert page.count("SILENT") == 2 and "never heard from" in page
    now = datetime.now(UTC)
    stack.redis.hset("tb:last_seen", mapping={
        "helpdesk": (now - timedelta(minutes=30)).isoformat(),   # webhooks: alert after 1 h
        "vendor": (now - timedelta(minutes=30)).isoformat(),     # polled every 60 s: after 3 min
    })  # fmt: skip
    page = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert page.count("SILENT") == 1 and "no webhook or poll for 30 min" in page
    vendor_row = page.split('data-system="vendor"')[1].split("</tr>")[0]
    assert "SILENT" in vendor_row


def test_no_page_shows_a_secret(stack: Stack) -> None:
    park_an_escalation(stack)
    client = ops_app(stack).test_client()
    pages = [
        client.get("/ops/", headers=bearer()),
        client.get("/ops/search?ticket=1", headers=bearer()),
        client.get("/ops/login"),
        client.get("/ops/"),
        client.post("/ops/jobs/x/retry", headers=bearer()),
        client.get("/metrics"),
    ]
    secrets = [stack.secret, "zd-token", "mantis-token", *OPS.values()]
    secrets.remove(OPS["username"])  # a user name is not a secret
    for response in pages:
        text = response.get_data(as_text=True)
        for secret in secrets:
            assert secret not in text, (response.request.path, secret)


def test_the_overview_shows_failures_as_groups_and_a_group_lists_its_jobs(stack: Stack) -> None:
    from bridge.failures.inbox import Inbox
    from tests.integration.test_ops_inbox import park_three

    tids = park_three(stack)
    jobs = failed_ids(stack)
    (group,) = Inbox(stack.redis).groups()
    client = ops_app(stack).test_client()
    overview = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert 'id="parked"' not in overview and 'id="failed"' not in overview
    assert not any(job_id in overview for job_id in jobs)  # no row per job ...
    assert overview.count(f'data-group="{group.id}"') == 1  # ... one row for their cause
    assert "3 open of 3" in overview and "PermanentError: HTTP 403 Forbidden" in overview
    assert f'href="/ops/inbox/g/{group.id}"' in overview and 'href="/ops/inbox/"' in overview
    assert 'href="/ops/jobs">the 3 failed and parked job(s)' in overview

    # The group's page lists its jobs one by one; a job's button comes back to it.
    path = f"/ops/inbox/g/{group.id}"
    listed = client.get(path, headers=bearer()).get_data(as_text=True)
    assert 'id="group-jobs"' in listed and all(f'data-job-id="{j}"' in listed for j in jobs)
    assert all(f"helpdesk#{t}" in listed for t in tids)
    token = csrf_of(client, path, headers=bearer())
    nothing = client.post(f"/ops/jobs/{jobs[0]}/discard", headers=bearer(), data={"next": path})
    assert nothing.status_code == 400 and len(failed_ids(stack)) == 3  # no CSRF token
    done = client.post(f"/ops/jobs/{jobs[0]}/discard", headers=bearer(),
                       data={"csrf_token": token, "next": path})  # fmt: skip
    assert done.status_code == 303 and done.headers["Location"] == path
    assert jobs[0] not in failed_ids(stack)
    after = client.get(path, headers=bearer()).get_data(as_text=True)
    assert f"Job {jobs[0]} was discarded." in after and f'data-job-id="{jobs[0]}"' not in after
    assert "2 in the failed list" in after

    # A `next` off the console is not followed: back to the job list.
    away = client.post(f"/ops/jobs/{jobs[1]}/retry", headers=bearer(),
                       data={"csrf_token": token, "next": "https://evil.example/ops/"})  # fmt: skip
    assert away.status_code == 303 and away.headers["Location"] == "/ops/jobs"
    every = client.post("/ops/jobs/retry-all", headers=bearer(), data={"csrf_token": token})
    assert every.headers["Location"] == "/ops/jobs"
    assert "1 job(s) queued again." in client.get("/ops/jobs", headers=bearer()).get_data(
        as_text=True
    )


def test_failed_jobs_without_an_open_group_are_still_pointed_to(stack: Stack) -> None:
    from bridge.failures.inbox import Inbox

    park_an_escalation(stack)
    inbox = Inbox(stack.redis)
    inbox.close([g.id for g in inbox.groups()], "evicted: too many open groups")
    client = ops_app(stack).test_client()
    overview = client.get("/ops/", headers=bearer()).get_data(as_text=True)
    assert "Nothing is failing." not in overview
    assert "the failed list still holds jobs" in overview
    assert 'href="/ops/jobs">the 1 failed and parked job(s)' in overview
    (job_id,) = failed_ids(stack)
    assert job_id in client.get("/ops/jobs", headers=bearer()).get_data(as_text=True)
