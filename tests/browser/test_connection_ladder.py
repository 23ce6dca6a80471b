"""The connection ladder on a tracker's page in Chromium against the real service: a customer whose
tracker has mobile data but sends to another server reads the steps in order, the broken one
highlighted with the server address and port to set; a tracker that reports shows no broken step;
a Polish reader gets the ladder in Polish."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from protocols.record import iso_utc
from telediag.diagnostics.ladder import RUNG_IDS
from tests.browser.console import PASSWORD, add_users, import_devices, import_events, send_fixes, serving
from tests.browser.driver import PHONE, checked, chromium, running, screenshot, sign_in
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow
ELSEWHERE = "356307042441013"
HERE = "356307042441021"
ICCIDS = {ELSEWHERE: "8948011234567890123", HERE: "8948011234567890131"}
USERS = {"anna": ("customer", "Acme Logistics")}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with two trackers whose SIMs opened a data session 15 minutes ago; one reports."""
    root = tmp_path_factory.mktemp("ladder")
    server = ServerProcess(root / "data")
    import_devices(server, "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at\n"
                   + "".join(f"{imei},teltonika,Acme Logistics,GD {imei[-4:]},{iccid},internet.fleet,false,domestic,"
                             "PL,2026-01-01T00:00:00Z\n" for imei, iccid in ICCIDS.items()))
    add_users(server, USERS)
    now = time.time()
    import_events(server, [
        {"iccid": iccid, "at": iso_utc(now - 900 + offset), "type": kind, "apn": apn, "mcc": 260, "mnc": 1,
         "rat": "LTE-M"}
        for iccid in ICCIDS.values()
        for offset, kind, apn in ((0, "attach", None), (5, "pdp_create", "internet.fleet"))])
    with serving(server) as address:
        send_fixes(server, HERE)
        yield address


def rung_statuses(driver: webdriver.Chrome) -> list[tuple[str | None, str | None]]:
    return [(li.get_attribute("data-rung"), li.get_attribute("data-rung-status"))
            for li in driver.find_elements(By.CSS_SELECTOR, "ol.rungs > li[data-rung]")]


def test_the_customer_reads_where_the_data_stops_and_the_server_address_to_set(
        console: str, phone: webdriver.Chrome) -> None:
    sign_in(phone, console, "anna", PASSWORD)
    phone.get(f"{console}/devices/{ELSEWHERE}")
    assert rung_statuses(phone) == [("sim", "ok"), ("attach", "ok"), ("data", "ok"), ("tcp", "fail"),
                                    ("identified", "unknown"), ("decoded", "unknown"), ("fix", "unknown"),
                                    ("clock", "unknown")]
    ladder = phone.find_element(By.CSS_SELECTOR, "section.ladder")
    assert ladder.get_attribute("data-ladder-verdict") == "tcp"
    [broken] = phone.find_elements(By.CSS_SELECTOR, "ol.rungs > li.broken")
    assert broken.get_attribute("data-rung") == "tcp" and broken.get_attribute("aria-current") == "step"
    assert "Messages reach the server" in broken.text and "so its APN is right" in broken.text
    assert "What to do:" in broken.text and "setparam 2004:<server address>;2005:" in broken.text
    assert len(phone.find_elements(By.CSS_SELECTOR, "ol.rungs p.hint")) == 1  # only the broken step's fix
    border = phone.execute_script("return getComputedStyle(arguments[0]).borderLeftColor", broken)
    assert border == "rgb(164, 38, 44)"  # highlighted
    assert phone.find_element(By.CSS_SELECTOR, "[data-check=connection]").get_attribute("data-status") == "fail"
    assert phone.find_element(By.CSS_SELECTOR, "[data-overall]").get_attribute("data-overall") == "problem"
    checked(phone, "customer-connection-ladder")
    phone.execute_script("document.querySelector('section.ladder').scrollIntoView()")
    screenshot(phone, "customer-connection-ladder-steps")


def test_a_tracker_that_reports_has_no_broken_step(console: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, console, "anna", PASSWORD)
    browser.get(f"{console}/devices/{HERE}")
    statuses = dict(rung_statuses(browser))
    assert tuple(statuses) == RUNG_IDS
    assert [statuses[r] for r in ("sim", "attach", "data", "tcp", "identified", "decoded")] == ["ok"] * 6
    assert browser.find_element(By.CSS_SELECTOR, "section.ladder").get_attribute("data-ladder-verdict") in ("", "fix",
                                                                                                            "clock")
    checked(browser, "customer-connection-ladder-reporting")


def test_a_polish_reader_gets_the_ladder_in_polish(console: str, tmp_path: Path) -> None:
    with running(chromium(tmp_path / "profile", *PHONE, languages="pl-PL,pl")) as driver:
        sign_in(driver, console, "anna", PASSWORD)
        driver.get(f"{console}/devices/{ELSEWHERE}")
        ladder = driver.find_element(By.CSS_SELECTOR, "section.ladder")
        assert "Od karty SIM do mapy" in ladder.text and "Wiadomości docierają do serwera" in ladder.text
        assert "2004:<adres serwera>;2005:" in driver.find_element(By.CSS_SELECTOR, "li.broken").text
        screenshot(driver, "customer-connection-ladder-pl")
