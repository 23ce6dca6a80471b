"""The customer office's accounts pages and the outage pages in Chromium against the real service.

The customer office opens the accounts and one account: a tracker in its activation window, one
refused by a foreign network (from connectivity events the service diagnosed), and one that sends
positions, none of which may reach the browser in any response (pages and the network log). Technical
staff open the outages: three trackers on one APN that never reported after activation make one
MASS_OUTAGE parent through the service's own diagnostics and ticket correlation: their home networks
accepted their data sessions, then refuse them on that APN (an outage of the APN, not of one operator).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from protocols.record import iso_utc
from tests.browser.console import PASSWORD, add_users, import_devices, import_events, send_fixes, serving
from tests.browser.driver import (
    DESKTOP,
    PHONE,
    checked,
    click_and_wait_for_next_page,
    responses,
    sign_in,
    signed_in,
)
from tests.hostile.payloads import NOW
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow
REPORTING, NEW, ROAMER = "356307042441062", "356307042441070", "356307042441088"
OUTAGE_APN = "m2m.outage.example"
DARK = ("356307042441096", "356307042441104", "356307042441112")
"""Activated three days ago on one APN and never heard from: NO_DATA_AFTER_ACTIVATION on each, one outage."""
LAT, LON = "52.2297", "21.0122"
"""Where the reporting tracker is (``tests.hostile.payloads.fix``)."""
USERS = {"office": ("customer_office", None), "tech": ("technical", None)}
NO_TELEMETRY = ("voltage", "Voltage", "km/h", "satellite", "Last position", "latitude", "longitude")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with Acme's trackers (reporting, new, roaming abroad) and Delta's dark trackers."""
    root = tmp_path_factory.mktemp("office")
    server = ServerProcess(root / "data", extra_toml=(
        "[diagnostics]\nbatch_check_min_interval_s = 1\nsweep_interval_s = 2\n"
        "[tickets]\nmass_outage_min_devices = 3\nsweep_interval_s = 2\n"))
    activated_new = iso_utc(NOW - 6 * 3600)
    activated_dark = iso_utc(NOW - 3 * 86400)
    lines = ["imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at",
             f"{REPORTING},teltonika,Acme Logistics,WX 1234A,,,,eu,PL,",
             f"{NEW},teltonika,Acme Logistics,WX 5678B,8948011234567890149,internet,true,,,{activated_new}",
             f"{ROAMER},teltonika,Acme Logistics,WX 9012C,8948011234567890156,internet,false,,,"]
    lines += [f"{imei},teltonika,Delta Haulage,,{dark_iccid(i)},{OUTAGE_APN},false,domestic,PL,"
              f"{activated_dark}" for i, imei in enumerate(DARK)]
    import_devices(server, "\n".join(lines) + "\n")
    time.sleep(1.5)  # the failures begin after the registration: older ones are no news of today
    began = time.time() - 1.0
    import_events(server, (
        {"iccid": dark_iccid(i), "imei": imei, "at": iso_utc(began + offset), "type": kind, "cause": cause,
         "apn": OUTAGE_APN, "mcc": 260, "mnc": i + 1}  # three Polish operators: only the APN is shared
        for i, imei in enumerate(DARK)
        for offset, kind, cause in ((0.0, "pdp_create", None), (0.5, "pdp_reject", 33), (0.9, "pdp_reject", 33))
    ))
    import_events(server, ({"iccid": "8948011234567890156", "imei": ROAMER, "at": iso_utc(NOW - seconds),
                            "type": "attach_reject", "cause": 11, "mcc": 262, "mnc": 1} for seconds in (900, 600, 300)))
    add_users(server, USERS)
    with serving(server) as address:
        send_fixes(server, REPORTING, NOW, ext_voltage_v=13.8, battery_voltage_v=4.0)
        yield address


def dark_iccid(i: int) -> str:
    return f"89480112345678902{i:02d}"


def rows_when(driver: webdriver.Chrome, url: str, css: str, ready: Any, timeout_s: float = 40.0) -> list[Any]:
    """Load ``url`` until the rows ``css`` satisfy ``ready`` (diagnosis follows the data by a sweep or two)."""
    def loaded(d: webdriver.Chrome) -> list[Any] | None:
        d.get(url)
        rows = d.find_elements(By.CSS_SELECTOR, css)
        return rows if rows and ready(rows) else None

    return WebDriverWait(driver, timeout_s, poll_frequency=1).until(loaded)


def test_the_customer_office_reads_accounts_and_gets_no_position_in_any_response(
        console: str, browser: webdriver.Chrome) -> None:
    signed_in(browser, console, "office", PASSWORD)
    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, "Accounts"))
    accounts = {row.get_attribute("data-account") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-account]")}
    assert accounts == {"Acme Logistics", "Delta Haulage"}
    assert browser.find_element(By.CSS_SELECTOR, "a[href='/desk?team=customer_office']")
    checked(browser, "office-accounts")

    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, "Acme Logistics"))
    account_url = browser.current_url
    assert account_url == f"{console}/accounts/Acme%20Logistics"
    rows = rows_when(browser, account_url, "tr[data-imei]",
                     lambda rows: any(r.get_attribute("data-roaming") == "rejected" for r in rows))
    by_imei = {row.get_attribute("data-imei"): row for row in rows}
    assert set(by_imei) == {REPORTING, NEW, ROAMER}
    assert by_imei[NEW].get_attribute("data-activation") == "window"
    assert "Activation window until" in by_imei[NEW].text
    assert "The network in DE refuses the SIM card." in by_imei[ROAMER].text
    assert "No roaming on the SIM plan" in by_imei[ROAMER].text
    assert browser.find_element(By.CSS_SELECTOR, "[data-fact=coverage]").text.startswith("EU")
    checked(browser, "office-account")
    browser.set_window_size(*PHONE)
    browser.get(account_url)
    checked(browser, "office-account-phone")

    browser.get(f"{console}/outages")  # not the customer office's
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"

    received = responses(browser)
    assert any(urlsplit(url).path == "/accounts/Acme%20Logistics" for url, _ in received)
    for url, body in received:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            continue  # the browser's own pages (chrome://new-tab-page...), not the network
        assert f"{parts.scheme}://{parts.netloc}" == console, url  # nothing from anywhere else
        assert parts.path in ("/", "/login", "/favicon.ico", "/accounts", "/accounts/Acme%20Logistics", "/outages") \
            or parts.path.startswith("/static/"), url
        assert LAT not in body and LON not in body, url
        if not parts.path.startswith("/static/"):
            for word in NO_TELEMETRY:
                assert word not in body, (url, word)


def test_technical_staff_follow_an_outage_to_its_children_and_trackers(console: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, console, "tech", PASSWORD)
    rows = rows_when(browser, f"{console}/outages", "tr[data-outage]",
                     lambda rows: rows[0].find_element(By.CSS_SELECTOR, "[data-count=children]").text == "3")
    outage = rows[0]
    assert (outage.get_attribute("data-shared-kind"), outage.get_attribute("data-shared-value")) == ("apn", OUTAGE_APN)
    assert outage.find_element(By.CSS_SELECTOR, "[data-count=devices]").text == "3"
    checked(browser, "outages")
    browser.set_window_size(*PHONE)
    browser.get(f"{console}/outages")
    checked(browser, "outages-phone")
    browser.set_window_size(*DESKTOP)
    outage = browser.find_element(By.CSS_SELECTOR, "tr[data-outage]")

    click_and_wait_for_next_page(browser, outage.find_element(By.CSS_SELECTOR, "a[href^='/outages/']"))
    shared = browser.find_element(By.CSS_SELECTOR, "dd[data-shared-kind]")
    assert shared.get_attribute("data-shared-value") == OUTAGE_APN
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-child]")) == 3
    assert sorted(r.get_attribute("data-imei") for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-imei]")) == \
        sorted(DARK)
    assert "Delta Haulage" not in browser.page_source  # technical staff read no account names
    checked(browser, "outage")
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "a[data-parent]"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-ticket-state]")

    browser.get(f"{console}/accounts")  # not technical staff's
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
