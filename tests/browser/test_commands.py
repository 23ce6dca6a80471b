"""The commands section of a tracker's page and the fix button of a ticket, in Chromium against the real
service: technical staff send a command with the form (CSRF as every form) and read the tracker's
answer once it connects; the customer reads the history without a form; the customer office gets no
section; a ticket about a wrong APN offers the fix as a button that queues it and says so on the ticket."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from protocols.record import iso_utc
from tests.browser.console import PASSWORD, add_users, import_devices, import_events, serving
from tests.browser.driver import checked, screenshot, sign_in, submit
from tests.integration.harness import ServerProcess, run_cli
from tests.integration.teltonika_device import TeltonikaDevice

pytestmark = pytest.mark.slow
IMEI, WRONG_APN = "356307042441013", "356307042441021"
ICCID = "8948011234567890123"
USERS = {"anna": ("customer", "Acme Logistics"), "office": ("customer_office", None), "tech": ("technical", None)}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerProcess]]:
    root = tmp_path_factory.mktemp("commands")
    server = ServerProcess(root / "data", extra_toml="[commands]\npoll_interval_s = 0.2\n")
    import_devices(server, "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country\n"
                   f"{IMEI},teltonika,Acme Logistics,GD 49668,,,,domestic,PL\n"
                   f"{WRONG_APN},teltonika,Acme Logistics,GD 12345,{ICCID},fleet.example,false,domestic,PL\n")
    add_users(server, USERS)
    now = time.time()
    import_events(server, [{"iccid": ICCID, "imei": WRONG_APN, "at": iso_utc(now - 30 + i), "type": "pdp_reject",
                            "cause": 27, "apn": "wrong.apn", "mcc": 260, "mnc": 1, "rat": "4G"} for i in range(2)])
    with serving(server) as address:
        yield address, server


def state_of(driver: webdriver.Chrome, url: str, wanted: str) -> bool:
    driver.get(url)
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-command]")
    return bool(rows) and rows[0].get_attribute("data-command-state") == wanted


def test_staff_send_a_command_and_read_the_answer_customers_read_the_history(
        console: tuple[str, ServerProcess], browser: webdriver.Chrome) -> None:
    base, server = console
    url = f"{base}/devices/{IMEI}"
    sign_in(browser, base, "tech", PASSWORD)
    browser.get(url)
    browser.find_element(By.ID, "command-text").send_keys("getstatus")
    submit(browser, "form[data-command-form] button[type=submit]")
    assert browser.current_url.startswith(url)
    assert state_of(browser, url, "queued")
    device = TeltonikaDevice(IMEI, server.ports["teltonika"])
    try:
        device.send_record()
        device.serve(until="getstatus")
    finally:
        device.close()
    WebDriverWait(browser, 20, poll_frequency=0.5).until(lambda d: state_of(d, url, "answered"))
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-command]")
    assert "getstatus" in row.text and "Data Link: 1" in row.text and "tcp" in row.text
    browser.execute_script("document.getElementById('commands').scrollIntoView()")
    checked(browser, "device-commands-technical")

    browser.delete_all_cookies()
    sign_in(browser, base, "anna", PASSWORD)
    browser.get(url)
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-command-state=answered]")
    assert not browser.find_elements(By.CSS_SELECTOR, "form[data-command-form]")
    browser.execute_script("document.getElementById('commands').scrollIntoView()")
    screenshot(browser, "device-commands-customer")

    browser.delete_all_cookies()
    sign_in(browser, base, "office", PASSWORD)
    browser.get(url)
    assert not browser.find_elements(By.ID, "commands")


def api(server: ServerProcess, path: str) -> Any:
    token = run_cli(["tokens", "create", "--role", "technical", "--data-dir", str(server.data_dir)]).stdout.strip()
    request = urllib.request.Request(f"http://127.0.0.1:{server.api_port}{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_wrong_apn_ticket_offers_its_fix_as_a_button(console: tuple[str, ServerProcess],
                                                        browser: webdriver.Chrome) -> None:
    base, server = console
    ticket: dict[str, Any] | None = None
    deadline = time.monotonic() + 30
    while ticket is None and time.monotonic() < deadline:  # the finding, then its ticket, after the import
        ticket = next((t for t in api(server, f"/api/v1/tickets?imei={WRONG_APN}")["tickets"]
                       if "APN_MISCONFIGURED" in {f["code"] for f in t["findings"]}), None)
        time.sleep(0.2)
    assert ticket is not None, server.log()[-3000:]
    sign_in(browser, base, "tech", PASSWORD)
    browser.get(f"{base}/tickets/{ticket['id']}")
    offer = browser.find_element(By.CSS_SELECTOR, "form[data-fix-form]")
    assert "setparam 2001:fleet.example" in offer.text
    offer.location_once_scrolled_into_view  # noqa: B018 (scrolls the button into the screenshot)
    checked(browser, "ticket-fix-offered")
    submit(browser, "form[data-fix-form] button[type=submit]")
    assert browser.current_url == f"{base}/tickets/{ticket['id']}"
    assert not browser.find_elements(By.CSS_SELECTOR, "form[data-fix-form]"), "one fix waits for proof at a time"
    assert "sent the fix for APN_MISCONFIGURED" in browser.page_source
    browser.get(f"{base}/devices/{WRONG_APN}")
    assert browser.find_element(By.CSS_SELECTOR, "tr[data-command]").get_attribute("data-command-state") == "queued"
    browser.execute_script("document.getElementById('commands').scrollIntoView()")
    screenshot(browser, "device-commands-fix-queued")
