"""The outage pages over real HTTP against the real ApiService, with a mass outage opened by the real
ticket machinery (findings -> TicketDesk -> correlation) in a real store."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from twisted.internet import defer

from protocols.record import Record, iso_utc
from telediag.config import SlaConfig, TicketsConfig
from telediag.diagnostics.findings import Finding, Transition
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.writer import RecordBatch, Store
from telediag.tickets import repository as repo
from telediag.tickets.desk import TicketDesk
from telediag.web.outages import due_now, shared
from tests.stores import database_at
from tests.telediag.api.support import ACME
from tests.telediag.web.support import RolePagesCase

SILENT = [f"35000000000{i:04d}" for i in range(4)]
"""Trackers of two accounts on one operator that all go silent together."""
OPERATOR = 26003


WITNESS = "350000000009999"
"""A tracker on another network, heard after the others fell silent: the silence is theirs, not ours."""


def evidence(onset: float) -> dict[str, Any]:
    return {"silent_s": 4000, "onset": iso_utc(onset)}


def silent(imei: str, at: float, onset: float) -> Transition:
    return Transition("raised", Finding(1, imei, "DEVICE_SILENT", True, at, at, 1, evidence(onset), None))


class OutagePagesTests(RolePagesCase):
    """``/outages`` and ``/outages/{id}`` for technical, IT and admin; a 404 for everyone else."""

    def setUp(self) -> None:
        super().setUp()
        self.now = time.time()
        store = Store(database_at(self.config.database_path))
        save(store._db, [parse_entry({"imei": imei, "protocol": "teltonika",
                                      "account": ACME if i % 2 else "Gamma Cargo", "vehicle_plate": f"GD {1000 + i}"})
                         for i, imei in enumerate(SILENT)], self.now - 86400, "import")
        for i, imei in enumerate(SILENT):  # far apart: only the operator is shared
            record = Record(imei=imei, protocol="teltonika", fix_time=self.now - 7200, valid=True,
                            lat=49.5 + i, lon=14.5 + 2 * i, operator=OPERATOR)
            store.commit([RecordBatch(imei, "teltonika", [record], self.now - 7200)], flush_state=True)
        onset = self.now - 7200
        heard = Record(imei=WITNESS, protocol="teltonika", fix_time=onset + 600, valid=True, lat=52.0, lon=21.0)
        store.commit([RecordBatch(WITNESS, "teltonika", [heard], onset + 600)], flush_state=True)
        db = store._db
        for imei in SILENT:
            db.execute("INSERT INTO findings (imei, code, first_seen, last_seen, evidence) "
                       "VALUES (?, 'DEVICE_SILENT', ?, ?, ?)",
                       (imei, self.now - 60, self.now - 60, orjson.dumps(evidence(onset)).decode()))
        desk = TicketDesk(SlaConfig(), TicketsConfig(mass_outage_min_devices=3))
        desk.on_findings(db, [silent(imei, self.now - 60, onset) for imei in SILENT], self.now)
        [self.parent] = [t for t in repo.list_ids(db) if repo.row(db, t)["problem"] == "MASS_OUTAGE"]
        self.children = repo.children_of(db, self.parent)
        self.other = next(t for t in repo.list_ids(db) if t != self.parent)
        # an older outage on an APN, already resolved: listed after the open one
        self.old = repo.insert_ticket(
            db, title="Mass outage: devices on apn m2m.old fail together", origin="auto", category="system_problem",
            topic="critical_server_failure", team="it", priority="P1", state="resolved", problem="MASS_OUTAGE",
            correlation_key="apn=m2m.old", created_by="system", created_at=self.now - 86400,
            updated_at=self.now - 80000, first_response_due=self.now - 80000, resolution_due=self.now - 70000)
        repo.record_finding(db, self.old, {"imei": "apn=m2m.old", "code": "MASS_OUTAGE", "first_seen": self.now - 86400,
                                           "last_seen": self.now - 86400, "count": 12,
                                           "evidence": {"apn": "m2m.old", "devices": 12}})
        self.sign_in_roles(db, self.now)
        store.close()

    @defer.inlineCallbacks
    def test_technical_staff_see_outages_open_first_with_what_the_devices_share(self) -> Any:
        yield self.start()
        answer = yield self.page("technical", "/outages")
        self.assertEqual(answer.status, 200, answer.data)
        html = answer.data.decode()
        rows = re.findall(r'<tr data-outage="(\d+)" data-shared-kind="(\w*)" data-shared-value="([^"]*)"'
                          r' data-open="(\w+)">', html)
        self.assertEqual(rows, [(str(self.parent), "operator", str(OPERATOR), "yes"),
                                (str(self.old), "apn", "m2m.old", "no")])
        self.assertIn('data-open-outages="1"', html)
        first = html.split(f'<tr data-outage="{self.parent}"', 1)[1].split("</tr>", 1)[0]
        self.assertIn('data-count="devices">4<', first)
        self.assertIn('data-count="children">4<', first)
        self.assertIn("(PL)", first)  # MCC 260: a Polish network
        self.assertIn('data-ticket-state="new"', first)
        self.assertIn("P1", first)
        self.assertIn('data-due="first_response">First response by', first)

    @defer.inlineCallbacks
    def test_an_outage_shows_its_parent_children_and_devices(self) -> Any:
        yield self.start()
        for role in ("technical", "it", "admin"):
            answer = yield self.page(role, f"/outages/{self.parent}")
            self.assertEqual(answer.status, 200, (role, answer.data))
            html = answer.data.decode()
            self.assertIn(f'data-shared-kind="operator" data-shared-value="{OPERATOR}"', html)
            self.assertIn(f'href="/tickets/{self.parent}" data-parent="{self.parent}"', html)
            self.assertEqual(sorted(int(i) for i in re.findall(r'<tr data-child="(\d+)">', html)), self.children)
            for child in self.children:
                self.assertIn(f'href="/tickets/{child}"', html)
            self.assertEqual(sorted(re.findall(r'<tr data-imei="(\d+)">', html)), SILENT)
            for imei in SILENT:
                self.assertIn(f'href="/devices/{imei}"', html)
            self.assertIn("DEVICE_SILENT", html)
            self.assertIn("4 trackers · 4 child tickets · 2 accounts", html)
            self.assertIn('data-kind="correlated"', html)
        tech = yield self.page("technical", f"/outages/{self.parent}")
        for personal in ("GD 1001", "Acme Logistics", "Gamma Cargo"):  # technical staff read no plates or names
            self.assertNotIn(personal, tech.data.decode())
        old = yield self.page("it", f"/outages/{self.old}")
        self.assertIn(b'data-shared-kind="apn" data-shared-value="m2m.old"', old.data)

    @defer.inlineCallbacks
    def test_others_get_404_and_so_do_tickets_that_are_not_outages(self) -> Any:
        yield self.start()
        for role in ("customer_office", "customer"):
            for path in ("/outages", f"/outages/{self.parent}"):
                answer = yield self.page(role, path)
                self.assertEqual(answer.status, 404, (role, path))
        for path in (f"/outages/{self.other}", "/outages/999999", "/outages/abc", "/outages/0",
                     f"/outages/{self.parent}/x"):
            answer = yield self.page("technical", path)
            self.assertEqual(answer.status, 404, path)
        bad = yield self.page("technical", "/outages?page=x")
        self.assertEqual(bad.status, 400)
        later = yield self.page("technical", "/outages?page=2")
        self.assertIn(b'data-empty="outages"', later.data)


def test_what_an_outage_shares_and_its_due_time() -> None:
    assert shared({"findings": []}) == {"kind": None, "value": None, "country": None}
    document = {"findings": [{"code": "DEVICE_SILENT", "evidence": {"apn": "x"}},
                             {"code": "MASS_OUTAGE", "evidence": {"area": "52.00,21.00", "devices": 10}}]}
    assert shared(document) == {"kind": "area", "value": "52.00,21.00", "country": None}
    assert shared({"findings": [{"code": "MASS_OUTAGE", "evidence": {"operator": "26201"}}]})["country"] == "DE"
    sla = {"first_response_due": "A", "resolution_due": "B", "first_response_at": None, "breached": ["first_response"]}
    assert due_now({"sla": sla}) == {"kind": "first_response", "at": "A", "breached": True}
    assert due_now({"sla": {**sla, "first_response_at": "C"}}) == {"kind": "resolution", "at": "B", "breached": False}
