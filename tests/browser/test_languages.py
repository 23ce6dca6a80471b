"""The console in the browser's language, in Chromium against the real service: a Polish browser gets the
Polish sign-in page, the switcher turns it Swedish and the choice stays for the next pages; a tracker
that lost its power feed has its self-check and fix in Polish. Each page is screenshotted and checked
with axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from protocols.teltonika.device import encode_imei
from tests.browser.driver import (
    CHROMEDRIVER, CHROMIUM, IMPLICIT_WAIT_S, click_and_wait_for_next_page, screenshot, severe_violations,
)
from tests.hostile.payloads import NOW, fix, teltonika_tcp
from tests.hostile.wire import send_stream
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
POWER_CUT = "356307042441013"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with one customer; its console's address."""
    root = tmp_path_factory.mktemp("languages")
    server = ServerProcess(root / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n")
    csv = root / "fleet.csv"
    csv.write_text(f"imei,protocol,account\n{POWER_CUT},teltonika,Acme Logistics\n")
    assert run_cli(["devices", "import", str(csv), "--data-dir", str(server.data_dir)]).returncode == 0
    made = run_cli(["users", "create", "--role", "customer", "--account", "Acme Logistics", "anna",
                    "--data-dir", str(server.data_dir)], input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    server.start()
    frames = [teltonika_tcp(POWER_CUT, fix(POWER_CUT, "teltonika", fix_time=NOW - 120 + 10 * i, ext_voltage_v=0.0,
                                           battery_voltage_v=4.0)) for i in range(6)]
    send_stream(server.ports["teltonika"], (encode_imei(POWER_CUT), *frames))
    try:
        yield f"http://127.0.0.1:{server.api_port}"
    finally:
        assert server.stop() == 0, server.log()


def polish_chromium(profile: Path) -> webdriver.Chrome:
    """Headless Chromium set up as a Polish user's: UI language and the languages it asks pages for."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromedriver are not installed; run `make servers` (scripts/install-browser.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={profile / 'pl'}",
                     "--window-size=414,896", "--lang=pl"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "pl-PL,pl"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(IMPLICIT_WAIT_S)
    return driver


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = polish_chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_polish_browser_signs_in_in_polish_and_switches_to_swedish(console: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{console}/login")
    assert browser.execute_script("return navigator.language") == "pl-PL"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "pl"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Zaloguj się"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=username]").text == "Nazwa użytkownika"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=password]").text == "Hasło"
    assert browser.find_element(By.CSS_SELECTOR, ".languages [aria-current]").text == "Polski"
    screenshot(browser, "languages-sign-in-polish")
    assert severe_violations(browser) == []

    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, "Svenska"))
    assert browser.current_url == f"{console}/login?lang=sv"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Logga in"
    assert browser.get_cookie("telediag_lang")["value"] == "sv"
    screenshot(browser, "languages-sign-in-swedish")
    assert severe_violations(browser) == []

    browser.find_element(By.ID, "username").send_keys("anna")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]"))
    assert browser.current_url == f"{console}/"
    assert "Inloggad som" in browser.find_element(By.CSS_SELECTOR, "p.who").text  # the cookie keeps Swedish
    assert browser.find_element(By.CSS_SELECTOR, "[data-role=customer]").text == "kund"
    screenshot(browser, "languages-home-swedish")
    assert severe_violations(browser) == []

    browser.get(f"{console}/devices")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Spårsändare"
    assert browser.find_element(By.CSS_SELECTOR, "table.list caption").text == "1 spårsändare"
    screenshot(browser, "languages-trackers-swedish")
    assert severe_violations(browser) == []

    click_and_wait_for_next_page(browser, browser.find_element(By.LINK_TEXT, "Русский"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Трекеры"
    assert browser.find_element(By.CSS_SELECTOR, "table.list caption").text == "1 трекер"


def test_the_self_check_of_a_tracker_without_power_in_polish(console: str, browser: webdriver.Chrome) -> None:
    browser.get(f"{console}/login?lang=pl")
    browser.find_element(By.ID, "username").send_keys("anna")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]"))
    browser.get(f"{console}/devices/{POWER_CUT}")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "pl"
    power = browser.find_element(By.CSS_SELECTOR, "[data-check=power]")
    assert power.get_attribute("data-status") == "fail"
    assert "Zasilanie" in power.text
    assert "Lokalizator stracił zasilanie z pojazdu" in power.text
    assert "The tracker" not in browser.find_element(By.ID, "main").text
    browser.execute_script("arguments[0].scrollIntoView()", power)
    screenshot(browser, "languages-tracker-power-cut-polish")
    assert severe_violations(browser) == []
