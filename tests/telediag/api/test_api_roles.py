"""Every endpoint for every role over real HTTP: what each may call, and what each may see."""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer

from telediag.api.policy import ENDPOINT_ROLES
from tests.telediag.api.support import (
    ACME,
    BETA,
    ICCID_A,
    ICCID_B,
    IMEI_A,
    IMEI_A2,
    IMEI_AUTO,
    IMEI_B,
    LAT_A,
    LAT_B,
    LON_A,
    LON_B,
    PERSONAL_VALUES,
    ApiTestCase,
    walk,
)

EVENT = {"imei": IMEI_A, "at": "2025-06-16T09:00:00Z", "type": "location_update", "mcc": 262, "mnc": 2}
DEVICE = {"imei": "356307042441054", "protocol": "gt06"}

# (method, path, body, endpoint name) for a device of Acme; statuses per role follow ENDPOINT_ROLES.
CALLS: tuple[tuple[str, str, Any, str], ...] = (
    ("GET", "/api/v1/devices", None, "devices.list"),
    ("POST", "/api/v1/devices", DEVICE, "devices.create"),
    ("GET", f"/api/v1/devices/{IMEI_A}", None, "device.detail"),
    ("GET", f"/api/v1/devices/{IMEI_A}/records", None, "device.records"),
    ("GET", f"/api/v1/devices/{IMEI_A}/journeys", None, "device.journeys"),
    ("GET", f"/api/v1/devices/{IMEI_A}/selfcheck", None, "device.selfcheck"),
    ("GET", "/api/v1/findings", None, "findings.list"),
    ("POST", "/api/v1/connectivity/events", EVENT, "events.create"),
    ("GET", f"/api/v1/connectivity/events?imei={IMEI_A}", None, "events.list"),
)
UNKNOWN, UNKNOWN_SIM = "356307042441999", "8948011234567899999"
ROLES = ("customer", "customer_office", "technical", "it", "admin")
POSITION_KEY = re.compile(r"(^|_)(lat|lon|latitude|longitude)($|_)|^(last|start|end)(lat|lon)", re.I)
TELEMETRY_KEYS = {"speed_kmh", "max_speed_kmh", "satellites", "hdop", "ignition", "motion", "ext_voltage_v",
                  "battery_voltage_v", "gsm_signal_pct", "odometer_m", "attributes", "altitude_m",
                  "course_deg", "positions", "position", "points", "records"}
PERSONAL_KEYS = {"contact_name", "email", "phone", "msisdn", "contacts", "vehicle_plate", "account_contact"}
PSEUDONYM = re.compile(r"acct-[0-9a-f]{12}")


class RoleMatrixTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_every_endpoint_for_every_role(self) -> Any:
        yield self.start()
        for method, path, body, endpoint in CALLS:
            for role in ROLES:
                answer = yield self.call(method, path, role, body=body)
                expected = 200 if role in ENDPOINT_ROLES[endpoint] else 403
                self.assertEqual(answer.status, expected, f"{role} {method} {path}: {answer.data[:200]!r}")
                if expected == 403:
                    self.assertEqual(answer.json["error"]["code"], "forbidden")

    @defer.inlineCallbacks
    def test_customer_gets_404_for_another_accounts_device_everywhere(self) -> Any:
        yield self.start()
        for path in (f"/api/v1/devices/{IMEI_B}", f"/api/v1/devices/{IMEI_B}/records",
                     f"/api/v1/devices/{IMEI_B}/journeys", f"/api/v1/devices/{IMEI_B}/selfcheck",
                     f"/api/v1/connectivity/events?imei={IMEI_B}", f"/api/v1/connectivity/events?iccid={ICCID_B}",
                     f"/api/v1/findings?imei={IMEI_B}", f"/api/v1/devices/{IMEI_AUTO}",
                     "/api/v1/devices/356307042441999"):
            answer = yield self.call("GET", path, "customer")
            self.assertError(answer, 404, "not_found")
            unknown = yield self.call("GET", path.replace(IMEI_B, UNKNOWN).replace(ICCID_B, UNKNOWN_SIM), "customer")
            masked = [a.data.replace(IMEI_B.encode(), b"X").replace(ICCID_B.encode(), b"X")
                      .replace(UNKNOWN.encode(), b"X").replace(UNKNOWN_SIM.encode(), b"X") for a in (answer, unknown)]
            self.assertEqual(masked[0], masked[1], "another account's device looks exactly like an unknown one")
        self.assertEqual([c for c in self.diagnostics.calls if c[0] != "findings"], [])

    @defer.inlineCallbacks
    def test_customer_sees_only_its_own_account(self) -> Any:
        yield self.start()
        devices = (yield self.call("GET", "/api/v1/devices", "customer")).json["devices"]
        self.assertEqual([d["imei"] for d in devices], [IMEI_A, IMEI_A2])
        self.assertEqual({d["account"] for d in devices}, {ACME})
        other = yield self.call("GET", f"/api/v1/devices?account={BETA}", "customer")
        self.assertEqual(other.json["devices"], [])
        detail = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}", "customer")).json
        self.assertEqual(detail["state"]["last_lat"], LAT_A + 4 / 1e4)
        records = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}/records?limit=2", "customer")).json
        self.assertEqual((records["count"], records["truncated"]), (2, True))
        self.assertEqual(records["records"][0]["lat"], LAT_A)
        findings = (yield self.call("GET", "/api/v1/findings?active=all", "customer")).json["findings"]
        self.assertEqual({f["imei"] for f in findings}, {IMEI_A})
        self.assertIn(("findings", {IMEI_A, IMEI_A2}, None, None), self.diagnostics.calls)
        events = (yield self.call("GET", f"/api/v1/connectivity/events?iccid={ICCID_A}", "customer")).json
        self.assertEqual([e["type"] for e in events["events"]], ["attach", "pdp_reject"])
        raw = b""
        for path in ("/api/v1/devices", f"/api/v1/devices/{IMEI_A}", "/api/v1/findings?active=all"):
            raw += (yield self.call("GET", path, "customer")).data
        for value in (BETA, "Anna Nowak", IMEI_B, ICCID_B):
            self.assertNotIn(value.encode(), raw)

    @defer.inlineCallbacks
    def test_admin_sees_everything(self) -> Any:
        yield self.start()
        devices = (yield self.call("GET", "/api/v1/devices", "admin")).json["devices"]
        self.assertEqual({d["imei"] for d in devices}, {IMEI_A, IMEI_A2, IMEI_B, IMEI_AUTO})
        detail = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}", "admin")).json
        self.assertEqual(detail["account"], ACME)
        self.assertEqual(detail["account_contact"]["email"], "jan.kowalski@acme.example")
        self.assertEqual(detail["msisdn"], "48600111222")
        self.assertEqual(detail["vehicle_plate"], "WX 1234A")
        self.assertTrue(detail["state"]["connected"])
        records = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}/records"
                                          "?since=2025-06-15T15:06:41Z&until=2025-06-15T15:06:43Z", "admin")).json
        self.assertEqual([r["fix_time"] for r in records["records"]],
                         ["2025-06-15T15:06:41.000Z", "2025-06-15T15:06:42.000Z"])
        self.assertEqual(records["records"][0]["attributes"], {"io66": 24079})
        findings = (yield self.call("GET", "/api/v1/findings?active=all", "admin")).json["findings"]
        self.assertEqual(findings[0]["evidence"]["email"], "jan.kowalski@acme.example")
        journeys = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}/journeys?since=2025-06-15T00:00:00Z",
                                    "admin")).json
        self.assertEqual(journeys["journeys"][0]["start_lat"], LAT_A)
        self.assertEqual(self.diagnostics.calls[-1][:2], ("journeys", IMEI_A))
        self.assertIsNotNone(self.diagnostics.calls[-1][2])
        events = (yield self.call("GET", f"/api/v1/connectivity/events?imei={IMEI_B}", "admin")).json
        self.assertEqual([e["cause"] for e in events["events"]], [11])

    @defer.inlineCallbacks
    def test_findings_filters(self) -> Any:
        yield self.start()
        active = (yield self.call("GET", "/api/v1/findings", "admin")).json["findings"]
        self.assertEqual([f["code"] for f in active], ["GPS_POOR_QUALITY"])
        cleared = (yield self.call("GET", "/api/v1/findings?active=false", "admin")).json["findings"]
        self.assertEqual([f["code"] for f in cleared], ["ROAMING_REJECTED"])
        by_code = (yield self.call("GET", "/api/v1/findings?active=all&code=ROAMING_REJECTED", "admin")).json
        self.assertEqual([f["imei"] for f in by_code["findings"]], [IMEI_B])
        by_account = (yield self.call("GET", f"/api/v1/findings?active=all&account={BETA}", "admin")).json
        self.assertEqual([f["imei"] for f in by_account["findings"]], [IMEI_B])


class DataMinimisationTests(ApiTestCase):
    @defer.inlineCallbacks
    def responses(self, role: str) -> Any:
        """Every body ``role`` gets from every endpoint it may call, with several parameters."""
        paths = ["/api/v1/devices", "/api/v1/findings?active=all", "/api/v1/findings?active=false"]
        for imei in (IMEI_A, IMEI_A2, IMEI_B, IMEI_AUTO):
            paths += [f"/api/v1/devices/{imei}", f"/api/v1/devices/{imei}/selfcheck",
                      f"/api/v1/devices/{imei}/records", f"/api/v1/devices/{imei}/journeys",
                      f"/api/v1/connectivity/events?imei={imei}", f"/api/v1/findings?imei={imei}&active=all"]
        bodies = []
        for path in paths:
            answer = yield self.call("GET", path, role)
            self.assertIn(answer.status, (200, 403), f"{role} {path}")
            if answer.status == 200:
                bodies.append((path, answer))
        answer = yield self.call("POST", "/api/v1/connectivity/events", role, body=EVENT)
        if answer.status == 200:
            bodies.append(("POST events", answer))
        return bodies

    @defer.inlineCallbacks
    def test_no_position_or_telemetry_anywhere_for_customer_office(self) -> Any:
        yield self.start()
        bodies = yield self.responses("customer_office")
        self.assertGreaterEqual(len(bodies), 15)
        for path, answer in bodies:
            for where, key, value in walk(answer.json):
                if key is not None:
                    self.assertIsNone(POSITION_KEY.search(key), f"{path}: {where}")
                    self.assertNotIn(key, TELEMETRY_KEYS, f"{path}: {where}")
                self.assertNotIn(value, (LAT_A, LON_A, LAT_B, LON_B), f"{path}: {where}")
        detail = yield self.call("GET", f"/api/v1/devices/{IMEI_A}", "customer_office")
        self.assertEqual(detail.json["account"], ACME, "the customer office works with account names")
        self.assertEqual(detail.json["account_contact"]["contact_name"], "Jan Kowalski")
        self.assertTrue(detail.json["state"]["connected"])

    @defer.inlineCallbacks
    def test_no_personal_data_anywhere_for_technical_and_it(self) -> Any:
        yield self.start()
        pseudonyms: dict[str, set[str]] = {}
        for role in ("technical", "it"):
            bodies = yield self.responses(role)
            self.assertGreaterEqual(len(bodies), 25)
            for path, answer in bodies:
                for value in PERSONAL_VALUES:
                    self.assertNotIn(value.encode(), answer.data, f"{role} {path}")
                for where, key, item in walk(answer.json):
                    self.assertNotIn(key, PERSONAL_KEYS, f"{role} {path}: {where}")
                    if key in ("account", "accounts") and item is not None:
                        for name in item if isinstance(item, list) else [item]:
                            self.assertRegex(name, PSEUDONYM)
            devices = (yield self.call("GET", "/api/v1/devices", role)).json["devices"]
            pseudonyms[role] = {d["account"] for d in devices if d["account"]}
            records = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}/records", role)).json
            self.assertEqual(records["records"][0]["lat"], LAT_A, "technical staff see telemetry")
        self.assertEqual(pseudonyms["technical"], pseudonyms["it"])
        self.assertEqual(len(pseudonyms["technical"]), 2)

    @defer.inlineCallbacks
    def test_pseudonyms_are_stable_and_filter_by_account(self) -> Any:
        yield self.start()
        detail = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}", "technical")).json
        acme = detail["account"]
        self.assertRegex(acme, PSEUDONYM)
        listed = (yield self.call("GET", f"/api/v1/devices?account={acme}", "technical")).json["devices"]
        self.assertEqual([d["imei"] for d in listed], [IMEI_A, IMEI_A2])
        findings = (yield self.call("GET", f"/api/v1/findings?account={acme}&active=all", "it")).json
        self.assertEqual({f["imei"] for f in findings["findings"]}, {IMEI_A})
        by_name = yield self.call("GET", f"/api/v1/devices?account={ACME}", "technical")
        self.assertError(by_name, 400, "invalid_parameter")
        unknown = yield self.call("GET", "/api/v1/devices?account=acct-000000000000", "technical")
        self.assertEqual(unknown.json["devices"], [])
        yield self.stop()
        yield self.start()
        again = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}", "it")).json
        self.assertEqual(again["account"], acme, "the same pseudonym after a restart")


class DeviceWriteTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_post_devices_all_or_nothing_with_every_problem(self) -> Any:
        yield self.start()
        body = [{"imei": "356307042441062", "account": "Gamma", "coverage": "eu"},
                {"imei": "12", "protocol": "nope", "roaming": "maybe"},
                {"imei": "356307042441062", "colour": "red"}, "text"]
        answer = yield self.call("POST", "/api/v1/devices", "customer_office", body=body)
        error = self.assertError(answer, 400, "invalid_devices")
        self.assertEqual(sum(d.startswith("device 2: ") for d in error["details"]), 4)
        self.assertTrue(any(d.startswith("device 3: ") and "already in device 1" in d for d in error["details"]))
        self.assertTrue(any(d.startswith("device 3: unknown field") for d in error["details"]))
        self.assertTrue(any(d.startswith("device 4: ") for d in error["details"]))
        count = self.db().execute("SELECT count(*) FROM devices").fetchone()[0]
        self.assertEqual(count, 4)
        answer = yield self.call("POST", "/api/v1/devices", "customer_office", body=body[0])
        self.assertEqual(answer.json, {"rows": 1, "devices_added": 1, "devices_updated": 0, "accounts_added": 1})

    @defer.inlineCallbacks
    def test_technical_names_accounts_by_pseudonym_only(self) -> Any:
        yield self.start()
        acme = (yield self.call("GET", f"/api/v1/devices/{IMEI_A}", "technical")).json["account"]
        answer = yield self.call("POST", "/api/v1/devices", "technical",
                                 body={"imei": "356307042441070", "account": acme, "report_interval_s": 30})
        self.assertEqual(answer.status, 200, answer.data)
        row = self.db().execute("SELECT account, report_interval_s FROM devices WHERE imei = '356307042441070'")
        self.assertEqual(row.fetchone(), (ACME, 30.0))
        answer = yield self.call("POST", "/api/v1/devices", "technical",
                                 body={"imei": "356307042441088", "account": ACME, "coverage": "world"})
        error = self.assertError(answer, 400, "invalid_devices")
        self.assertEqual(len(error["details"]), 2)
