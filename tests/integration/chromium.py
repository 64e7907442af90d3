"""Headless Chromium for the console tests: Debian's chromium + chromium-driver
(`.ci/install-browser`), never a downloaded browser. Shared by test_ops_browser.py and
test_ops_screenshots.py; each defines its own `browser` fixture with `chromium()`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.integration.ops_helpers import OPS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS = Path(__file__).resolve().parents[2] / "docs"
WIDTH, HEIGHT = 1280, 1000

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: run .ci/install-browser (Debian chromium + driver)",
)

# While a submitted form loads the next page, elements of the old one go stale under our feet.
PAGE_CHANGING = (NoSuchElementException, StaleElementReferenceException)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="ops-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


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


def log_in(browser: webdriver.Chrome, start: str, back_to: str) -> None:
    """Open `start` without a session: the login page comes, and after it `back_to`."""
    browser.get(start)
    wait_for(browser, "#login")
    assert "/ops/login?next=" in browser.current_url
    fill_login(browser)
    WebDriverWait(browser, 15).until(lambda b: b.current_url.split("?")[0].endswith(back_to))


def fill_login(browser: webdriver.Chrome) -> None:
    browser.find_element(By.ID, "username").send_keys(OPS["username"])
    browser.find_element(By.ID, "password").send_keys(OPS["password"])
    browser.find_element(By.ID, "login").click()


def shot_path(tmp_path: Path, name: str) -> Path:
    """docs/<name> with UPDATE_SCREENSHOT=1 (the README shows it), else a temporary file."""
    return DOCS / name if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / name


def full_page_shot(browser: webdriver.Chrome, path: Path) -> Path:
    """The whole page, not only the window: the viewport is set to the page's height (capped)
    for the shot, so nothing is cut and no scroll bar shows, then put back."""
    main = browser.find_element(By.TAG_NAME, "main").rect  # the page's own end, not the window's
    height = min(max(int(main["y"] + main["height"]) + 8, 400), 4000)
    override = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", override)
    try:
        assert browser.save_screenshot(str(path))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert path.stat().st_size > 10_000
    return path
