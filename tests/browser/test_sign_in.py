"""Signing in to the console in a real browser (Debian's Chromium) against the real ``telediag serve``:
the form, a refused password, the session, a form posted without its CSRF token, sign-out. Each page is
screenshotted and checked with axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.console import PASSWORD, add_users, serving
from tests.browser.driver import checked, click_and_wait_for_next_page, screenshot, sign_in
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with one technical user; its console's address."""
    server = ServerProcess(tmp_path_factory.mktemp("console") / "data")
    add_users(server, {"tech": ("technical", None)})
    with serving(server) as address:
        yield address


def test_sign_in_session_and_sign_out(console: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{console}/")
    assert browser.current_url == f"{console}/login"  # not signed in: the sign-in page
    assert browser.find_element(By.NAME, "csrf_token").get_attribute("type") == "hidden"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=username]").text
    checked(browser, "login")

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
    checked(browser, "home")

    status = browser.execute_script(  # a state change without the form's CSRF token, from the page itself
        "return fetch('/logout', {method: 'POST', credentials: 'same-origin'}).then(r => r.status)")
    assert status == 403
    browser.get(f"{console}/")
    assert browser.current_url == f"{console}/"  # still signed in: the forged sign-out did nothing

    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))
    assert browser.current_url == f"{console}/login"
    browser.get(f"{console}/")
    assert browser.current_url == f"{console}/login"
