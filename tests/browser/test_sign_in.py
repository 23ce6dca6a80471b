"""Signing in to the console in a real browser (Debian's Chromium) against the real ``telediag serve``:
the form, a refused password, the session, a form posted without its CSRF token, sign-out. Each page is
screenshotted and checked with axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.driver import chromium, click_and_wait_for_next_page, screenshot, severe_violations, sign_in
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with one technical user; its console's address."""
    root = tmp_path_factory.mktemp("console")
    server = ServerProcess(root / "data")
    made = run_cli(["users", "create", "--role", "technical", "tech", "--data-dir", str(server.data_dir)],
                   input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    server.start()
    try:
        yield f"http://127.0.0.1:{server.api_port}"
    finally:
        assert server.stop() == 0, server.log()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def test_sign_in_session_and_sign_out(console: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{console}/")
    assert browser.current_url == f"{console}/login"  # not signed in: the sign-in page
    assert browser.find_element(By.NAME, "csrf_token").get_attribute("type") == "hidden"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=username]").text
    screenshot(browser, "login")
    assert severe_violations(browser) == []

    sign_in(browser, console, "tech", "not the password")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert alert.text and browser.current_url == f"{console}/login"
    screenshot(browser, "login-refused")

    sign_in(browser, console, "tech", PASSWORD)
    WebDriverWait(browser, 10).until(expected_conditions.url_to_be(f"{console}/"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-username]").text == "tech"
    assert "telediag_session" not in browser.execute_script("return document.cookie")  # HttpOnly
    cookie = browser.get_cookie("telediag_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    screenshot(browser, "home")
    assert severe_violations(browser) == []

    status = browser.execute_script(  # a state change without the form's CSRF token, from the page itself
        "return fetch('/logout', {method: 'POST', credentials: 'same-origin'}).then(r => r.status)")
    assert status == 403
    browser.get(f"{console}/")
    assert browser.current_url == f"{console}/"  # still signed in: the forged sign-out did nothing

    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))
    assert browser.current_url == f"{console}/login"
    browser.get(f"{console}/")
    assert browser.current_url == f"{console}/login"
