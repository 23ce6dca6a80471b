"""A real browser for the console's tests: Debian's headless Chromium driven through its ChromeDriver,
with screenshots kept in ``test-output/screenshots/`` and an axe-core accessibility check."""

from __future__ import annotations

import shutil
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


def chromium(profile: Path, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile and no background traffic (the machine has no internet)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromedriver are not installed; run `make servers` (scripts/install-browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                     f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(IMPLICIT_WAIT_S)
    return driver


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save the page as ``test-output/screenshots/<name>.png`` (kept for people to look at)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def severe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's serious and critical accessibility violations on the current page."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [v for v in results["violations"] if v.get("impact") in SEVERE]


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
