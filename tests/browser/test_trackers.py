"""A customer's trackers in the console, in Chromium against the real service: the list with statuses,
the self-check of a tracker that lost its power feed with the fix to do, another account's tracker as a
404 page, and no position anywhere for the customer office (pages and the browser's network log)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from protocols.teltonika.device import encode_imei
from tests.browser.driver import chromium, click_and_wait_for_next_page, screenshot, severe_violations, sign_in
from tests.hostile.payloads import NOW, fix, teltonika_tcp
from tests.hostile.wire import send_stream
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
POWER_CUT, HEALTHY, OTHER = "356307042441013", "356307042441021", "356307042441039"
USERS = {"anna": ("customer", "Acme Logistics"), "office": ("customer_office", None), "tech": ("technical", None)}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with two accounts' trackers, one of them without power, and a user per role."""
    root = tmp_path_factory.mktemp("trackers")
    server = ServerProcess(root / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n")
    csv = root / "fleet.csv"
    csv.write_text("imei,protocol,account,vehicle_plate\n"
                   f"{POWER_CUT},teltonika,Acme Logistics,GD 49668\n{HEALTHY},teltonika,Acme Logistics,WX 1234A\n"
                   f"{OTHER},teltonika,Beta Transport,KR 9876B\n")
    assert run_cli(["devices", "import", str(csv), "--data-dir", str(server.data_dir)]).returncode == 0
    for username, (role, account) in USERS.items():
        args = ["users", "create", "--role", role, username, "--data-dir", str(server.data_dir)]
        made = run_cli(args + (["--account", account] if account else []), input=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    server.start()
    for imei, volts in ((POWER_CUT, 0.0), (HEALTHY, 13.8), (OTHER, 13.8)):
        frames = [teltonika_tcp(imei, fix(imei, "teltonika", fix_time=NOW - 120 + 10 * i, ext_voltage_v=volts,
                                          battery_voltage_v=4.0)) for i in range(6)]
        send_stream(server.ports["teltonika"], (encode_imei(imei), *frames))
    try:
        yield f"http://127.0.0.1:{server.api_port}"
    finally:
        assert server.stop() == 0, server.log()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path / "profile", width=414, height=896)  # a phone's screen
    try:
        yield driver
    finally:
        driver.quit()


def test_a_customer_sees_the_fix_for_the_tracker_that_lost_its_power(console: str, browser: webdriver.Chrome) -> None:
    signed_in(browser, console, "anna")

    def statuses(driver: webdriver.Chrome) -> dict[str, str] | None:
        driver.get(f"{console}/devices")  # the list shows stored findings: diagnosis follows the data
        rows = {row.get_attribute("data-imei"): row.get_attribute("data-status")
                for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-imei]")}
        return rows if rows.get(POWER_CUT) == "problem" else None

    rows = WebDriverWait(browser, 30, poll_frequency=1).until(statuses)
    assert rows == {POWER_CUT: "problem", HEALTHY: "ok"}  # Beta's tracker is not listed
    screenshot(browser, "customer-trackers")
    assert severe_violations(browser) == []

    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, "GD 49668"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-overall]").get_attribute("data-overall") == "problem"
    power = browser.find_element(By.CSS_SELECTOR, "[data-check=power]")
    assert power.get_attribute("data-status") == "fail"
    assert "What to do" in power.text
    checks = {c.get_attribute("data-check") for c in browser.find_elements(By.CSS_SELECTOR, "[data-check]")}
    assert checks == {"activation", "connection", "connectivity", "coverage", "gnss", "power", "ignition", "clock",
                      "data_delay", "protocol"}
    screenshot(browser, "customer-tracker-power-cut")
    assert severe_violations(browser) == []

    browser.get(f"{console}/devices/{OTHER}")  # another account's tracker: a 404 page, as in the API
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "KR 9876B" not in browser.page_source


def test_the_customer_office_gets_no_position_in_any_response(console: str, browser: webdriver.Chrome) -> None:
    signed_in(browser, console, "office")
    bodies = []
    for path in ("/devices", f"/devices/{POWER_CUT}"):
        browser.get(f"{console}{path}")
        bodies.append(browser.page_source)
    screenshot(browser, "office-tracker")
    assert browser.find_element(By.CSS_SELECTOR, "[data-overall]").get_attribute("data-overall") == "problem"
    received = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            request_id = message["params"]["requestId"]
            try:
                body = browser.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})
            except Exception:  # a response the browser no longer keeps (a redirect): nothing to read
                continue
            received.append(body.get("body", ""))
    assert received, "the network log holds the responses"
    for text in bodies + received:
        assert "52.2297" not in text and "21.0122" not in text  # the trackers' positions
        assert "Last position" not in text


def signed_in(browser: webdriver.Chrome, console: str, username: str) -> None:
    """Sign in as ``username``; the console's home page follows."""
    sign_in(browser, console, username, PASSWORD)
    assert browser.current_url == f"{console}/"


def submit(browser: webdriver.Chrome, css: str) -> None:
    """Press a form's button and wait until the page it leads to has replaced this one."""
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, css))


def test_a_customer_opens_a_ticket_follows_it_closes_it_with_a_rating_and_reopens_it(
        console: str, browser: webdriver.Chrome) -> None:
    signed_in(browser, console, "anna")
    browser.get(f"{console}/devices/{POWER_CUT}")
    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, "Open a ticket for this tracker"))
    assert browser.find_element(By.ID, "devices").get_attribute("value") == POWER_CUT
    browser.find_element(By.ID, "description").send_keys("The tracker in GD 49668 shows no power.")
    screenshot(browser, "customer-ticket-new")
    assert severe_violations(browser) == []
    submit(browser, "form[action='/tickets/new'] button")
    WebDriverWait(browser, 10).until(expected_conditions.url_matches(r"/tickets/\d+$"))
    ticket_url = browser.current_url

    def state() -> str | None:
        return browser.find_element(By.CSS_SELECTOR, "h1 ~ p [data-ticket-state]").get_attribute("data-ticket-state")

    assert state() == "new"
    kinds = [e.get_attribute("data-kind") for e in browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
    assert kinds[0] == "created" and "selfcheck" in kinds  # enriched with the tracker's self-check at once

    browser.find_element(By.ID, "reply").send_keys("It is parked in our yard.")
    submit(browser, "form[action$='/reply'] button")
    assert "It is parked in our yard." in browser.find_element(By.CSS_SELECTOR, "ol.timeline").text

    browser.find_element(By.CSS_SELECTOR, "input[name=rating][value=bad]").click()
    submit(browser, "form[action$='/close'] button")
    assert "reason" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text  # bad asks why
    assert state() == "new"
    browser.find_element(By.CSS_SELECTOR, "input[name=rating][value=bad]").click()
    browser.find_element(By.ID, "reason").send_keys("Nobody answered for a day.")
    submit(browser, "form[action$='/close'] button")
    assert state() == "closed"
    screenshot(browser, "customer-ticket-closed")
    assert severe_violations(browser) == []

    submit(browser, "form[action$='/reopen'] button")
    assert browser.current_url == ticket_url and state() == "open"


def test_another_account_cannot_reach_a_ticket_page(console: str, browser: webdriver.Chrome) -> None:
    signed_in(browser, console, "office")
    browser.get(f"{console}/tickets")
    ids = [row.get_attribute("data-ticket") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-ticket]")]
    assert ids, "the customer office sees the customers' tickets"
    browser.get(f"{console}/tickets/999999")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"


def test_the_desk_sees_its_queue_with_due_times_most_urgent_first(console: str, browser: webdriver.Chrome) -> None:
    browser.set_window_size(1280, 900)
    signed_in(browser, console, "tech")

    def queued(driver: webdriver.Chrome) -> list[Any] | None:
        driver.get(f"{console}/desk?team=technical")  # the power cut opens a technical ticket by itself
        rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-ticket]")
        return rows or None

    rows = WebDriverWait(browser, 30, poll_frequency=1).until(queued)
    assert {row.get_attribute("data-team") for row in rows} == {"technical"}
    dues = [row.find_element(By.CSS_SELECTOR, "[data-due=first_response]").text for row in rows]
    assert all(re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC|answered", due) for due in dues), dues
    assert "GD 49668" not in browser.page_source  # technical staff read tickets without plates
    screenshot(browser, "desk-technical")
    assert severe_violations(browser) == []
    signed_in(browser, console, "anna")
    browser.get(f"{console}/desk")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"  # the desk is staff's
