"""A customer's trackers in the console, in Chromium against the real service: the list with statuses,
the self-check of a tracker that lost its power feed with the fix to do, another account's tracker as a
404 page, and no position anywhere for the customer office (pages and the browser's network log)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.console import PASSWORD, add_users, import_devices, send_fixes, serving
from tests.browser.driver import checked, click_and_wait_for_next_page, responses, screenshot, signed_in, submit
from tests.hostile.payloads import NOW
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow
POWER_CUT, HEALTHY, OTHER = "356307042441013", "356307042441021", "356307042441039"
USERS = {"anna": ("customer", "Acme Logistics"), "office": ("customer_office", None), "tech": ("technical", None)}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with two accounts' trackers, one of them without power, and a user per role."""
    root = tmp_path_factory.mktemp("trackers")
    server = ServerProcess(root / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n")
    import_devices(server, "imei,protocol,account,vehicle_plate\n"
                   f"{POWER_CUT},teltonika,Acme Logistics,GD 49668\n{HEALTHY},teltonika,Acme Logistics,WX 1234A\n"
                   f"{OTHER},teltonika,Beta Transport,KR 9876B\n")
    add_users(server, USERS)
    with serving(server) as address:
        for imei, volts in ((POWER_CUT, 0.0), (HEALTHY, 13.8), (OTHER, 13.8)):
            send_fixes(server, imei, NOW, ext_voltage_v=volts, battery_voltage_v=4.0)
        yield address


def test_a_customer_sees_the_fix_for_the_tracker_that_lost_its_power(console: str, phone: webdriver.Chrome) -> None:
    signed_in(phone, console, "anna", PASSWORD)

    def statuses(driver: webdriver.Chrome) -> dict[str, str] | None:
        driver.get(f"{console}/devices")  # the list shows stored findings: diagnosis follows the data
        rows = {row.get_attribute("data-imei"): row.get_attribute("data-status")
                for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-imei]")}
        return rows if rows.get(POWER_CUT) == "problem" else None

    rows = WebDriverWait(phone, 30, poll_frequency=1).until(statuses)
    assert rows == {POWER_CUT: "problem", HEALTHY: "ok"}  # Beta's tracker is not listed
    checked(phone, "customer-trackers")

    click_and_wait_for_next_page(phone, phone.find_element(By.LINK_TEXT, "GD 49668"))
    assert phone.find_element(By.CSS_SELECTOR, "[data-overall]").get_attribute("data-overall") == "problem"
    power = phone.find_element(By.CSS_SELECTOR, "[data-check=power]")
    assert power.get_attribute("data-status") == "fail"
    assert "What to do" in power.text
    checks = {c.get_attribute("data-check") for c in phone.find_elements(By.CSS_SELECTOR, "[data-check]")}
    assert checks == {"activation", "connection", "connectivity", "coverage", "gnss", "power", "ignition", "clock",
                      "data_delay", "protocol"}
    checked(phone, "customer-tracker-power-cut")

    phone.get(f"{console}/devices/{OTHER}")  # another account's tracker: a 404 page, as in the API
    assert phone.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "KR 9876B" not in phone.page_source


def test_the_customer_office_gets_no_position_in_any_response(console: str, phone: webdriver.Chrome) -> None:
    signed_in(phone, console, "office", PASSWORD)
    bodies = []
    for path in ("/devices", f"/devices/{POWER_CUT}"):
        phone.get(f"{console}{path}")
        bodies.append(phone.page_source)
    screenshot(phone, "office-tracker")
    assert phone.find_element(By.CSS_SELECTOR, "[data-overall]").get_attribute("data-overall") == "problem"
    received = [body for _, body in responses(phone)]
    assert received, "the network log holds the responses"
    for text in bodies + received:
        assert "52.2297" not in text and "21.0122" not in text  # the trackers' positions
        assert "Last position" not in text


def test_a_customer_opens_a_ticket_follows_it_closes_it_with_a_rating_and_reopens_it(
        console: str, phone: webdriver.Chrome) -> None:
    signed_in(phone, console, "anna", PASSWORD)
    phone.get(f"{console}/devices/{POWER_CUT}")
    click_and_wait_for_next_page(phone, phone.find_element(By.LINK_TEXT, "Open a ticket for this tracker"))
    assert phone.find_element(By.ID, "devices").get_attribute("value") == POWER_CUT
    phone.find_element(By.ID, "description").send_keys("The tracker in GD 49668 shows no power.")
    checked(phone, "customer-ticket-new")
    submit(phone, "form[action='/tickets/new'] button")
    WebDriverWait(phone, 10).until(expected_conditions.url_matches(r"/tickets/\d+$"))
    ticket_url = phone.current_url

    def state() -> str | None:
        return phone.find_element(By.CSS_SELECTOR, "h1 ~ p [data-ticket-state]").get_attribute("data-ticket-state")

    assert state() == "new"
    kinds = [e.get_attribute("data-kind") for e in phone.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
    assert kinds[0] == "created" and "selfcheck" in kinds  # enriched with the tracker's self-check at once

    phone.find_element(By.ID, "reply").send_keys("It is parked in our yard.")
    submit(phone, "form[action$='/reply'] button")
    assert "It is parked in our yard." in phone.find_element(By.CSS_SELECTOR, "ol.timeline").text

    phone.find_element(By.CSS_SELECTOR, "input[name=rating][value=bad]").click()
    submit(phone, "form[action$='/close'] button")
    assert "reason" in phone.find_element(By.CSS_SELECTOR, "[role=alert]").text  # bad asks why
    assert state() == "new"
    phone.find_element(By.CSS_SELECTOR, "input[name=rating][value=bad]").click()
    phone.find_element(By.ID, "reason").send_keys("Nobody answered for a day.")
    submit(phone, "form[action$='/close'] button")
    assert state() == "closed"
    checked(phone, "customer-ticket-closed")

    submit(phone, "form[action$='/reopen'] button")
    assert phone.current_url == ticket_url and state() == "open"


def test_another_account_cannot_reach_a_ticket_page(console: str, phone: webdriver.Chrome) -> None:
    signed_in(phone, console, "office", PASSWORD)
    phone.get(f"{console}/tickets")
    ids = [row.get_attribute("data-ticket") for row in phone.find_elements(By.CSS_SELECTOR, "tr[data-ticket]")]
    assert ids, "the customer office sees the customers' tickets"
    phone.get(f"{console}/tickets/999999")
    assert phone.find_element(By.TAG_NAME, "h1").text == "Not found"


def test_the_desk_sees_its_queue_with_due_times_most_urgent_first(console: str, browser: webdriver.Chrome) -> None:
    signed_in(browser, console, "tech", PASSWORD)

    def queued(driver: webdriver.Chrome) -> list[Any] | None:
        driver.get(f"{console}/desk?team=technical")  # the power cut opens a technical ticket by itself
        rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-ticket]")
        return rows or None

    rows = WebDriverWait(browser, 30, poll_frequency=1).until(queued)
    assert {row.get_attribute("data-team") for row in rows} == {"technical"}
    dues = [row.find_element(By.CSS_SELECTOR, "[data-due=first_response]").text for row in rows]
    assert all(re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC|answered", due) for due in dues), dues
    assert "GD 49668" not in browser.page_source  # technical staff read tickets without plates
    checked(browser, "desk-technical")
    signed_in(browser, console, "anna", PASSWORD)
    browser.get(f"{console}/desk")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"  # the desk is staff's
