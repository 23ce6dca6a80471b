"""The customer office's accounts pages over real HTTP against the real ApiService and a real store:
accounts with their plan and device counts, an account's trackers with activation window, SIM plan,
coverage and roaming, its tickets, and no position or telemetry in any answer."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from protocols.record import iso_utc
from telediag.config import SlaConfig, TicketsConfig
from telediag.tickets.desk import TicketDesk
from telediag.web.accounts import activation, device_status, roaming
from telediag.web.paging import page_number
from tests.stores import database_at
from tests.telediag.api.support import (
    ACME,
    BETA,
    IMEI_A,
    IMEI_A2,
    IMEI_B,
    LAT_B,
    LON_B,
    FakeDiagnostics,
)
from tests.telediag.web.support import RolePagesCase

HOUR = 3600.0
TELEMETRY_WORDS = ("voltage", "Voltage", "km/h", "speed", "Speed", "satellite", "hdop", "HDOP", "Last position",
                   "latitude", "longitude", "odometer", "io66", "24079")


class OfficeDiagnostics(FakeDiagnostics):
    """The API tests' fake, plus a Beta tracker refused abroad and outside its domestic plan, with
    positions in the evidence as the real checks put them there."""

    def findings(self, imeis: set[str] | None, code: str | None, active: bool | None) -> list[dict[str, Any]]:
        found = super().findings(imeis, code, active)
        extra = [
            {"imei": IMEI_B, "code": "ROAMING_REJECTED", "team": "customer_office", "severity": "major",
             "active": True, "first_seen": iso_utc(time.time() - HOUR), "last_seen": iso_utc(time.time()),
             "count": 3, "evidence": {"country": "DE", "mcc": 262, "mnc": 1, "home_country": "PL",
                                      "attach_rejects": 3, "causes": [11], "sim_roaming_allowed": None},
             "hint": "switch roaming on", "cleared_at": None},
            {"imei": IMEI_B, "code": "EU_COVERAGE_INACTIVE", "team": "customer_office", "severity": "major",
             "active": True, "first_seen": iso_utc(time.time() - HOUR), "last_seen": iso_utc(time.time()),
             "count": 4, "evidence": {"country": "DE", "home_country": "PL", "coverage": "domestic",
                                      "positions_outside": 4, "last_lat": LAT_B + 1.1111, "last_lon": LON_B - 5.2222},
             "hint": "switch EU coverage on", "cleared_at": None},
        ]
        return found + [f for f in extra if (imeis is None or f["imei"] in imeis) and (code in (None, f["code"]))
                        and active in (None, True)]


class AccountPagesTests(RolePagesCase):
    """``/accounts`` and ``/accounts/{account}`` as each role gets them."""

    def setUp(self) -> None:
        super().setUp()
        self.diagnostics = OfficeDiagnostics()
        self.now = time.time()
        db = database_at(self.config.database_path).connect()
        self.addCleanup(db.close)
        db.execute("UPDATE devices SET activated_at = ? WHERE imei = ?", (self.now - 6 * HOUR, IMEI_A2))
        db.execute("UPDATE accounts SET vip = 1 WHERE name = ?", (BETA,))
        self.sign_in_roles(db, self.now)
        desk = TicketDesk(SlaConfig(), TicketsConfig())
        self.ticket = desk.file(db, origin="customer", by="customer#1", account=ACME, devices=[IMEI_A],
                                description="Our tracker in WX 1234A shows odd positions", now=self.now,
                                selfcheck=self.diagnostics.selfcheck,
                                findings=lambda imeis: self.diagnostics.findings(imeis, None, True))
        self.positions = self.stored_positions(db)

    @staticmethod
    def stored_positions(db: Any) -> set[str]:
        """Every stored coordinate, as a page could print it."""
        values: set[float] = set()
        for lat, lon in db.execute("SELECT lat, lon FROM records UNION SELECT last_lat, last_lon FROM device_state"):
            values |= {v for v in (lat, lon) if v is not None}
        values |= {LAT_B + 1.1111, LON_B - 5.2222}
        return {text for v in values for text in (repr(v), f"{v:.4f}", f"{v:.3f}")}

    def assert_no_position_or_telemetry(self, body: bytes) -> None:
        text = body.decode()
        for value in self.positions:
            self.assertNotIn(value, text)
        for word in TELEMETRY_WORDS:
            self.assertNotIn(word, text)

    @defer.inlineCallbacks
    def test_the_customer_office_lists_accounts_with_plans_contacts_and_counts(self) -> Any:
        yield self.start()
        answer = yield self.page("customer_office", "/accounts")
        self.assertEqual(answer.status, 200, answer.data)
        html = answer.data.decode()
        rows = dict(re.findall(r'<tr data-account="([^"]+)" (data-coverage="[^"]*" data-vip="[^"]*")', html))
        self.assertEqual(rows, {ACME: 'data-coverage="eu" data-vip="no"',
                                BETA: 'data-coverage="domestic" data-vip="yes"'})
        self.assertIn('href="/accounts/Acme%20Logistics"', html)
        for text in ("Jan Kowalski", "mailto:jan.kowalski@acme.example", "+48 600 100 200", "Home country only", "EU"):
            self.assertIn(text, html)  # the customer office works with contacts and plans
        counts = re.findall(r'data-count="(devices|problems)">(?:<span class="badge problem">)?(\d+)', html)
        self.assertEqual(counts, [("devices", "2"), ("problems", "1"), ("devices", "1"), ("problems", "1")])
        self.assertIn('href="/desk?team=customer_office"', html)
        self.assert_no_position_or_telemetry(answer.data)

        found = yield self.page("customer_office", "/accounts?q=beta")
        self.assertEqual(re.findall(r'<tr data-account="([^"]+)"', found.data.decode()), [BETA])
        nothing = yield self.page("customer_office", "/accounts?q=%25")  # LIKE's wildcard is a plain character
        self.assertIn(b'data-empty="accounts"', nothing.data)

    @defer.inlineCallbacks
    def test_an_account_shows_activation_window_plan_coverage_and_roaming_without_positions(self) -> Any:
        yield self.start()
        answer = yield self.page("customer_office", "/accounts/" + quote(ACME))
        self.assertEqual(answer.status, 200, answer.data)
        html = answer.data.decode()
        rows = dict((imei, rest) for imei, rest in re.findall(r'<tr data-imei="(\d+)" ([^>]*)>', html))
        self.assertEqual(rows[IMEI_A], 'data-status="attention" data-activation="done" data-roaming="included"')
        self.assertEqual(rows[IMEI_A2], 'data-status="ok" data-activation="window" data-roaming="unknown"')
        until = iso_utc(self.now - 6 * HOUR + 24 * HOUR)
        self.assertIn(f'data-window-until="{until}"', html)
        self.assertIn(f"Activation window until {until[:10]} {until[11:16]} UTC", html)
        self.assertIn("GPS positions are imprecise", html)  # the status in words, not the evidence
        self.assertIn("Roaming included", html)
        self.assertIn("APN internet", html)
        self.assertIn("Can roam in the EU", html)
        self.assertIn(f'<tr data-ticket="{self.ticket}">', html)
        self.assertIn(f'href="/tickets/{self.ticket}"', html)
        self.assertIn('href="/desk?team=customer_office"', html)
        self.assert_no_position_or_telemetry(answer.data)

        beta = yield self.page("customer_office", "/accounts/" + quote(BETA))
        html = beta.data.decode()
        self.assertIn(f'<tr data-imei="{IMEI_B}" data-status="problem" data-activation="unknown"'
                      ' data-roaming="rejected">', html)
        self.assertIn("The network in DE refuses the SIM card.", html)
        self.assertIn("cause 11", html)
        self.assertIn("The vehicle is outside the countries its plan covers", html)
        self.assertIn('data-coverage="domestic">Home country only', html)
        self.assert_no_position_or_telemetry(beta.data)

    @defer.inlineCallbacks
    def test_admin_has_the_pages_and_still_no_positions_are_printed(self) -> Any:
        yield self.start()
        for path in ("/accounts", "/accounts/" + quote(ACME), "/accounts/" + quote(BETA)):
            answer = yield self.page("admin", path)
            self.assertEqual(answer.status, 200, path)
            self.assert_no_position_or_telemetry(answer.data)

    @defer.inlineCallbacks
    def test_other_roles_get_404_and_unknown_accounts_and_bad_pages_are_refused(self) -> Any:
        yield self.start()
        for role in ("customer", "technical", "it"):
            for path in ("/accounts", "/accounts/" + quote(ACME)):
                answer = yield self.page(role, path)
                self.assertEqual(answer.status, 404, (role, path))
                self.assertNotIn(b"Jan Kowalski", answer.data)
        missing = yield self.page("customer_office", "/accounts/" + quote("No Such Fleet"))
        self.assertEqual(missing.status, 404)
        for query in ("?page=0", "?page=abc", "?page=99999999", "?page=%D9%A1"):
            bad = yield self.page("customer_office", "/accounts" + query)
            self.assertEqual(bad.status, 400, query)
            self.assertIn(b"page number", bad.data)
        long_search = yield self.page("customer_office", "/accounts?q=" + "x" * 201)
        self.assertEqual(long_search.status, 400)
        empty = yield self.page("customer_office", "/accounts/" + quote(ACME) + "?page=2")
        self.assertEqual(empty.status, 200)
        self.assertIn(b'data-empty="devices"', empty.data)
        cookie = f"telediag_session={self.sessions['customer_office']}"
        posted = yield self.call("POST", "/accounts", headers={"Cookie": cookie})
        self.assertEqual(posted.status, 403)  # no CSRF token: refused before routing


def test_activation_window_states() -> None:
    day = 24 * HOUR
    assert activation(None, 1000.0, day) == {"state": "unknown", "until": None}
    assert activation("not a time", 1000.0, day)["state"] == "unknown"
    at = iso_utc(1_750_000_000.0)
    assert activation(at, 1_750_000_000.0 - 1, day) == {"state": "scheduled", "until": iso_utc(1_750_000_000.0 + day)}
    assert activation(at, 1_750_000_000.0 + 12 * HOUR, day)["state"] == "window"
    assert activation(at, 1_750_000_000.0 + day, day)["state"] == "done"


def test_status_and_roaming_words_come_from_findings_and_the_sim_plan() -> None:
    assert device_status([]) == {"status": "ok", "problems": []}
    status = device_status([{"code": "ACTIVATION_PENDING"}, {"code": "ROAMING_REJECTED"}, {"code": "NOT_A_CODE"}])
    assert status["status"] == "problem"
    assert [p["code"] for p in status["problems"]] == ["ROAMING_REJECTED", "ACTIVATION_PENDING"]
    assert roaming({"roaming": None}, [])["state"] == "unknown"
    assert roaming({"roaming": False}, [])["state"] == "not_included"
    assert roaming({"roaming": True}, [])["state"] == "included"
    rejected = roaming({"roaming": None}, [{
        "code": "ROAMING_REJECTED", "evidence": {"country": "DE", "causes": [13], "sim_roaming_allowed": False},
    }])
    assert rejected == {"state": "rejected", "country": "DE", "causes": [13], "sim": False}
    uncovered = roaming({"roaming": True}, [{"code": "EU_COVERAGE_INACTIVE", "evidence": {"country": "CZ"}}])
    assert uncovered["state"] == "uncovered"


def test_page_numbers() -> None:
    assert [page_number(v) for v in (None, "", "1", "10000")] == [1, 1, 1, 10000]
    assert [page_number(v) for v in ("0", "-1", "10001", "1.5", "\u0661", "99999999")] == [None] * 6
