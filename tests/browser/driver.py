"""A real browser for the console's tests: Debian's headless Chromium driven through its ChromeDriver,
with screenshots kept in ``test-output/screenshots/`` and an axe-core accessibility check."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
IMPLICIT_WAIT_S = 5
"""How long a lookup waits for its element: after a click the next page may still be loading."""
SEVERE = frozenset({"serious", "critical"})
"""axe-core impacts a page may not have."""


DESKTOP = (1280, 900)
"""A desktop's window (width, height in CSS pixels)."""
PHONE = (414, 896)
"""A phone's screen."""


def chromium(profile: Path, width: int = DESKTOP[0], height: int = DESKTOP[1],
             languages: str | None = None) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile and no background traffic (the machine has no internet).
    ``languages`` (``"pl-PL,pl"``) makes it a user's browser of that language: its interface and the
    Accept-Language it sends."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromedriver are not installed; run `make servers` (scripts/install-browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                     f"--window-size={width},{height}"):
        options.add_argument(argument)
    if languages:
        options.add_argument(f"--lang={languages.split(',')[-1]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": languages})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(IMPLICIT_WAIT_S)
    return driver


@contextmanager
def running(driver: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The browser until the block ends, then closed (a fixture's ``with running(chromium(...))``)."""
    try:
        yield driver
    finally:
        driver.quit()


MAX_SCREENSHOT_HEIGHT = 6000
"""CSS pixels of a page kept in one screenshot (a longer page is cut there)."""


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save the whole page, not only the window, as ``test-output/screenshots/<name>.png`` (kept for
    people to look at: a tracker page's fix and charts are below the fold on a phone)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    layout = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = layout.get("cssContentSize") or layout["contentSize"]
    viewport = layout.get("cssLayoutViewport") or layout["layoutViewport"]
    clip = {"x": 0, "y": 0, "width": viewport["clientWidth"],
            "height": min(max(content["height"], viewport["clientHeight"]), MAX_SCREENSHOT_HEIGHT), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def severe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's serious and critical accessibility violations on the current page."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [v for v in results["violations"] if v.get("impact") in SEVERE]


def responses(driver: webdriver.Chrome) -> list[tuple[str, str]]:
    """(URL, body) of every response the browser received since the last call (the performance log)."""
    received = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.responseReceived":
            continue
        url = message["params"]["response"]["url"]
        try:
            body = driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": message["params"]["requestId"]})
        except Exception:  # a response the browser no longer keeps (a redirect): its URL is still checked
            body = {"body": ""}
        received.append((url, body.get("body", "")))
    return received


def click_and_wait_for_next_page(driver: webdriver.Chrome, element: Any, timeout_s: float = 10.0) -> None:
    """Click something that loads a page, and wait until the new page has replaced this one.

    The old document is marked first; the wait ends when a document without the mark is complete
    (element staleness is not reliable across ChromeDriver versions during a navigation).
    """
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.documentElement.dataset.leaving = 'yes'")
    element.click()
    WebDriverWait(driver, timeout_s).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.documentElement.dataset.leaving !== 'yes'"))


def sign_in(driver: webdriver.Chrome, console: str, username: str, password: str) -> None:
    """Fill in the sign-in form and send it; returns once the answer's page has loaded."""
    from selenium.webdriver.common.by import By

    driver.get(f"{console}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_wait_for_next_page(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))


def signed_in(driver: webdriver.Chrome, console: str, username: str, password: str) -> None:
    """Sign in as ``username`` and require the console's home page to follow."""
    sign_in(driver, console, username, password)
    assert driver.current_url == f"{console}/"


def checked(driver: webdriver.Chrome, name: str) -> None:
    """Screenshot the page as ``name`` and require no serious or critical accessibility violation."""
    screenshot(driver, name)
    assert severe_violations(driver) == [], name


def submit(driver: webdriver.Chrome, css: str) -> None:
    """Press the button ``css`` finds and wait until the page it leads to has replaced this one."""
    from selenium.webdriver.common.by import By

    click_and_wait_for_next_page(driver, driver.find_element(By.CSS_SELECTOR, css))
