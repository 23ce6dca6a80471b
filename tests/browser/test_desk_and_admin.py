"""The desk and the admin pages in Chromium against the real ``telediag serve``: a technical user finds
a customer's ticket in the queue with its SLA due time, opens it and moves it on; an admin creates a
user and disables it, creates an API token and reads the integration status. Every page is screenshotted and checked
with axe-core."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.console import PASSWORD, add_users, import_devices, serving
from tests.browser.driver import PHONE, checked, click_and_wait_for_next_page, sign_in, submit
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
IMEI = "356307042441013"
USERS = {"tech": ("technical", None), "root": ("admin", None)}
DUE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The service with one customer tracker, a ticket filed for it through the API, a technical and an
    admin user; the console's address and the ticket's id."""
    root = tmp_path_factory.mktemp("desk")
    server = ServerProcess(root / "data")
    import_devices(server, f"imei,protocol,account,vehicle_plate\n{IMEI},teltonika,Acme Logistics,GD 49668\n")
    add_users(server, USERS)
    token = run_cli(["tokens", "create", "--role", "customer", "--account", "Acme Logistics",
                     "--data-dir", str(server.data_dir)])
    assert token.returncode == 0, token.stderr
    with serving(server) as address:
        request = urllib.request.Request(
            f"{address}/api/v1/tickets", method="POST",
            data=json.dumps({"devices": [IMEI], "description": "The tracker in GD 49668 shows no position."}).encode(),
            headers={"Authorization": f"Bearer {token.stdout.strip()}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            ticket = json.loads(answer.read())["id"]
        yield address, ticket


def test_the_desk_finds_the_ticket_with_its_due_time_opens_it_and_moves_it_on(
        console: tuple[str, int], browser: webdriver.Chrome) -> None:
    address, ticket = console
    sign_in(browser, address, "tech", PASSWORD)
    browser.get(f"{address}/desk")
    team = Select(browser.find_element(By.ID, "team"))
    assert team.first_selected_option.get_attribute("value") == "technical"  # the person's own team first
    team.select_by_value("all")
    submit(browser, "form.switcher button")
    assert browser.current_url.endswith("/desk?team=all")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-ticket='{ticket}']")
    due = row.find_element(By.CSS_SELECTOR, "[data-due=first_response]").text
    assert DUE.match(due), due
    assert DUE.match(row.find_element(By.CSS_SELECTOR, "[data-due=resolution]").text)
    assert row.find_element(By.CSS_SELECTOR, "[data-ticket-state]").get_attribute("data-ticket-state") == "new"
    assert "GD 49668" not in browser.page_source  # technical staff read tickets without plates
    assert browser.find_element(By.ID, "queue").get_attribute("data-live") == "/desk/live?team=all&page=1"
    checked(browser, "desk-queue-all-teams")

    click_and_wait_for_next_page(browser, row.find_element(By.CSS_SELECTOR, "a"))
    assert browser.current_url == f"{address}/tickets/{ticket}"
    assert DUE.match(browser.find_element(By.CSS_SELECTOR, ".sla [data-due=first_response]").text)
    options = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "state")).options]
    assert options == ["open", "waiting_customer", "resolved", "closed"]
    checked(browser, "desk-ticket-staff")

    Select(browser.find_element(By.ID, "state")).select_by_value("open")
    browser.find_element(By.ID, "state-text").send_keys("Looking at the tracker's data now.")
    submit(browser, "form[action$='/state'] button")
    state = browser.find_element(By.CSS_SELECTOR, "h1 ~ p [data-ticket-state]")
    assert state.get_attribute("data-ticket-state") == "open"
    entries = browser.find_elements(By.CSS_SELECTOR, "ol.timeline li[data-kind=state]")
    assert "Looking at the tracker's data now." in entries[-1].text
    assert browser.find_element(By.CSS_SELECTOR, ".sla [data-sla=met]")  # the move answered the customer
    checked(browser, "desk-ticket-opened")

    browser.set_window_size(*PHONE)  # a phone's screen
    browser.get(f"{address}/desk?team=technical")
    assert browser.find_element(By.CSS_SELECTOR, f"tr[data-ticket='{ticket}'] [data-sla=met]")
    checked(browser, "desk-queue-phone")


def test_an_admin_creates_and_disables_a_user_creates_a_token_and_reads_the_integrations(
        console: tuple[str, int], browser: webdriver.Chrome) -> None:
    address, _ = console
    sign_in(browser, address, "root", PASSWORD)
    browser.get(f"{address}/admin")
    checked(browser, "admin-overview")

    browser.get(f"{address}/admin/users")
    browser.find_element(By.ID, "new-username").send_keys("dora")
    Select(browser.find_element(By.ID, "new-role")).select_by_value("customer_office")
    browser.find_element(By.ID, "new-password").send_keys("a long enough password")
    browser.find_element(By.ID, "new-confirm").send_keys("a long enough password")
    submit(browser, "form[action='/admin/users'] button")
    assert browser.current_url.endswith("/admin/users?created=dora")
    assert "User dora created." in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert browser.find_element(By.CSS_SELECTOR, "tr[data-user=dora]").get_attribute("data-disabled") == "no"
    checked(browser, "admin-users")

    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "tr[data-user=dora] a.danger"))
    checked(browser, "admin-user-disable-question")
    submit(browser, "form[action='/admin/users/disable'] button")
    assert browser.find_element(By.CSS_SELECTOR, "tr[data-user=dora]").get_attribute("data-disabled") == "yes"

    browser.get(f"{address}/admin/tokens")
    Select(browser.find_element(By.ID, "token-role")).select_by_value("it")
    browser.find_element(By.ID, "token-label").send_keys("platform monitoring")
    submit(browser, "form[action='/admin/tokens'] button")
    token = browser.find_element(By.ID, "new-token").get_attribute("value")
    assert browser.find_element(By.CSS_SELECTOR, "dd[data-role]").text == "it"
    assert len(token) >= 40
    checked(browser, "admin-token-created")
    request = urllib.request.Request(f"{address}/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200

    browser.get(f"{address}/admin/integrations")
    states = {s.get_attribute("data-integration"): s.get_attribute("data-state")
              for s in browser.find_elements(By.CSS_SELECTOR, "section[data-integration]")}
    assert states["store"] == "ok" and states["listeners"] == "ok" and states["influxdb"] == "off"
    assert "teltonika (udp)" in browser.find_element(By.CSS_SELECTOR, "[data-integration=listeners]").text
    checked(browser, "admin-integrations")
