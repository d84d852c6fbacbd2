"""The dashboard in a real browser: Debian's chromium, headless, driven by Selenium
through chromedriver, against the dashboard served by uvicorn in this process and the
session worker. Skipped when chromium is absent, except in CI (CI=true), where its
absence fails."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import durable_celery as dc
from durable_celery.dashboard import Server, create_app
from durable_celery.testing import wait_until
from tests.integration.conftest import ROOT
from tests.integration.flows_dashboard import DashAwaitsEvent, DashFailsOnce, DashReview

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()
if not HAVE_BROWSER and os.environ.get("CI") != "true":
    pytest.skip(
        "chromium and chromium-driver are not installed (apt-get install chromium "
        "chromium-driver, or ./dev setup); CI runs these tests",
        allow_module_level=True,
    )


def new_browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert HAVE_BROWSER, f"CI needs {CHROMIUM} and {CHROMEDRIVER}: ./dev setup installs them"
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # we run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def server(runtime) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    with Server(create_app(runtime)) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = new_browser()
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def open_page(browser: Any, url: str) -> None:
    browser.get(url)
    # The live refresh swaps parts of the page under the test's feet: off.
    browser.execute_script("localStorage.setItem('durable-live', 'off')")
    browser.get(url)


def shown(browser: Any, by: str, value: str, text: str, timeout: float = 10) -> bool:
    """Whether `text` appears in the element, polled: a click submits a form and returns
    before the next page replaces this one, so an element found at once may be the old
    page's (stale a moment later)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def seen() -> bool:
        try:
            return text in browser.find_element(by, value).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    return wait_until(seen, timeout, interval=0.1)


def shows(browser: Any, url: str, text: str, timeout: float = 20) -> bool:
    def seen() -> bool:
        browser.get(url)
        return text in browser.find_element("tag name", "body").text

    return wait_until(seen, timeout, interval=0.3)


def test_list_open_and_answer_an_input(server, browser, worker):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    handle = dc.start(DashReview.name, {"order": "A-1"})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=handle.id), 20)

    open_page(browser, f"{server.url}/?workflow={DashReview.name}")
    browser.find_element(By.LINK_TEXT, handle.id).click()
    assert wait_until(lambda: browser.current_url == f"{server.url}/executions/{handle.id}", 10)
    assert shown(browser, By.ID, "status", "waiting")
    assert shown(browser, By.ID, "waiting-for", "input 'details'")

    browser.find_element(By.LINK_TEXT, "Pending inputs").click()
    assert shown(browser, By.ID, f"input-{handle.id}-details", "Approve the refund?")
    card = browser.find_element(By.ID, f"input-{handle.id}-details")
    assert "Approve the refund?" in card.text
    card.find_element(By.NAME, "f.amount").send_keys("12")
    card.find_element(By.NAME, "f.note").send_keys("partial refund")
    card.find_element(By.NAME, "f.rush").click()
    card.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert shown(browser, By.CLASS_NAME, "notice", "input 'details' answered")

    assert handle.result(timeout=20) == {"amount": 12, "note": "partial refund", "rush": True}
    assert shows(browser, f"{server.url}/executions/{handle.id}", "completed")


def test_cancel_and_retry_through_the_buttons(server, browser, worker):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    waits = dc.start(DashAwaitsEvent.name, {})
    fails = dc.start(DashFailsOnce.name, {})
    assert wait_until(lambda: dc.get_execution(waits.id).status == "waiting", 20)

    open_page(browser, f"{server.url}/executions/{waits.id}")
    browser.find_element(By.NAME, "reason").send_keys("not needed")
    browser.find_element(By.ID, "cancel").click()
    assert shown(browser, By.ID, "status", "cancelled")
    assert dc.get_execution(waits.id).error["message"] == "not needed"

    assert wait_until(lambda: dc.get_execution(fails.id).status == "failed", 20)
    open_page(browser, f"{server.url}/executions/{fails.id}")
    assert "card declined" in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.ID, "retry").click()
    assert shown(browser, By.CLASS_NAME, "notice", "retried")
    assert fails.result(timeout=20) == "charged"
    assert shows(browser, f"{server.url}/executions/{fails.id}", "completed")


def test_live_refresh(server, browser, worker):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    handle = dc.start(DashAwaitsEvent.name, {})
    assert wait_until(lambda: dc.get_execution(handle.id).status == "waiting", 20)
    browser.get(f"{server.url}/executions/{handle.id}")
    browser.execute_script("localStorage.setItem('durable-live', 'on')")
    browser.get(f"{server.url}/executions/{handle.id}")
    assert browser.find_element(By.ID, "live").is_selected()
    marker = browser.execute_script("return window.performance.timeOrigin")
    dc.send_event(handle.id, "go", "now")
    handle.result(timeout=20)

    # The page updates itself: no reload (the same document), the status and the actions.
    assert wait_until(
        lambda: "completed" in browser.find_element(By.ID, "status").text, 15, interval=0.3
    )
    assert browser.execute_script("return window.performance.timeOrigin") == marker
    assert not browser.find_elements(By.ID, "cancel")


@pytest.mark.skipif(
    os.environ.get("DURABLE_SCREENSHOTS") != "1",
    reason="writes docs/dashboard-*.png: run with DURABLE_SCREENSHOTS=1",
)
def test_screenshots(server, worker):  # type: ignore[no-untyped-def]
    """The README's pictures: a few executions of each kind, then each main page."""
    done = [dc.start(DashAwaitsEvent.name, {"order": f"B-{n}"}) for n in range(3)]
    review = dc.start(DashReview.name, {"order": "A-7"})
    failed = dc.start(DashFailsOnce.name, {})
    key = f"nightly-report-{uuid.uuid4().hex[:4]}"
    dc.schedule(key, DashAwaitsEvent.name, "0 3 * * *", queue="dash-screens")
    for handle in done:
        assert wait_until(lambda h=handle: dc.get_execution(h.id).status == "waiting", 20)
        dc.send_event(handle.id, "go", {"shipped": True})
    assert wait_until(lambda: dc.list_pending_inputs(execution_id=review.id), 20)
    assert wait_until(lambda: dc.get_execution(failed.id).status == "failed", 20)
    browser = new_browser()
    try:
        pages = {
            "executions": "/",
            "execution": f"/executions/{failed.id}",
            "inputs": "/inputs",
            "schedules": "/schedules",
            "overview": "/overview",
        }
        for name, path in pages.items():
            browser.set_window_size(1280, 1000 if name == "execution" else 640)
            browser.get(server.url + path)
            browser.save_screenshot(str(ROOT / "docs" / f"dashboard-{name}.png"))
    finally:
        browser.quit()
        dc.delete_schedule(key)
        dc.cancel(review.id)
