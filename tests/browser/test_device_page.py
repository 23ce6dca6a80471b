"""A tracker's page in Chromium against the real service: the customer reads the fix for a power cut
with the charts of the last hours and the track with its journeys; technical staff read the diagnosis
(connectivity timeline with causes in words, protocol errors, the tracker's command answers); the
page takes in a new record without a reload; the customer office gets no chart, track or position."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from protocols.record import Record, iso_utc
from protocols.teltonika.device import encode_imei
from telediag.store.writer import RecordBatch, Store
from tests.browser.console import PASSWORD, add_users, fixes, import_devices, import_events, serving
from tests.browser.driver import checked, click_and_wait_for_next_page, screenshot, severe_violations, sign_in
from tests.hostile.payloads import NOW, fix, teltonika_tcp
from tests.hostile.wire import send_stream
from tests.integration.harness import ServerProcess
from tests.stores import database_at

pytestmark = pytest.mark.slow
POWER_CUT = "356307042441013"
ICCID = "8948011234567890123"
USERS = {"anna": ("customer", "Acme Logistics"), "office": ("customer_office", None), "tech": ("technical", None)}
HOME = (54.3520, 18.6466)
"""Gdańsk: where the history drives from (inland, to the south-west); digits that appear nowhere else."""
CHARTS = ("ext_voltage", "battery_voltage", "gsm_signal", "satellites")


def history() -> list[Record]:
    """Three hours as the tracker reported them, every two minutes: a drive of 40 minutes, parked,
    then the external feed cut 30 minutes ago."""
    records = []
    for step in range(84):
        at = NOW - 3 * 3600 + 120 * step
        driving = 10 <= step < 30
        moved = min(max(step - 10, 0), 20)
        records.append(Record(
            imei=POWER_CUT, protocol="teltonika", fix_time=at, valid=True, lat=HOME[0] - 0.008 * moved,
            lon=HOME[1] - 0.004 * moved, speed_kmh=28.0 if driving else 0.0, course_deg=206.0,
            satellites=8 + step % 4, hdop=1.1, ignition=driving, motion=driving,
            ext_voltage_v=(14.1 if driving else 12.6) if at < NOW - 1800 else 0.0,
            battery_voltage_v=4.15 - 0.002 * max(0.0, (at - (NOW - 1800)) / 60),
            gsm_signal_pct=int(60 + 20 * math.sin(step / 9)),
            operator=26001, roaming=False))
    return records


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerProcess]]:
    """The service with a tracker that lost its power, its history, SIM events and answers; a user per role."""
    root = tmp_path_factory.mktemp("device-page")
    server = ServerProcess(root / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n")
    import_devices(server, "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country\n"
                   f"{POWER_CUT},teltonika,Acme Logistics,GD 49668,{ICCID},internet.fleet,false,domestic,PL\n")
    add_users(server, USERS)
    import_events(server, (
        {"iccid": ICCID, "at": iso_utc(NOW - 7000), "type": "attach", "mcc": 260, "mnc": 1, "rat": "LTE-M"},
        {"iccid": ICCID, "at": iso_utc(NOW - 6990), "type": "pdp_reject", "cause": 33, "apn": "internet",
         "mcc": 260, "mnc": 1, "rat": "LTE-M"},
        {"iccid": ICCID, "at": iso_utc(NOW - 6900), "type": "pdp_create", "apn": "internet.fleet", "mcc": 260,
         "mnc": 1, "rat": "LTE-M"},
    ))
    store = Store(database_at(server.database))  # the history as if received as it happened (no backlog)
    for record in history():
        store.commit([RecordBatch(POWER_CUT, "teltonika", [record], record.fix_time + 2)])
    store.close()
    db = database_at(server.database).connect()  # what the tracker answered to the server's Codec 12 questions earlier
    db.executemany("INSERT INTO device_evidence (imei, name, value, at) VALUES (?, ?, ?, ?)", [
        (POWER_CUT, "apn", "internet.fleet", NOW - 5000),
        (POWER_CUT, "apn_answer", "Param ID:2001 Value:internet.fleet", NOW - 5000)])
    db.commit()
    db.close()
    with serving(server) as address:
        frames = fixes(POWER_CUT, NOW, lat=HOME[0] - 0.16, lon=HOME[1] - 0.08, speed_kmh=0.0, ignition=False,
                       ext_voltage_v=0.0, battery_voltage_v=3.9, gsm_signal_pct=55)
        broken = bytearray(frames[0])
        broken[-1] ^= 0xFF  # a frame whose checksum does not match: a protocol error with its bytes kept
        send_stream(server.ports["teltonika"], (encode_imei(POWER_CUT), *frames, bytes(broken)))
        yield address, server


def power_check_failed(driver: webdriver.Chrome, url: str) -> bool:
    driver.get(url)  # diagnosis follows the data: wait for the power check to see the cut
    return driver.find_element(By.CSS_SELECTOR, "[data-check=power]").get_attribute("data-status") == "fail"


def diagnosed_page(driver: webdriver.Chrome, base: str, username: str) -> str:
    """Sign in as ``username`` and open the tracker's page once its power check sees the cut; its URL."""
    sign_in(driver, base, username, PASSWORD)
    url = f"{base}/devices/{POWER_CUT}"
    WebDriverWait(driver, 30, poll_frequency=1).until(lambda d: power_check_failed(d, url))
    return url


def images_drawn(driver: webdriver.Chrome) -> bool:
    """Every image of the page loaded and has a size (an SVG the browser could not draw has none)."""
    return bool(driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))


def test_a_customer_reads_the_fix_for_the_power_cut_with_the_charts_and_the_track(
        console: tuple[str, ServerProcess], phone: webdriver.Chrome) -> None:
    url = diagnosed_page(phone, console[0], "anna")
    power = phone.find_element(By.CSS_SELECTOR, "[data-check=power]")
    assert "What to do" in power.text
    assert phone.find_element(By.CSS_SELECTOR, "[data-overall]").get_attribute("data-overall") == "problem"
    figures = {f.get_attribute("data-chart"): f for f in phone.find_elements(By.CSS_SELECTOR, "figure[data-chart]")}
    assert tuple(figures) == CHARTS
    voltage = figures["ext_voltage"].find_element(By.TAG_NAME, "img")
    assert "lowest 0.0 V" in voltage.get_attribute("alt") and "last 0.0 V" in figures["ext_voltage"].text
    WebDriverWait(phone, 10).until(images_drawn)
    assert phone.find_element(By.CSS_SELECTOR, "img[data-track=map]").get_attribute("alt").startswith("Track of the")
    journeys = phone.find_elements(By.CSS_SELECTOR, "tr[data-journey]")
    assert journeys, "the drive of the history is a journey"
    assert "Connectivity events" not in phone.page_source and "data-finding" not in phone.page_source
    checked(phone, "customer-device-page")
    phone.execute_script("document.querySelector('figure[data-chart=ext_voltage]').scrollIntoView()")
    screenshot(phone, "customer-device-charts")
    phone.execute_script("document.querySelector('.device-track').scrollIntoView()")
    screenshot(phone, "customer-device-track")

    chart_url = voltage.get_attribute("src")
    click_and_wait_for_next_page(phone, phone.find_element(By.CSS_SELECTOR, "[data-action=check-again]"))
    assert phone.current_url.startswith(url)
    assert phone.find_element(By.CSS_SELECTOR, "[data-check=power]").get_attribute("data-status") == "fail"

    phone.get(chart_url)  # an image opened on its own is drawn with its styles (its own policy allows them)
    fill = phone.execute_script("return getComputedStyle(document.querySelector('#patch_1 path')).fill")
    assert fill == "rgb(255, 255, 255)"
    assert phone.execute_script("return document.querySelector('svg > title').textContent") == "External voltage"


def test_technical_staff_read_the_timeline_errors_and_answers(
        console: tuple[str, ServerProcess], browser: webdriver.Chrome) -> None:
    url = diagnosed_page(browser, console[0], "tech")
    reject = browser.find_element(By.CSS_SELECTOR, "tr[data-event=pdp_reject]")
    assert "33: Requested service option not subscribed" in reject.text
    assert "ESM cause" in reject.text
    assert browser.find_element(By.CSS_SELECTOR, "[data-protocol-error] pre.hex").text.startswith("00 00 00 00")
    assert "Param ID:2001" in browser.find_element(By.CSS_SELECTOR, ".device-answers").text
    WebDriverWait(browser, 30, poll_frequency=1).until(
        lambda d: d.get(url) or d.find_elements(By.CSS_SELECTOR, "[data-finding=EXTERNAL_POWER_LOST]"))
    finding = browser.find_element(By.CSS_SELECTOR, "[data-finding=EXTERNAL_POWER_LOST]")
    assert finding.find_elements(By.CSS_SELECTOR, "dl.evidence dt")
    assert "GD 49668" not in browser.page_source and "Acme" not in browser.page_source
    WebDriverWait(browser, 10).until(images_drawn)
    checked(browser, "technical-device-page")
    browser.execute_script("document.querySelector('.device-findings').scrollIntoView()")
    screenshot(browser, "technical-device-findings")
    browser.execute_script("document.querySelector('.device-events').scrollIntoView()")
    screenshot(browser, "technical-device-timeline")


def test_a_new_record_shows_on_the_open_page_without_a_reload(
        console: tuple[str, ServerProcess], phone: webdriver.Chrome) -> None:
    base, server = console
    sign_in(phone, base, "anna", PASSWORD)
    phone.get(f"{base}/devices/{POWER_CUT}")
    phone.execute_script("document.documentElement.dataset.sameDocument = 'yes'")

    def caption(driver: webdriver.Chrome) -> str:
        return driver.find_element(By.CSS_SELECTOR, "figure[data-chart=battery_voltage] figcaption").text

    assert "last 3.90 V" in caption(phone)
    frame = teltonika_tcp(POWER_CUT, fix(POWER_CUT, "teltonika", fix_time=NOW - 5, lat=HOME[0] - 0.16,
                                         lon=HOME[1] - 0.08, speed_kmh=0.0, ignition=False, ext_voltage_v=0.0,
                                         battery_voltage_v=3.7, gsm_signal_pct=55))
    send_stream(server.ports["teltonika"], (encode_imei(POWER_CUT), frame))
    WebDriverWait(phone, 45, poll_frequency=1, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: "last 3.70 V" in caption(d))  # the live part may be replaced while it is being read
    assert phone.execute_script("return document.documentElement.dataset.sameDocument") == "yes"
    live = phone.find_element(By.CSS_SELECTOR, "[data-live]")
    assert live.get_attribute("data-live-stale") == "0"
    WebDriverWait(phone, 10).until(images_drawn)
    assert severe_violations(phone) == []


def test_the_customer_office_gets_the_verdict_without_charts_track_or_positions(
        console: tuple[str, ServerProcess], phone: webdriver.Chrome) -> None:
    base, _ = console
    sign_in(phone, base, "office", PASSWORD)
    phone.get(f"{base}/devices/{POWER_CUT}")
    assert phone.find_element(By.CSS_SELECTOR, "[data-overall]")
    assert not phone.find_elements(By.CSS_SELECTOR, "figure[data-chart], img, [data-journey]")
    for text in ("54.3", "54.2", "54.1", "18.6", "18.5", "Track and journeys"):
        assert text not in phone.page_source
    checked(phone, "office-device-page")
    phone.get(f"{base}/devices/{POWER_CUT}/charts/track.svg")
    assert "Forbidden" in phone.find_element(By.TAG_NAME, "h1").text
