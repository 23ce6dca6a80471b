"""A tracker's page over real HTTP against the real ApiService: what each role sees (the API's rules),
the charts and the map as SVG through the same rules, the live part, and the bounded reads behind it."""

from __future__ import annotations

import re
import time
from typing import Any

from twisted.internet import defer

from protocols.record import Record, iso_utc
from telediag.store.writer import IngestError, RecordBatch, Store
from telediag.web import device_detail, tracker_pages
from telediag.web.causes import explain
from telediag.web.charts import render_chart
from telediag.web.device_detail import MAX_POINTS, Window, hex_groups, telemetry
from telediag.web.evidence import evidence_items
from telediag.web.tracker_pages import ImageCache
from telediag.web.users import create_user
from tests.stores import database_at
from tests.telediag.api.support import (
    ACME,
    BETA,
    ICCID_A,
    IMEI_A,
    IMEI_B,
    ApiTestCase,
    FakeDiagnostics,
)
from tests.telediag.web.support import PASSWORD, form_sign_in, session_of

USERS = {"anna": ("customer", ACME), "office": ("customer_office", None), "tech": ("technical", None),
         "itdesk": ("it", None), "root": ("admin", None)}
LAT, LON = 54.35187, 18.64661
"""Where IMEI_A drove in the last hours: digits no other value on the page has."""
COORDINATE_TEXTS = ("54.35", "18.64", "18.65", "52.2297", "21.0122", "50.0647", "19.945")
CHARTS = {"ext_voltage", "battery_voltage", "gsm_signal", "satellites"}


def recent(imei: str, at: float, volts: float, step: int) -> Record:
    return Record(imei=imei, protocol="teltonika", fix_time=at, valid=True, lat=LAT + step / 1e4, lon=LON + step / 1e4,
                  altitude_m=10.0, speed_kmh=40.0, course_deg=90.0, satellites=9, hdop=1.0, ignition=True, motion=True,
                  ext_voltage_v=volts, battery_voltage_v=4.05, gsm_signal_pct=70, operator=26001, roaming=False)


class Diagnostics(FakeDiagnostics):
    """The API tests' fake, with journeys as the real engine shapes them, in the last hours."""

    def __init__(self, now: float) -> None:
        super().__init__()
        self.now = now
        self.extra: list[dict[str, Any]] = []

    def journeys(self, imei: str, since: float | None, until: float | None) -> list[dict[str, Any]]:
        self.calls.append(("journeys", imei, since, until))
        start = self.now - 3000
        return [{"start_time": iso_utc(start), "end_time": iso_utc(start + 1500), "start_lat": LAT, "start_lon": LON,
                 "end_lat": LAT + 0.002, "end_lon": LON + 0.002, "distance_m": 12345.0, "duration_s": 1500.0,
                 "max_speed_kmh": 80.0, "avg_speed_kmh": 40.0, "records": 6, "detected_by": "ignition",
                 "reach_m": 300.0, "ongoing": False}]

    def findings(self, imeis: set[str] | None, code: str | None, active: bool | None) -> list[dict[str, Any]]:
        return super().findings(imeis, code, active) + [f for f in self.extra if imeis is None or f["imei"] in imeis]


class DevicePageTests(ApiTestCase):
    """``/devices/{imei}``, its live part and its images, per role."""

    def setUp(self) -> None:
        super().setUp()
        self.now = time.time()
        self.diagnostics = Diagnostics(self.now)
        store = Store(database_at(self.config.database_path))
        store.commit([
            RecordBatch(IMEI_A, "teltonika", [recent(IMEI_A, self.now - 3600 + 240 * i, 13.8 if i < 10 else 0.0, i)
                                              for i in range(15)], self.now - 10),
            RecordBatch(IMEI_B, "teltonika", [recent(IMEI_B, self.now - 600, 12.1, 0)], self.now - 10),
            IngestError(IMEI_A, "teltonika", "10.0.0.9:40000", self.now - 120, "CRC mismatch: got 0x1234",
                        "000000000000000f08010000016b40d8ea30"),
        ])
        store.close()
        db = database_at(self.config.database_path).connect()
        for username, (role, account) in USERS.items():
            create_user(db, username, role, account, PASSWORD, 0.0)
        db.executemany("INSERT INTO device_evidence (imei, name, value, at) VALUES (?, ?, ?, ?)", [
            (IMEI_A, "apn", "wrong.apn", self.now - 300),
            (IMEI_A, "apn_answer", "Param ID:2001 Value:wrong.apn", self.now - 300),
        ])
        from telediag.diagnostics.connectivity_events import parse_event
        from telediag.store.connectivity import save_events

        save_events(db, [parse_event({"iccid": ICCID_A, "at": iso_utc(self.now - 900), "type": "pdp_reject",
                                      "cause": 27, "apn": "wrong.apn", "rat": "LTE-M"}),
                         parse_event({"imei": IMEI_A, "at": iso_utc(self.now - 800), "type": "attach_reject",
                                      "cause": 13, "mcc": 262, "mnc": 1, "rat": "2G"}),
                         parse_event({"imei": IMEI_A, "iccid": ICCID_A, "at": iso_utc(self.now - 700),
                                      "type": "location_update", "mcc": 262, "mnc": 2})], self.now)
        db.commit()
        db.close()
        self.sessions: dict[str, str] = {}

    @defer.inlineCallbacks
    def signed_in(self, username: str) -> Any:
        if username not in self.sessions:
            answer = yield form_sign_in(self, username)
            self.assertEqual(answer.status, 303, answer.data)
            self.sessions[username] = session_of(answer)
        return self.sessions[username]

    @defer.inlineCallbacks
    def get(self, username: str, path: str) -> Any:
        session = yield self.signed_in(username)
        answer = yield self.call("GET", path, headers={"Cookie": f"telediag_session={session}"})
        return answer

    @defer.inlineCallbacks
    def test_a_customer_sees_the_self_check_charts_track_and_journeys_of_an_own_tracker(self) -> Any:
        yield self.start()
        page = yield self.get("anna", f"/devices/{IMEI_A}")
        self.assertEqual(page.status, 200, page.data)
        html = page.data.decode()
        self.assertIn('data-overall="attention"', html)
        self.assertIn('data-check="gnss" data-status="warn"', html)
        self.assertIn('data-action="check-again"', html)
        self.assertIn(f'action="/devices/{IMEI_A}"', html)  # "check again" asks for the page (a fresh self-check)
        self.assertIn(f'data-live="/devices/{IMEI_A}/live"', html)
        self.assertEqual(set(re.findall(r'data-chart="([a-z_]+)"', html)), CHARTS)
        self.assertNotIn('data-empty="yes"', html)
        self.assertIn("lowest 0.0 V, highest 13.8 V, 15 readings", html)  # the power cut, in the text alternative
        self.assertIn('data-track="map"', html)
        self.assertIn('data-journey="1"', html)
        self.assertIn("12.3 km", html)
        self.assertIn("0 h 25 min", html)
        for staff_only in ("data-finding", "data-protocol-error", "data-event=", "data-answer", "CRC mismatch"):
            self.assertNotIn(staff_only, html)
        images = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', html)
        self.assertEqual(len(images), 5)
        for url, alt in images:
            self.assertTrue(alt.strip())
            svg = yield self.get("anna", url.replace("&amp;", "&"))
            self.assertEqual(svg.status, 200, url)
            self.assertEqual(svg.header("Content-Type"), "image/svg+xml")
            self.assertIn(b'role="img"', svg.data)
            self.assertIn(b"<title>", svg.data)
            self.assertIn(b"<desc>", svg.data)
        track = yield self.get("anna", f"/devices/{IMEI_A}/charts/track.svg")
        self.assertIn(b"15 positions, 1 journeys", track.data)

    @defer.inlineCallbacks
    def test_another_accounts_tracker_its_live_part_and_its_images_are_404(self) -> Any:
        yield self.start()
        for path in (f"/devices/{IMEI_B}", f"/devices/{IMEI_B}/live", f"/devices/{IMEI_B}/charts/track.svg",
                     f"/devices/{IMEI_B}/charts/ext_voltage.svg", "/devices/356307042441997"):
            answer = yield self.get("anna", path)
            self.assertEqual(answer.status, 404, path)
            self.assertNotIn(b"KR 9876B", answer.data)
            self.assertNotIn(b"<svg", answer.data)
        for path in (f"/devices/{IMEI_A}/charts/nothing.svg", f"/devices/{IMEI_A}/charts/track.png",
                     f"/devices/{IMEI_A}/elsewhere", f"/devices/{IMEI_A}/charts/a/b"):
            answer = yield self.get("anna", path)
            self.assertEqual(answer.status, 404, path)

    @defer.inlineCallbacks
    def test_the_customer_office_gets_the_self_check_and_no_position_or_telemetry(self) -> Any:
        yield self.start()
        page = yield self.get("office", f"/devices/{IMEI_A}")
        self.assertEqual(page.status, 200)
        live = yield self.get("office", f"/devices/{IMEI_A}/live")
        self.assertEqual(live.status, 200)
        for answer in (page, live):
            html = answer.data.decode()
            self.assertIn("data-overall=", html)
            for text in COORDINATE_TEXTS + ("data-chart", "data-track", "data-journey", "/charts/", "13.8", "4.05"):
                self.assertNotIn(text, html)
        for name in ("track", "ext_voltage", "satellites"):  # the API refuses /records to this role: 403
            image = yield self.get("office", f"/devices/{IMEI_A}/charts/{name}.svg")
            self.assertEqual(image.status, 403)
            self.assertNotIn(b"<svg", image.data)
        api = yield self.call("GET", f"/api/v1/devices/{IMEI_A}/records", "customer_office")
        self.assertEqual(api.status, 403)  # the rule the page mirrors

    @defer.inlineCallbacks
    def test_technical_staff_see_findings_evidence_timeline_errors_and_command_answers(self) -> Any:
        yield self.start()
        for username in ("tech", "itdesk", "root"):
            page = yield self.get(username, f"/devices/{IMEI_A}")
            self.assertEqual(page.status, 200)
            html = page.data.decode()
            self.assertIn('data-finding="GPS_POOR_QUALITY" data-active="yes"', html)
            self.assertIn("<dt>hdop</dt><dd>7.5</dd>", html)  # evidence as key and value
            self.assertIn('data-event="pdp_reject" data-cause="27"', html)
            self.assertIn("27: Missing or unknown APN", html)
            self.assertIn("ESM cause, TS 24.301 9.9.4.4", html)  # an LTE-M session reject
            self.assertIn("13: Roaming not allowed in this location area", html)  # a 2G attach reject
            self.assertEqual(html.count('data-event="location_update"'), 1)  # found by IMEI and by ICCID: once
            self.assertIn("262-02", html)
            self.assertIn("The APN set in the tracker is wrong", html)
            self.assertIn("CRC mismatch: got 0x1234", html)
            self.assertIn("00 00 00 00 00 00 00 0f  08 01 00 00 01 6b 40 d8\n", html)
            self.assertIn('data-answer="apn_answer"', html)
            self.assertIn("Param ID:2001 Value:wrong.apn", html)
            self.assertIn('data-chart="ext_voltage"', html)
            if username != "root":  # no personal data for technical and IT
                for personal in ("WX 1234A", ACME, BETA, "Jan Kowalski", "jan.kowalski", "48600111222"):
                    self.assertNotIn(personal, html)
                self.assertNotIn("Acme", html)
        customer = yield self.get("anna", f"/devices/{IMEI_A}")
        self.assertNotIn(b"Missing or unknown APN", customer.data)

    @defer.inlineCallbacks
    def test_technical_staff_read_the_causes_in_the_page_s_language(self) -> Any:
        yield self.start()
        page = yield self.get("tech", f"/devices/{IMEI_A}?lang=pl")
        self.assertEqual(page.status, 200, page.data)
        html = page.data.decode()
        self.assertIn("27: Brak APN lub nieznany APN", html)  # the 3GPP name
        self.assertIn("APN ustawiony w lokalizatorze jest błędny lub nieznany operatorowi", html)  # what it means
        self.assertIn("Sesja transmisji danych odrzucona", html)  # the event
        self.assertIn("13: Roaming niedozwolony w tym obszarze lokalizacyjnym", html)
        self.assertIn("ESM cause, TS 24.301 9.9.4.4", html)  # a reference into the specification, as written there
        self.assertIn("Odpowiedź na getparam 2001", html)
        self.assertNotIn("Missing or unknown APN", html)

    @defer.inlineCallbacks
    def test_the_live_part_shows_a_new_record_and_a_new_finding_without_a_reload(self) -> Any:
        yield self.start()
        before = yield self.get("tech", f"/devices/{IMEI_A}/live")
        self.assertEqual(before.status, 200)
        self.assertEqual(before.header("X-Telediag-Fragment"), "1")
        self.assertNotIn(b"<html", before.data)
        self.assertIn(b"15 readings", before.data)
        self.assertNotIn(b"DEVICE_SILENT", before.data)
        store = Store(database_at(self.config.database_path))
        store.commit([RecordBatch(IMEI_A, "teltonika", [recent(IMEI_A, self.now - 30, 11.9, 20)], self.now)])
        store.close()
        self.diagnostics.extra.append(
            {"imei": IMEI_A, "code": "DEVICE_SILENT", "team": "technical", "severity": "problem", "active": True,
             "first_seen": iso_utc(self.now), "last_seen": iso_utc(self.now), "count": 1,
             "evidence": {"silent_s": 7200}, "hint": "check the power feed", "cleared_at": None})
        after = yield self.get("tech", f"/devices/{IMEI_A}/live")
        self.assertIn(b"last 11.9 V", after.data)
        self.assertIn(b"16 readings", after.data)
        self.assertIn(b'data-finding="DEVICE_SILENT"', after.data)
        self.assertIn(b"<dt>silent_s</dt><dd>7200</dd>", after.data)
        old = re.search(rb'/charts/ext_voltage\.svg\?v=([^"]+)"', before.data)
        new = re.search(rb'/charts/ext_voltage\.svg\?v=([^"]+)"', after.data)
        assert old and new
        self.assertNotEqual(old.group(1), new.group(1))  # a new record: the browser asks for a new image
        customer = yield self.get("anna", f"/devices/{IMEI_A}/live")
        self.assertNotIn(b"data-finding", customer.data)

    @defer.inlineCallbacks
    def test_a_chart_is_drawn_once_per_newest_record_and_language(self) -> Any:
        drawn: list[str] = []

        def counting(chart: Any) -> bytes:
            drawn.append(chart.title)
            return render_chart(chart)

        self.patch(tracker_pages, "render_chart", counting)
        yield self.start()
        assert self.service is not None and self.service.backend is not None
        self.service.backend.now = lambda: self.now  # type: ignore[method-assign]  # no minute turns meanwhile
        path = f"/devices/{IMEI_A}/charts/gsm_signal.svg"
        first = yield self.get("anna", path)
        again = yield self.get("tech", path)  # another viewer allowed to see it: the same drawing
        self.assertEqual(first.data, again.data)
        self.assertEqual(drawn, ["GSM signal"])
        store = Store(database_at(self.config.database_path))
        store.commit([RecordBatch(IMEI_A, "teltonika", [recent(IMEI_A, self.now - 20, 12.0, 30)], self.now)])
        store.close()
        yield self.get("anna", path)
        self.assertEqual(len(drawn), 2)  # a new record: drawn again

    def test_the_image_cache_keeps_the_most_recently_used(self) -> None:
        cache = ImageCache(2)
        cache.put(("a",), b"1")
        cache.put(("b",), b"2")
        self.assertEqual(cache.get(("a",)), b"1")
        cache.put(("c",), b"3")
        self.assertEqual((cache.get(("a",)), cache.get(("b",)), cache.get(("c",))), (b"1", None, b"3"))

    @defer.inlineCallbacks
    def test_a_tracker_without_recent_data_says_so_plainly(self) -> Any:
        yield self.start()
        db = database_at(self.config.database_path).connect()
        db.execute("DELETE FROM records WHERE imei = ?", (IMEI_A,))
        db.commit()
        db.close()
        page = yield self.get("anna", f"/devices/{IMEI_A}")
        html = page.data.decode()
        self.assertEqual(html.count("No data in the last 24 h"), 4)
        self.assertIn("No positions in the last 24 h", html)
        self.assertNotIn("<img", html)
        chart = yield self.get("anna", f"/devices/{IMEI_A}/charts/gsm_signal.svg")
        self.assertEqual(chart.status, 200)
        self.assertIn(b"No data in the last 24 h", chart.data)


def test_charts_read_a_bounded_number_of_records_and_return_at_most_max_points(tmp_path: Any) -> None:
    now = 1_765_000_000.0
    store = Store(database_at(tmp_path / "t.sqlite"))
    every = [recent(IMEI_A, now - 86_000 + 20 * i, 12.0 + (i % 7) / 10, i % 50) for i in range(4000)]
    store.commit([RecordBatch(IMEI_A, "teltonika", every, now)])
    untimed = Record(imei=IMEI_A, protocol="teltonika", fix_time=None, valid=False, ext_voltage_v=11.0)
    store.commit([RecordBatch(IMEI_A, "teltonika", [untimed], now - 50)])  # a time the device could not give:
    store.close()
    database = database_at(tmp_path / "t.sqlite")
    db = database.connect()
    data = telemetry(db, database.dialect, IMEI_A, Window.ending(now))
    volts = data["charts"]["ext_voltage_v"]
    assert 0 < len(volts["times"]) <= MAX_POINTS
    assert volts["count"] == 4000 and data["read"] == 4000 and not data["truncated"]  # left out, and counted
    assert data["left_out_bad_clock"] == 1
    assert (volts["low"], volts["high"], volts["last"]) == (12.0, 12.6, every[-1].ext_voltage_v)
    assert len(data["track"]["lats"]) <= MAX_POINTS
    limited = device_detail.MAX_SCANNED
    try:
        device_detail.MAX_SCANNED = 1000
        data = telemetry(db, database.dialect, IMEI_A, Window.ending(now))
    finally:
        device_detail.MAX_SCANNED = limited
    assert data["read"] == 1000 and data["truncated"]
    assert min(data["charts"]["satellites"]["times"]) >= every[3000].fix_time - 120  # the newest are kept
    db.close()


def test_causes_are_named_from_the_table_of_the_events_layer_and_radio() -> None:
    session = explain("pdp_reject", 33, "2G")
    assert session and session.name == "Requested service option not subscribed" and "24.008" in session.clause
    assert "APN" in (session.meaning or "")
    mobility = explain("attach_reject", 2, "LTE")
    assert mobility and mobility.name == "IMSI unknown in HSS" and "24.301" in mobility.clause
    assert explain("attach_reject", 2, "3G").name == "IMSI unknown in HLR"  # type: ignore[union-attr]
    assert explain("attach_reject", 3, None).name == "Illegal MS"  # type: ignore[union-attr]
    assert explain("attach_reject", 11, "NB-IoT").name == "PLMN not allowed"  # type: ignore[union-attr]
    assert explain("attach_reject", 15, None).name == "No suitable cells in location area"  # type: ignore[union-attr]
    assert explain("pdp_reject", 200, None).name == "Unknown cause"  # type: ignore[union-attr]
    assert explain("attach", None) is None


def test_evidence_reads_as_keys_and_values_and_excerpts_as_byte_groups() -> None:
    items = evidence_items({"satellites": 3, "fix": {"hdop": 7.5, "valid": False}, "causes": [27, 33], "apn": None})
    assert items == [("satellites", "3"), ("fix › hdop", "7.5"), ("fix › valid", "no"), ("causes", "27, 33"),
                     ("apn", "unknown")]
    assert hex_groups("000102030405060708090A") == "00 01 02 03 04 05 06 07  08 09 0a"
    assert hex_groups(None) == "" and hex_groups("zz<script>") == ""
