"""An operator at 3 a.m., in a real (headless) Chromium: the login page, from the overview's
failure inbox to the parked job, retry it, see it succeed, read its timeline; pause a system,
watch a change wait, resume it; retry a failure group after its confirmation page, discard one
job of a group from the group's page. The screenshots in docs/ are taken by
test_ops_screenshots.py from a world with real traffic; these go to a temporary directory.

Uses Debian's chromium + chromium-driver (`.ci/install-browser`), never a downloaded browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from rq.worker import BaseWorker
from selenium import webdriver
from selenium.webdriver.common.by import By

from bridge import keyspace
from bridge.maintenance import PULSE_TTL
from bridge.queue import get_queue
from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.stack import Stack
from tests.integration.chromium import (
    chromium,
    fill_login,
    log_in,
    needs_chromium,
    wait_for,
    wait_for_text,
)
from tests.integration.ops_helpers import COMPLETE, DESCRIPTION, ops_app, park_an_escalation
from tests.integration.waiting import wait_for as wait_for_condition

pytestmark = needs_chromium


@pytest.fixture()
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def test_operator_finds_a_parked_job_retries_it_and_sees_it_succeed(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    tid = park_an_escalation(stack)
    with BackgroundServer(ops_app(stack)) as url:
        # A browser without a session is sent to the login page (no Basic prompt), and back.
        log_in(browser, f"{url}/ops/", "/ops/")

        # The overview shows the failure's group; its jobs one by one are a link away.
        assert browser.find_elements(By.CSS_SELECTOR, "#parked") == []
        assert "1 open of 1" in wait_for(browser, "#inbox-summary").text
        browser.find_element(By.CSS_SELECTOR, "#jobs-link a").click()
        wait_for(browser, "#parked")
        # The style sheet got past the Content-Security-Policy (no inline style is allowed).
        header = browser.find_element(By.TAG_NAME, "header")
        assert header.value_of_css_property("background-color") == "rgba(34, 49, 63, 1)"
        rows = browser.find_elements(By.CSS_SELECTOR, "#parked tbody tr")
        assert len(rows) == 1
        row = rows[0]
        assert f"helpdesk#{tid}" in row.text and "403" in row.text
        job_id = row.get_attribute("data-job-id")
        assert browser.save_screenshot(str(tmp_path / "ops.png"))

        row.find_element(By.CSS_SELECTOR, "button.retry").click()
        assert f"Job {job_id} is queued again." in wait_for_text(browser, "is queued again.")
        assert browser.current_url == f"{url}/ops/jobs"  # back on the list it was on

        assert stack.settle()
        browser.refresh()
        assert browser.find_elements(By.CSS_SELECTOR, "#parked tbody tr") == []
        assert browser.find_elements(By.CSS_SELECTOR, "#failed tbody tr") == []
        (issue,) = stack.mantis.issues()

        # The ticket's story, one search away.
        browser.find_element(By.NAME, "ticket").send_keys(str(tid))
        browser.find_element(By.CSS_SELECTOR, "header form button").click()
        assert f"vendor#{issue['id']}" in wait_for(browser, "#link").text
        story = browser.find_element(By.CSS_SELECTOR, "table.timeline").text
        for sentence in (
            "Parked: create MantisBT issue",
            "Retry: queued by an operator",
            f"Escalated: to vendor #{issue['id']} (MantisBT)",
            "Link written: to",
        ):
            assert sentence in story  # fmt: skip
        assert "{'" not in story  # no Python dicts


def test_operator_pauses_a_system_sees_it_held_and_resumes_it(
    tmp_path: Path, redis: Redis, redis_url: str, browser: webdriver.Chrome
) -> None:
    with Stack(tmp_path / "stack", redis_url=redis_url) as stack:  # a real `bridge worker`
        stack.poll()
        rq_worker = pulsing_worker(stack)  # started: its start-up checks of the systems are done
        with BackgroundServer(ops_app(stack)) as url:
            log_in(browser, f"{url}/ops/pauses", "/ops/pauses")

            vendor = wait_for(browser, 'tr[data-scope="system:vendor"]')
            assert "RUNNING" in vendor.text
            vendor.find_element(By.NAME, "reason").send_keys("MantisBT upgrade to 2.27")
            vendor.find_element(By.NAME, "until").send_keys("2h")
            vendor.find_element(By.CSS_SELECTOR, "button.pause").click()
            wait_for_text(browser, "System vendor is paused until")
            banner = browser.find_element(By.CSS_SELECTOR, ".flash.paused").text
            assert "Paused: system vendor (MantisBT upgrade to 2.27)" in banner

            stack.mantis.clear_log()
            tid = stack.zendesk.create_ticket_as(
                stack.zd_customer, "Checkout broken", DESCRIPTION, custom_fields=COMPLETE
            )["id"]
            assert stack.settle()
            assert stack.mantis.requests() == []  # the webhook was taken, nothing was sent
            browser.refresh()
            vendor = wait_for(browser, 'tr[data-scope="system:vendor"]')
            assert "PAUSED" in vendor.text and "MantisBT upgrade to 2.27" in vendor.text
            assert vendor.find_element(By.CSS_SELECTOR, "td.held").text == "1"
            assert browser.save_screenshot(str(tmp_path / "pauses.png"))

            # The overview: the paused source, and the idle worker alive by its pulse.
            # RQ writes an idle worker's heartbeat every few minutes: make it 5 min old.
            old = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            stack.redis.hset(rq_worker.key, "last_heartbeat", old)
            browser.get(f"{url}/ops/")
            source = wait_for(browser, '#sources tr[data-system="vendor"]')
            assert "PAUSED" in source.text and "SILENT" not in source.text
            (worker,) = browser.find_elements(By.CSS_SELECTOR, "#workers tbody tr")
            beat = worker.find_elements(By.TAG_NAME, "td")[3].text
            assert beat.endswith(" s ago") and int(beat.split()[0]) <= PULSE_TTL, beat

            browser.get(f"{url}/ops/pauses")
            wait_for(browser, 'tr[data-scope="system:vendor"] button.resume').click()
            said = wait_for_text(browser, "Resumed system vendor: 1 held sync(s) queued")
            assert "a poll of vendor queued" in said
            assert "Paused: system vendor" not in said
            assert stack.settle()
            (issue,) = stack.mantis.issues()

            browser.get(f"{url}/ops/search?ticket={tid}&system=helpdesk")
            story = wait_for(browser, "table.timeline").text
            assert "Held: system vendor is paused (MantisBT upgrade to 2.27)" in story
            assert "Sync queued: system vendor resumed" in story
            assert f"Escalated: to vendor #{issue['id']} (MantisBT)" in story
            assert browser.save_screenshot(str(tmp_path / "timeline.png"))


def pulsing_worker(stack: Stack) -> BaseWorker:
    """The stack's worker process once it is registered and pulsing (bridge.maintenance)."""
    queue = get_queue(stack.redis, stack.config)
    wait_for_condition(lambda: len(Worker.all(queue=queue)) == 1, "the worker's registration")
    (worker,) = Worker.all(queue=queue)
    wait_for_condition(lambda: bool(stack.redis.exists(keyspace.alive(worker.name))), "its pulse")
    return worker


def test_operator_retries_a_failure_group_after_confirming(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    from tests.integration.test_ops_inbox import park_three

    tids = park_three(stack)
    with BackgroundServer(ops_app(stack)) as url:
        browser.get(f"{url}/ops/login")
        fill_login(browser)
        wait_for(browser, "#inbox-summary")

        browser.find_element(By.ID, "nav-inbox").click()
        wait_for(browser, "#filters")
        (row,) = browser.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")
        assert "PermanentError: HTTP 403 Forbidden" in row.text and "3 open of 3" in row.text
        assert all(f"helpdesk#{t}" in row.text for t in tids)
        assert browser.save_screenshot(str(tmp_path / "inbox.png"))

        row.find_element(By.CSS_SELECTOR, "a.retry").click()
        consequence = wait_for(browser, "#consequence").text
        assert "Queues 3 failed or parked job(s) again" in consequence
        browser.find_element(By.ID, "cancel").click()  # changed my mind: nothing happens
        wait_for(browser, "#filters")
        assert len(stack.mantis.issues()) == 0

        browser.find_element(By.CSS_SELECTOR, "#inbox a.retry").click()
        wait_for(browser, "#confirm").click()
        assert "3 job(s) queued again" in wait_for_text(browser, "queued again")
        assert stack.settle()
        assert len(stack.mantis.issues()) == 3
        browser.refresh()
        assert "Nothing is failing." in wait_for_text(browser, "Nothing is failing.")


def test_operator_discards_one_job_of_a_group_from_its_page(
    stack: Stack, browser: webdriver.Chrome
) -> None:
    from tests.integration.test_ops_inbox import park_three

    park_three(stack)
    with BackgroundServer(ops_app(stack)) as url:
        log_in(browser, f"{url}/ops/", "/ops/")
        (entry,) = browser.find_elements(By.CSS_SELECTOR, "#inbox-summary #inbox tbody tr")
        entry.find_element(By.LINK_TEXT, "Details").click()
        rows = wait_for(browser, "#group-jobs").find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == 3 and all("403" in r.text for r in rows)
        group_page = browser.current_url
        job_id = rows[0].get_attribute("data-job-id")
        rows[0].find_element(By.CSS_SELECTOR, "button.discard").click()
        assert f"Job {job_id} was discarded." in wait_for_text(browser, "was discarded.")
        assert browser.current_url == group_page
        left = browser.find_elements(By.CSS_SELECTOR, "#group-jobs tbody tr")
        assert len(left) == 2 and job_id not in [r.get_attribute("data-job-id") for r in left]
