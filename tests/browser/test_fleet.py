"""The technical team's fleet health in Chromium against the real service: counts per finding code,
filtering by a code with the form, the filtered table worst first with account pseudonyms (never
names), and a finding stored while the page is open appearing without a reload (live fragment)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.console import PASSWORD, add_users, import_devices, send_fixes, serving
from tests.browser.driver import PHONE, checked, click_and_wait_for_next_page, screenshot, sign_in
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow
POWER_CUT, HEALTHY, OTHER, LATE = "356307042441013", "356307042441021", "356307042441039", "356307042441047"
NEVER = "356307042441054"
ACCOUNTS = ("Acme Logistics", "Beta Transport")
LIVE_WAIT_S = 30
"""Longest wait for diagnostics to raise a finding and the page's 1 s refresh to show it."""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerProcess]]:
    """The service with trackers of two accounts, one without power, one never heard from."""
    root = tmp_path_factory.mktemp("fleet")
    server = ServerProcess(root / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n")
    activated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
    import_devices(server, "imei,protocol,account,vehicle_plate,activated_at\n"
                   f"{POWER_CUT},teltonika,{ACCOUNTS[0]},GD 49668,\n{HEALTHY},teltonika,{ACCOUNTS[0]},WX 1234A,\n"
                   f"{OTHER},teltonika,{ACCOUNTS[1]},KR 9876B,\n{LATE},teltonika,{ACCOUNTS[1]},KR 1111C,\n"
                   f"{NEVER},gt06,{ACCOUNTS[1]},KR 2222D,{activated}\n")
    add_users(server, {"tech": ("technical", None)})
    with serving(server) as address:
        for imei, volts in ((POWER_CUT, 0.0), (HEALTHY, 13.8), (OTHER, 13.8), (LATE, 13.8)):
            send_fixes(server, imei, ext_voltage_v=volts, battery_voltage_v=4.0)
        yield address, server


def rows(driver: webdriver.Chrome) -> dict[str, dict[str, str]]:
    """The device table's rows by IMEI: status and active codes, read in one script (the live refresh
    may replace the table between two WebDriver calls)."""
    found: dict[str, dict[str, str]] = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('tr[data-imei]')].map("
        "row => [row.dataset.imei, {status: row.dataset.status, codes: row.dataset.codes}]))"
    )
    return found


def test_technical_staff_filter_the_fleet_by_a_finding_code(console: tuple[str, ServerProcess],
                                                            browser: webdriver.Chrome) -> None:
    address, _ = console
    sign_in(browser, address, "tech", PASSWORD)

    def counted(driver: webdriver.Chrome) -> Any:
        driver.get(f"{address}/fleet")  # findings follow the data: diagnosis runs after each commit
        return driver.find_elements(By.CSS_SELECTOR, "li[data-code=EXTERNAL_POWER_LOST]") or None

    WebDriverWait(browser, LIVE_WAIT_S, poll_frequency=1).until(counted)
    assert browser.find_element(By.CSS_SELECTOR, "[data-total=devices] .value").text == "5"
    table = rows(browser)
    assert set(table) == {POWER_CUT, HEALTHY, OTHER, LATE, NEVER}
    assert list(table)[0] in (POWER_CUT, NEVER) and table[POWER_CUT]["status"] == "problem"
    for name in ACCOUNTS + ("GD 49668", "WX 1234A"):
        assert name not in browser.page_source  # technical staff read pseudonyms only
    pseudonyms = {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td[data-account]")}
    assert len(pseudonyms) == 2 and all(p.startswith("acct-") for p in pseudonyms)
    checked(browser, "fleet-technical")

    Select(browser.find_element(By.ID, "code")).select_by_value("EXTERNAL_POWER_LOST")
    Select(browser.find_element(By.ID, "protocol")).select_by_value("teltonika")
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form.fleet-filters button"))
    assert "code=EXTERNAL_POWER_LOST" in browser.current_url and "protocol=teltonika" in browser.current_url
    filtered = rows(browser)
    assert POWER_CUT in filtered and HEALTHY not in filtered and OTHER not in filtered
    assert all("EXTERNAL_POWER_LOST" in row["codes"].split() for row in filtered.values())
    matching = browser.find_element(By.CSS_SELECTOR, "[data-matching]")
    assert matching.get_attribute("data-matching") == str(len(filtered))
    assert Select(browser.find_element(By.ID, "code")).first_selected_option.get_attribute("value") == \
        "EXTERNAL_POWER_LOST"
    current = browser.find_element(By.CSS_SELECTOR, "li[data-code=EXTERNAL_POWER_LOST] a")
    assert current.get_attribute("aria-current") == "true"
    checked(browser, "fleet-filtered-by-code")

    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, POWER_CUT))
    assert browser.current_url == f"{address}/devices/{POWER_CUT}"  # the tracker's own page
    assert browser.find_element(By.TAG_NAME, "h1").text != "Not found"

    browser.set_window_size(*PHONE)  # a phone's screen
    browser.get(f"{address}/fleet?code=EXTERNAL_POWER_LOST")
    checked(browser, "fleet-phone")
    browser.execute_script("document.querySelector('.fleet-devices').scrollIntoView()")
    screenshot(browser, "fleet-phone-devices")


def test_a_new_finding_appears_without_a_reload(console: tuple[str, ServerProcess],
                                                browser: webdriver.Chrome) -> None:
    address, server = console
    sign_in(browser, address, "tech", PASSWORD)
    browser.get(f"{address}/fleet?code=EXTERNAL_POWER_LOST&refresh=1")
    live = browser.find_element(By.ID, "fleet-live")
    assert live.get_attribute("data-live-interval") == "1"
    assert LATE not in rows(browser)
    browser.execute_script("document.documentElement.dataset.sameDocument = 'yes'")

    send_fixes(server, LATE, ext_voltage_v=0.0, battery_voltage_v=4.0)  # its power is cut while the page is open
    WebDriverWait(browser, LIVE_WAIT_S, poll_frequency=0.5).until(lambda d: LATE in rows(d))
    assert browser.execute_script("return document.documentElement.dataset.sameDocument") == "yes"
    assert "EXTERNAL_POWER_LOST" in rows(browser)[LATE]["codes"].split()
    assert browser.find_element(By.ID, "fleet-live").get_attribute("data-live-stale") == "0"
    checked(browser, "fleet-live-new-finding")
