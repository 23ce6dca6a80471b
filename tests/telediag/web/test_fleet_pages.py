"""Fleet health: the reader-thread queries of ``telediag.web.fleet`` against a real SQLite store (totals,
counts per code, every filter, the severity order, paging bounds, bad filter values), then ``/fleet``
and ``/fleet/live`` over real HTTP against the real ApiService (who may see them, pseudonyms only for
technical and IT staff, the live fragment, a clear 400 page for a bad filter)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from protocols.record import Record
from telediag.api.auth import Principal
from telediag.api.pseudonyms import Pseudonymiser, load_or_create_secret
from telediag.diagnostics.connectivity_events import parse_event
from telediag.diagnostics.findings import apply_verdicts
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.reader import Reader
from telediag.store.writer import RecordBatch, Store
from telediag.web.fleet import MAX_PAGE, MAX_PAGE_SIZE, BadFilter, FleetQuery, fleet_choices, fleet_view, parse_query
from telediag.web.fleet_pages import CHOICES_TTL_S, LIVE_INTERVAL_S, FleetPages, live_interval
from tests.stores import database_at
from tests.telediag.api.support import ACME, IMEI_A, IMEI_A2, IMEI_B, PERSONAL_VALUES
from tests.telediag.web.support import RolePagesCase

T0 = 1_790_000_000.0
TECH, IT, ADMIN = Principal("technical"), Principal("it"), Principal("admin")
PSEUDONYMS = Pseudonymiser(b"k" * 32)
ALPHA, BRAVO = "Alpha Haulage", "Bravo Buses"
# imei: (protocol, account, iccid, operator in its records, last seen offset or None, {code: first seen offset})
FLEET: dict[str, tuple[Any, ...]] = {
    "350000000000001": ("teltonika", ALPHA, "8948000000000000001", 26001, 400, {"DEVICE_SILENT": 100}),
    "350000000000002": ("gt06", BRAVO, None, 26002, 300, {"EXTERNAL_POWER_LOST": 200, "LOW_GSM_SIGNAL": 150}),
    "350000000000003": ("teltonika", ALPHA, None, 26001, 250, {"GPS_POOR_QUALITY": 50}),
    "350000000000004": ("teltonika", ALPHA, None, 26003, 10, {}),
    "350000000000005": ("osmand", BRAVO, "8948000000000000005", None, 500, {}),
    "350000000000006": ("h02", None, None, None, None, {"NO_DATA_AFTER_ACTIVATION": 20}),
    "350000000000007": ("teltonika", ALPHA, None, None, None, {}),
    "350000000000008": ("teltonika", BRAVO, None, 26001, 300, {}),
}
WORST_FIRST = ["350000000000002", "350000000000001", "350000000000006", "350000000000003",
               "350000000000007", "350000000000004", "350000000000008", "350000000000005"]
"""Problems (newest first), attention, then OK: never seen first, then the longest silent."""


def build_fleet(path: Path) -> None:
    """The fleet above: registry, records (device state), SIM events, active and cleared findings."""
    store = Store(database_at(path))
    batches = []
    for imei, (protocol, _, _, operator, seen, _) in FLEET.items():
        if seen is None:
            continue
        records = [Record(imei=imei, protocol=protocol, fix_time=T0 + seen - 60 + i, valid=True, lat=52.0,
                          lon=21.0, operator=operator) for i in range(3)]
        if imei == "350000000000008":  # the newest record names no network: the one before it does
            records.append(Record(imei=imei, protocol=protocol, fix_time=T0 + seen - 1, valid=True, operator=None))
        batches.append(RecordBatch(imei, protocol, records, T0 + seen))
    store.commit(batches, flush_state=True)
    store.close()
    db = database_at(path).connect()
    save(db, [parse_entry({"imei": imei, "protocol": protocol, "account": account, "iccid": iccid,
                           "vehicle_plate": f"PL {imei[-3:]}"})
              for imei, (protocol, account, iccid, *_) in FLEET.items()], T0, "import")
    save_events(db, [
        parse_event({"iccid": "8948000000000000001", "at": "2026-09-20T10:00:00Z", "type": "attach", "mcc": 260,
                     "mnc": 2}),  # the device's own report (26001) wins over its SIM's events
        parse_event({"iccid": "8948000000000000005", "at": "2026-09-20T10:00:00Z", "type": "attach", "mcc": 240,
                     "mnc": 1}),
        parse_event({"iccid": "8948000000000000005", "at": "2026-09-20T10:05:00Z", "type": "pdp_create"}),
    ], T0)
    for imei, (*_, codes) in FLEET.items():
        for code, since in codes.items():
            apply_verdicts(db, imei, {code: {"seen": True}}, T0 + since)
    apply_verdicts(db, "350000000000008", {"CLOCK_INVALID": {"old": True}}, T0 + 5)  # cleared: history only
    apply_verdicts(db, "350000000000008", {"CLOCK_INVALID": None}, T0 + 6)
    db.close()


@pytest.fixture()
def reader(tmp_path: Path) -> Any:
    path = tmp_path / "telediag.sqlite3"
    build_fleet(path)
    opened = Reader(database_at(path))
    yield opened
    opened.close()


def view(reader: Reader, who: Principal = ADMIN, **query: str) -> dict[str, Any]:
    return fleet_view(who, PSEUDONYMS, parse_query(query, who))(reader)


def imeis(found: dict[str, Any]) -> list[str]:
    return [device["imei"] for device in found["devices"]]


def test_totals_counts_per_code_and_severity_order(reader: Reader) -> None:
    found = view(reader)
    assert found["totals"] == {"devices": 8, "problem": 3, "attention": 1, "ok": 4, "never_seen": 2}
    assert found["matching"] == 8 and (found["page"], found["pages"], found["size"]) == (1, 1, 50)
    assert [(c["code"], c["devices"], c["status"]) for c in found["codes"]] == [
        ("DEVICE_SILENT", 1, "problem"), ("EXTERNAL_POWER_LOST", 1, "problem"),
        ("NO_DATA_AFTER_ACTIVATION", 1, "problem"), ("GPS_POOR_QUALITY", 1, "attention"),
        ("LOW_GSM_SIGNAL", 1, "attention")]  # the cleared CLOCK_INVALID counts nowhere
    assert imeis(found) == WORST_FIRST
    first = found["devices"][0]
    assert first["status"] == "problem" and first["codes"] == ["EXTERNAL_POWER_LOST", "LOW_GSM_SIGNAL"]
    assert first["problem_since"] == "2026-09-21T14:16:40.000Z" and first["last_seen"] == "2026-09-21T14:18:20.000Z"
    by_imei = {d["imei"]: d for d in found["devices"]}
    assert [by_imei[i]["status"] for i in WORST_FIRST] == ["problem"] * 3 + ["attention"] + ["ok"] * 4
    assert by_imei["350000000000007"]["last_seen"] is None and by_imei["350000000000008"]["codes"] == []


def test_operator_comes_from_the_records_else_from_the_sims_events(reader: Reader) -> None:
    operators = {d["imei"]: d["operator"] for d in view(reader)["devices"]}
    assert operators == {"350000000000001": "26001", "350000000000002": "26002", "350000000000003": "26001",
                         "350000000000004": "26003", "350000000000005": "24001", "350000000000006": None,
                         "350000000000007": None, "350000000000008": "26001"}
    assert fleet_choices()(reader)["operators"] == ["24001", "26001", "26002", "26003"]


def test_each_filter_and_all_of_them_together(reader: Reader) -> None:
    silent = view(reader, code="DEVICE_SILENT")
    assert imeis(silent) == ["350000000000001"] and silent["matching"] == 1
    assert silent["totals"]["devices"] == 8  # totals and counts keep every filter but the code
    assert imeis(view(reader, protocol="teltonika")) == [
        "350000000000001", "350000000000003", "350000000000007", "350000000000004", "350000000000008"]
    assert imeis(view(reader, operator="26001")) == ["350000000000001", "350000000000003", "350000000000008"]
    assert imeis(view(reader, operator="24001")) == ["350000000000005"]
    bravo = view(reader, account=BRAVO)
    assert imeis(bravo) == ["350000000000002", "350000000000008", "350000000000005"]
    assert bravo["totals"] == {"devices": 3, "problem": 1, "attention": 0, "ok": 2, "never_seen": 0}
    assert [(c["code"], c["devices"]) for c in bravo["codes"]] == [("EXTERNAL_POWER_LOST", 1), ("LOW_GSM_SIGNAL", 1)]
    both = view(reader, code="GPS_POOR_QUALITY", protocol="teltonika", operator="26001", account=ALPHA)
    assert imeis(both) == ["350000000000003"] and both["totals"]["devices"] == 2
    assert view(reader, protocol="ruptela")["matching"] == 0 and view(reader, code="BATTERY_LOW")["devices"] == []


def test_technical_staff_filter_by_pseudonym_only(reader: Reader) -> None:
    found = view(reader, TECH, account=PSEUDONYMS.account(ALPHA))
    assert imeis(found) == ["350000000000001", "350000000000003", "350000000000007", "350000000000004"]
    assert view(reader, IT, account="acct-000000000000")["matching"] == 0  # well formed, nobody's
    with pytest.raises(BadFilter, match="pseudonym"):
        parse_query({"account": ALPHA}, TECH)
    assert parse_query({"account": ALPHA}, ADMIN).account == ALPHA


def test_paging_is_bounded_and_a_page_past_the_end_is_the_last(reader: Reader) -> None:
    pages = [imeis(view(reader, size="3", page=str(n))) for n in (1, 2, 3)]
    assert pages == [WORST_FIRST[:3], WORST_FIRST[3:6], WORST_FIRST[6:]]
    past = view(reader, size="3", page="99")
    assert (past["page"], past["pages"], imeis(past)) == (3, 3, WORST_FIRST[6:])
    assert view(reader, size="100000")["size"] == MAX_PAGE_SIZE
    assert parse_query({"page": "999999999"}, TECH).page == MAX_PAGE
    empty = view(reader, code="BATTERY_LOW", page="4")
    assert (empty["page"], empty["pages"], empty["matching"]) == (1, 1, 0)


@pytest.mark.parametrize("query, words", [
    ({"code": "NOT_A_CODE"}, "no finding code NOT_A_CODE"),
    ({"code": "device_silent"}, "no finding code"),
    ({"protocol": "Teltonika; DROP TABLE devices"}, "not a protocol name"),
    ({"operator": "260-01"}, "MCC and MNC"),
    ({"operator": "2600100"}, "MCC and MNC"),
    ({"page": "0"}, "page is a whole number"),
    ({"page": "-2"}, "page is a whole number"),
    ({"page": "²"}, "page is a whole number"),
    ({"page": "1234567890"}, "page is a whole number"),
    ({"size": "fifty"}, "page size"),
    ({"account": "x" * 201}, "too long"),
])
def test_bad_filter_values_are_refused_with_a_reason(query: dict[str, str], words: str) -> None:
    with pytest.raises(BadFilter, match=words):
        parse_query(query, ADMIN)


def test_empty_values_and_other_parameters_mean_any() -> None:
    wanted = parse_query({"code": "", "protocol": " ", "operator": "", "account": "", "lang": "pl", "refresh": "2"},
                         TECH)
    assert wanted == FleetQuery()
    assert FleetQuery(code="GPS_NO_FIX", account="acct-0123456789ab", page=3).query_string(page=1) == \
        "code=GPS_NO_FIX&account=acct-0123456789ab"
    assert FleetQuery(size=200).query_string(page=2) == "size=200&page=2"
    intervals = [live_interval(v) for v in (None, "2", "0", "601", "x", "١")]
    assert intervals == [LIVE_INTERVAL_S, 2] + [LIVE_INTERVAL_S] * 4


def test_the_forms_choices_are_reused_for_a_minute(reader: Reader) -> None:
    clock, reads = Clock(), []

    class Api:
        def now(self) -> float:
            return clock.seconds()

        def read(self, work: Any) -> Any:
            reads.append(clock.seconds())
            return defer.succeed(work(reader))

    pages = FleetPages(Api())  # type: ignore[arg-type]
    for step in (0.0, CHOICES_TTL_S - 1, 1.0, 5.0):
        clock.advance(step)
        choices = defer.ensureDeferred(pages.form_choices()).result
    assert reads == [0.0, CHOICES_TTL_S]  # reused at 59 s and again at 65 s
    assert choices["protocols"] == ["gt06", "h02", "osmand", "teltonika"]
    assert choices["accounts"] == [ALPHA, BRAVO] and not choices["accounts_truncated"]


class FleetPageTests(RolePagesCase):
    """``/fleet`` and ``/fleet/live`` as each role gets them, over HTTP."""

    def setUp(self) -> None:
        super().setUp()
        now = time.time()
        db = database_at(self.config.database_path).connect()
        self.addCleanup(db.close)
        apply_verdicts(db, IMEI_A, {"EXTERNAL_POWER_LOST": {"ext_voltage_v": 0.0}}, now - 600)
        apply_verdicts(db, IMEI_B, {"GPS_POOR_QUALITY": {"hdop": 7.5}}, now - 300)
        self.sign_in_roles(db, now)
        self.pseudonym = Pseudonymiser(load_or_create_secret(self.config.store.data_dir)).account(ACME)

    @defer.inlineCallbacks
    def test_customers_and_the_customer_office_get_the_404_page(self) -> Any:
        yield self.start()
        for role in ("customer", "customer_office"):
            for path in ("/fleet", "/fleet/live", "/fleet?code=GPS_NO_FIX"):
                answer = yield self.page(role, path)
                self.assertEqual(answer.status, 404, (role, path))
                self.assertIn(b"Not found", answer.data)
                self.assertNotIn(b"data-live", answer.data)
        anonymous = yield self.call("GET", "/fleet")
        self.assertEqual((anonymous.status, anonymous.header("Location")), (303, "/login"))

    @defer.inlineCallbacks
    def test_technical_staff_see_pseudonyms_never_names_or_contacts(self) -> Any:
        yield self.start()
        for role in ("technical", "it"):
            answer = yield self.page(role, "/fleet")
            self.assertEqual(answer.status, 200, answer.data)
            html = answer.data.decode()
            for value in PERSONAL_VALUES:
                self.assertNotIn(value, html)
            self.assertIn(f'data-account="{self.pseudonym}"', html)
            self.assertIn(f'<option value="{self.pseudonym}">{self.pseudonym}</option>', html)
            rows = re.findall(r'<tr data-imei="(\d+)" data-status="(\w+)"', html)
            self.assertEqual(rows[:2], [(IMEI_A, "problem"), (IMEI_B, "attention")])
            self.assertEqual({imei for imei, _ in rows}, {IMEI_A, IMEI_A2, IMEI_B, "356307042441047"})
            self.assertIn(f'<a href="/devices/{IMEI_A}">', html)
            self.assertIn('data-code="EXTERNAL_POWER_LOST" data-count="1"', html)
            self.assertIn('data-matching="4"', html)
            for field in ("code", "protocol", "operator", "account", "size"):
                self.assertIn(f'<label for="{field}">', html)
                self.assertIn(f'id="{field}" name="{field}"', html)
        admin = yield self.page("admin", "/fleet")
        self.assertIn(f'data-account="{ACME}"', admin.data.decode())

    @defer.inlineCallbacks
    def test_filters_the_live_fragment_and_its_interval(self) -> Any:
        yield self.start()
        path = f"/fleet?code=GPS_POOR_QUALITY&account={self.pseudonym}&refresh=2"
        answer = yield self.page("technical", path)
        html = answer.data.decode()
        self.assertEqual(answer.status, 200)
        self.assertIn(f'data-live="/fleet/live?code=GPS_POOR_QUALITY&amp;account={self.pseudonym}"', html)
        self.assertIn('data-live-interval="2"', html)
        self.assertIn('data-matching="0"', html)  # Acme's trackers have no GPS finding
        self.assertIn('<option value="GPS_POOR_QUALITY" selected>', html)
        self.assertRegex(html, r'<script src="/static/live\.js\?v=\w+" defer></script>')
        live = yield self.page("technical", "/fleet/live?code=GPS_POOR_QUALITY")
        self.assertEqual(live.status, 200)
        self.assertEqual(live.header("X-Telediag-Fragment"), "1")
        self.assertNotIn(b"<html", live.data)
        self.assertEqual(re.findall(rb'<tr data-imei="(\d+)"', live.data), [IMEI_B.encode()])
        self.assertIn(b'aria-current="true"', live.data)

    @defer.inlineCallbacks
    def test_a_bad_filter_is_a_clear_400_page(self) -> Any:
        yield self.start()
        for path, words in ((f"/fleet?account={quote(ACME)}", b"pseudonym (acct-...)"),
                            ("/fleet?code=NOPE", b"There is no finding code NOPE."),
                            ("/fleet/live?page=abc", b"The page is a whole number from 1, not abc."),
                            ("/fleet?operator=%3Cscript%3E", b"not &lt;script&gt;")):
            answer = yield self.page("technical", path)
            self.assertEqual(answer.status, 400, path)
            self.assertIn(words, answer.data)
            self.assertIn(b'<a href="/fleet">', answer.data)
            self.assertIsNone(answer.header("X-Telediag-Fragment"))
        other = yield self.page("technical", "/fleet/other")
        self.assertEqual(other.status, 404)
