"""The knowledge base in Chromium against the real ``telediag serve``: the customer office writes an
article in the console, a customer reads the published Polish ones, files a how-to question, gets the
suggested article on the ticket and says it helped. Every page is screenshotted and checked with
axe-core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser.console import PASSWORD, add_users, import_devices, serving
from tests.browser.driver import checked, click_and_wait_for_next_page, sign_in, signed_in
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
IMEI = "356307042441013"
USERS = {"office": ("customer_office", None), "anna": ("customer", "Acme Logistics")}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with the starter articles, one customer tracker, a customer office and a customer user."""
    root = tmp_path_factory.mktemp("kb")
    server = ServerProcess(root / "data")
    import_devices(server, f"imei,protocol,account\n{IMEI},teltonika,Acme Logistics\n")
    add_users(server, USERS)
    loaded = run_cli(["kb", "import", "--starter", "--data-dir", str(server.data_dir)])
    assert loaded.returncode == 0, loaded.stderr
    with serving(server) as address:
        yield address


def test_the_office_writes_an_article_and_a_customer_gets_one_as_an_answer(
        console: str, browser: webdriver.Chrome) -> None:
    sign_in(browser, console, "office", PASSWORD)
    browser.get(f"{console}/kb/new?lang=en")
    browser.find_element(By.ID, "kb-id").send_keys("invoices-en")
    browser.find_element(By.ID, "kb-title").send_keys("Where to find your invoices")
    browser.find_element(By.ID, "kb-body").send_keys(
        "Open **Account**, then *Documents*.\n\n<script>alert(1)</script> [more](javascript:alert(1))")
    browser.find_element(By.ID, "kb-tags").send_keys("invoice, billing, pdf")
    checked(browser, "kb-edit")
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form.kb-form button[type=submit]"))
    assert browser.current_url.endswith("/kb/articles/invoices-en")
    body = browser.find_element(By.CSS_SELECTOR, ".kb-body")
    assert body.find_element(By.TAG_NAME, "strong").text == "Account"
    assert "<script>alert(1)</script>" in body.text and not body.find_elements(By.TAG_NAME, "script")
    assert not body.find_elements(By.CSS_SELECTOR, "a[href^='javascript']")
    checked(browser, "kb-article-staff")
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))

    signed_in(browser, console, "anna", PASSWORD)
    browser.get(f"{console}/kb?lang=pl")
    checked(browser, "kb-list-customer-pl")
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".kb-articles a")]
    assert "Ustawienie APN w lokalizatorze Teltonika" in titles and "Where to find your invoices" not in titles
    checked(browser, "kb-list-customer-pl")
    browser.get(f"{console}/tickets/new?lang=en&device={IMEI}")
    browser.find_element(By.ID, "description").send_keys("How do I set the APN on my Teltonika? Which SMS do I send?")
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-ticket-state]").get_attribute("data-ticket-state") \
        == "waiting_customer"
    suggested = browser.find_element(By.CSS_SELECTOR, "[data-suggested='apn-teltonika-en']")
    assert suggested.get_attribute("data-sent") == "yes"
    checked(browser, "kb-ticket-suggested")
    click_and_wait_for_next_page(browser, browser.find_element(By.CSS_SELECTOR, "button[name=helped][value=yes]"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-ticket-state]").get_attribute("data-ticket-state") \
        == "resolved"
    checked(browser, "kb-ticket-accepted")
