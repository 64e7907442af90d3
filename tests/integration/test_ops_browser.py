"""An operator at 3 a.m., in a real (headless) Chromium: find the parked job, retry it, see it
succeed. Saves a screenshot; with UPDATE_SCREENSHOT=1 it replaces docs/ops-console.png, the
one the README shows (so an ordinary test run leaves the checkout unchanged).

Uses Debian's chromium + chromium-driver (`.ci/install-browser`), never a downloaded browser.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from bridge.sandbox.server import BackgroundServer
from bridge.sandbox.stack import Stack
from tests.integration.ops_helpers import OPS, ops_app, park_an_escalation

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "ops-console.png"
DOCS_INBOX = DOCS_SCREENSHOT.with_name("ops-inbox.png")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: run .ci/install-browser (Debian chromium + driver)",
)


# While a submitted form loads the next page, elements of the old one go stale under our feet.
PAGE_CHANGING = (NoSuchElementException, StaleElementReferenceException)


def wait_for(browser: webdriver.Chrome, css: str) -> WebElement:
    """A click that submits a form returns before the next page is there: wait for it."""
    waiter = WebDriverWait(browser, 15, ignored_exceptions=PAGE_CHANGING)
    return waiter.until(lambda b: b.find_element(By.CSS_SELECTOR, css))


def wait_for_text(browser: webdriver.Chrome, text: str) -> str:
    """Wait until the page says `text` (the old page may still show other messages)."""

    def page_text(b: webdriver.Chrome) -> str | bool:
        body = str(b.find_element(By.TAG_NAME, "body").text)
        return body if text in body else False

    return str(WebDriverWait(browser, 15, ignored_exceptions=PAGE_CHANGING).until(page_text))


@pytest.fixture()
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="ops-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_operator_finds_a_parked_job_retries_it_and_sees_it_succeed(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    tid = park_an_escalation(stack)
    with BackgroundServer(ops_app(stack)) as url:
        # Without credentials /ops answers 401 with a Basic challenge (the browser's own login
        # prompt); the login form is the no-prompt way in.
        browser.get(f"{url}/ops/login")
        browser.find_element(By.ID, "username").send_keys(OPS["username"])
        browser.find_element(By.ID, "password").send_keys(OPS["password"])
        browser.find_element(By.ID, "login").click()

        wait_for(browser, "#parked")
        # The style sheet got past the Content-Security-Policy (no inline style is allowed).
        header = browser.find_element(By.TAG_NAME, "header")
        assert header.value_of_css_property("background-color") == "rgba(34, 49, 63, 1)"
        rows = browser.find_elements(By.CSS_SELECTOR, "#parked tbody tr")
        assert len(rows) == 1
        row = rows[0]
        assert f"helpdesk#{tid}" in row.text and "403" in row.text
        job_id = row.get_attribute("data-job-id")
        shot = DOCS_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "ops.png"
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000

        row.find_element(By.CSS_SELECTOR, "button.retry").click()
        assert f"Job {job_id} is queued again." in wait_for_text(browser, "is queued again.")

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
        for action in ("parked", "operator_retry", "escalated", "link_written"):
            assert action in story


def test_operator_retries_a_failure_group_after_confirming(
    stack: Stack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    from tests.integration.test_ops_inbox import park_three

    tids = park_three(stack)
    with BackgroundServer(ops_app(stack)) as url:
        browser.get(f"{url}/ops/login")
        browser.find_element(By.ID, "username").send_keys(OPS["username"])
        browser.find_element(By.ID, "password").send_keys(OPS["password"])
        browser.find_element(By.ID, "login").click()
        wait_for(browser, "#inbox-summary")

        browser.find_element(By.ID, "nav-inbox").click()
        wait_for(browser, "#filters")
        (row,) = browser.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")
        assert "PermanentError: HTTP 403 Forbidden" in row.text and "3 open of 3" in row.text
        assert all(f"helpdesk#{t}" in row.text for t in tids)
        shot = DOCS_INBOX if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "inbox.png"
        assert browser.save_screenshot(str(shot))

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
