"""Raw traffic in Chromium against the real service: technical staff read a tracker's frames in and
out on its page and the unknown senders' page names the tracker on the wrong port and the port to
set; a customer sees neither."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from protocols import gt06
from tests.browser.console import PASSWORD, add_users, import_devices, send_fixes, serving
from tests.browser.driver import checked, click_and_wait_for_next_page, screenshot, sign_in
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow
TRACKER, GT06_TRACKER = "356307042441013", "356307042441104"
USERS = {"anna": ("customer", "Acme Logistics"), "tech": ("technical", None)}


def knock(port: int, data: bytes) -> None:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        while sock.recv(4096):
            pass


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with a Teltonika tracker that sent its fixes, and a GT06 tracker set to the Teltonika port."""
    root = tmp_path_factory.mktemp("traffic")
    server = ServerProcess(root / "data")
    import_devices(server, "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country\n"
                   f"{TRACKER},teltonika,Acme Logistics,GD 49668,,,,domestic,PL\n"
                   f"{GT06_TRACKER},gt06,Acme Logistics,GD 49669,,,,domestic,PL\n")
    add_users(server, USERS)
    with serving(server) as address:
        send_fixes(server, TRACKER)
        knock(server.ports["teltonika"], gt06.encode_login(GT06_TRACKER, 1))
        yield address


def frames_shown(driver: webdriver.Chrome) -> bool:
    return bool(driver.find_elements(By.CSS_SELECTOR, ".device-traffic [data-traffic-frame]"))


def test_technical_staff_read_the_frames_and_the_tracker_on_the_wrong_port(
        console: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, console, "tech", PASSWORD)
    browser.get(f"{console}/devices/{TRACKER}")
    WebDriverWait(browser, 10).until(frames_shown)
    rows = browser.find_elements(By.CSS_SELECTOR, ".device-traffic [data-traffic-frame]")
    directions = [row.get_attribute("data-traffic-frame") for row in rows]
    assert directions[-2:] == ["out", "in"]  # newest first: the login's answer, then the login itself
    assert f"login {TRACKER}" in rows[-1].text and "received · TCP" in rows[-1].text
    received = [row.text for row in rows if row.get_attribute("data-traffic-frame") == "in"]
    assert any("avl: 1 record" in text for text in received[:-1]), received  # ACKs may follow in a run
    assert rows[-2].find_element(By.CSS_SELECTOR, "pre.hex").text == "01"
    browser.execute_script("document.querySelector('.device-traffic').scrollIntoView()")
    checked(browser, "technical-device-raw-traffic")

    unknown = browser.find_element(By.CSS_SELECTOR, ".device-traffic a[href='/traffic/unknown']")
    click_and_wait_for_next_page(browser, unknown)
    wrong = browser.find_element(By.CSS_SELECTOR, "tr[data-wrong-protocol=gt06]")
    assert "GT06 frames arrive on the Teltonika port: set the tracker's server port to 5023." in wrong.text
    assert GT06_TRACKER in wrong.text and "127.0.0.1:" in wrong.text
    assert wrong.find_element(By.CSS_SELECTOR, "pre.hex").text.startswith("7878 0d01")
    checked(browser, "technical-unknown-senders")

    claimed = wrong.find_element(By.CSS_SELECTOR, f"a[href='/traffic/devices/{GT06_TRACKER}']")
    click_and_wait_for_next_page(browser, claimed)
    error = browser.find_element(By.CSS_SELECTOR, "tr[data-frame-error]")
    assert "wrong protocol: gt06 frames on the teltonika port" in error.text
    screenshot(browser, "technical-wrong-port-frames")


def test_a_customer_sees_no_raw_traffic(console: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, console, "anna", PASSWORD)
    browser.get(f"{console}/devices/{TRACKER}")
    assert browser.find_element(By.CSS_SELECTOR, "[data-overall]")
    assert not browser.find_elements(By.CSS_SELECTOR, ".device-traffic")
    for path in ("/traffic/unknown", f"/traffic/devices/{TRACKER}", f"/traffic/devices/{TRACKER}/frames"):
        browser.get(console + path)
        assert "There is no such page." in browser.page_source, path
