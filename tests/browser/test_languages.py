"""The console in the browser's language, in Chromium against the real service: a Polish browser gets the
Polish sign-in page, the switcher turns it Swedish and the choice stays for the next pages; a tracker
that lost its power feed has its self-check and fix in Polish. Each page is screenshotted and checked
with axe-core."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.console import PASSWORD, add_users, import_devices, send_fixes, serving
from tests.browser.driver import PHONE, checked, chromium, click_and_wait_for_next_page, running
from tests.hostile.payloads import NOW
from tests.integration.harness import ServerProcess

pytestmark = pytest.mark.slow
POWER_CUT = "356307042441013"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with one customer; its console's address."""
    root = tmp_path_factory.mktemp("languages")
    server = ServerProcess(root / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n")
    import_devices(server, f"imei,protocol,account\n{POWER_CUT},teltonika,Acme Logistics\n")
    add_users(server, {"anna": ("customer", "Acme Logistics")})
    with serving(server) as address:
        send_fixes(server, POWER_CUT, NOW, ext_voltage_v=0.0, battery_voltage_v=4.0)
        yield address


@pytest.fixture()
def polish(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Chromium on a phone set up as a Polish user's: its interface and the languages it asks pages for."""
    with running(chromium(tmp_path / "profile", *PHONE, languages="pl-PL,pl")) as driver:
        yield driver


def test_a_polish_browser_signs_in_in_polish_and_switches_to_swedish(console: str, polish: webdriver.Chrome) -> None:
    polish.get(f"{console}/login")
    assert polish.execute_script("return navigator.language") == "pl-PL"
    assert polish.find_element(By.TAG_NAME, "html").get_attribute("lang") == "pl"
    assert polish.find_element(By.TAG_NAME, "h1").text == "Zaloguj się"
    assert polish.find_element(By.CSS_SELECTOR, "label[for=username]").text == "Nazwa użytkownika"
    assert polish.find_element(By.CSS_SELECTOR, "label[for=password]").text == "Hasło"
    assert polish.find_element(By.CSS_SELECTOR, ".languages [aria-current]").text == "Polski"
    checked(polish, "languages-sign-in-polish")

    click_and_wait_for_next_page(polish, polish.find_element(By.LINK_TEXT, "Svenska"))
    assert polish.current_url == f"{console}/login?lang=sv"
    assert polish.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
    assert polish.find_element(By.TAG_NAME, "h1").text == "Logga in"
    assert polish.get_cookie("telediag_lang")["value"] == "sv"
    checked(polish, "languages-sign-in-swedish")

    polish.find_element(By.ID, "username").send_keys("anna")
    polish.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_wait_for_next_page(polish, polish.find_element(By.CSS_SELECTOR, "form.card button[type=submit]"))
    assert polish.current_url == f"{console}/"
    assert "Inloggad som" in polish.find_element(By.CSS_SELECTOR, "p.who").text  # the cookie keeps Swedish
    assert polish.find_element(By.CSS_SELECTOR, "[data-role=customer]").text == "kund"
    checked(polish, "languages-home-swedish")

    polish.get(f"{console}/devices")
    assert polish.find_element(By.TAG_NAME, "h1").text == "Spårsändare"
    assert polish.find_element(By.CSS_SELECTOR, "table.list caption").text == "1 spårsändare"
    checked(polish, "languages-trackers-swedish")

    click_and_wait_for_next_page(polish, polish.find_element(By.LINK_TEXT, "Русский"))
    assert polish.find_element(By.TAG_NAME, "h1").text == "Трекеры"
    assert polish.find_element(By.CSS_SELECTOR, "table.list caption").text == "1 трекер"


def test_the_self_check_of_a_tracker_without_power_in_polish(console: str, polish: webdriver.Chrome) -> None:
    polish.get(f"{console}/login?lang=pl")
    polish.find_element(By.ID, "username").send_keys("anna")
    polish.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_wait_for_next_page(polish, polish.find_element(By.CSS_SELECTOR, "form.card button[type=submit]"))
    polish.get(f"{console}/devices/{POWER_CUT}")
    assert polish.find_element(By.TAG_NAME, "html").get_attribute("lang") == "pl"
    power = polish.find_element(By.CSS_SELECTOR, "[data-check=power]")
    assert power.get_attribute("data-status") == "fail"
    assert "Zasilanie" in power.text
    assert "Lokalizator stracił zasilanie z pojazdu" in power.text
    assert "The tracker" not in polish.find_element(By.ID, "main").text
    polish.execute_script("arguments[0].scrollIntoView()", power)
    checked(polish, "languages-tracker-power-cut-polish")
