"""Every input schedules its devices at once, on an injected clock: connectivity events (as the API
and the CLI store them), registry changes, connections; each is checked within the debounce."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from protocols.record import Record, iso_utc
from telediag.config import Thresholds
from telediag.diagnostics.connectivity_events import parse_event
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.findings import Transition, active_findings
from telediag.diagnostics.service import DiagnosticsService
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from telediag.store.connectivity import save_events
from telediag.store.writer import ConnectionChange, RecordBatch, Store
from tests.stores import database_at

IMEI = "356307042441013"
ICCID = "8948000000000000001"
START = 1_790_000_000.0
DEBOUNCE_S = 1.0
POLL_S = 1.0


def registry_row(**values: str) -> dict[str, str]:
    row = {"imei": IMEI, "protocol": "teltonika", "account": "Acme", "iccid": ICCID, "apn": "fleet.example",
           "roaming": "true", "coverage": "domestic", "home_country": "PL", "report_interval_s": "60"}
    row.update(values)
    return row


class EventDrivenTests(unittest.TestCase):
    def setUp(self) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-events-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        self.store = Store(database_at(data_dir / "telediag.sqlite3"))
        self.addCleanup(self.store.close)
        save(self.store._db, [parse_entry(registry_row())], START - 3600, "import")
        self.clock = Clock()
        self.clock.advance(START)
        self.engine = DiagnosticsEngine(self.store.database, Thresholds(
            sweep_interval_s=3600.0, batch_check_min_interval_s=DEBOUNCE_S, change_poll_interval_s=POLL_S,
        ))
        self.service = DiagnosticsService(reactor, self.engine, clock=self.clock)
        self.published: list[list[Transition]] = []
        self.service.add_listener(lambda transitions: self.published.append(list(transitions)))

    @defer.inlineCallbacks
    def settle(self) -> Any:
        """Let the diagnostics thread finish what the clock started."""
        for _ in range(500):
            if not self.service._in_flight:
                return
            yield deferLater(reactor, 0.01, lambda: None)
        self.fail("the diagnostics thread did not finish")

    @defer.inlineCallbacks
    def start(self) -> Any:
        self.service.startService()
        self.addCleanup(self.service.stopService)
        yield self.settle()  # the first sweep; the feed starts with the registry import of setUp
        yield self.step(POLL_S + DEBOUNCE_S)
        self.published.clear()
        self.checks_before = self.service.checks

    @defer.inlineCallbacks
    def step(self, seconds: float) -> Any:
        """Advance the clock in small steps, letting each started job finish."""
        steps = round(seconds / 0.5)
        for _ in range(steps):
            self.clock.advance(0.5)
            yield self.settle()

    def events(self, *causes: int, kind: str = "pdp_reject") -> None:
        now = self.clock.seconds()
        events = [parse_event({"iccid": ICCID, "at": iso_utc(now - 10 + i), "type": kind, "cause": cause,
                               "apn": "internet", "mcc": 260, "mnc": 1}) for i, cause in enumerate(causes)]
        save_events(self.store._db, events, now)

    def active(self) -> set[str]:
        return set(active_findings(self.store._db, IMEI))

    @defer.inlineCallbacks
    def test_connectivity_events_in_the_store_are_diagnosed_within_poll_and_debounce(self) -> Any:
        yield self.start()
        self.events(33, 27)  # as POST /connectivity/events or the CLI import store them, on any node
        yield self.step(POLL_S + DEBOUNCE_S)
        self.assertIn("APN_MISCONFIGURED", self.active())
        raised = [t for batch in self.published for t in batch if t.kind == "raised"]
        self.assertEqual([t.finding.code for t in raised], ["APN_MISCONFIGURED"])
        self.assertEqual(raised[0].finding.evidence["causes"], [27, 33])

    @defer.inlineCallbacks
    def test_a_run_caused_by_connectivity_events_is_published_even_without_a_change(self) -> Any:
        yield self.start()
        self.events(33)  # one reject: no finding yet, but the tickets correlate network signals anyway
        yield self.step(POLL_S + DEBOUNCE_S)
        self.assertEqual(self.active(), set())
        self.assertEqual(self.published, [[]])
        self.assertEqual(self.service.checks, self.checks_before + 1)

    @defer.inlineCallbacks
    def test_a_registry_change_is_checked_within_poll_and_debounce(self) -> Any:
        yield self.start()
        self.assertEqual(self.active(), set())
        # activated and registered two days ago: the edit makes the silence a fault at once
        save(self.store._db, [parse_entry(registry_row(activated_at=iso_utc(START - 2 * 86400) or ""))],
             self.clock.seconds(), "api")
        self.store._db.execute("UPDATE devices SET registered_at = ?", (START - 2 * 86400,))
        yield self.step(POLL_S + DEBOUNCE_S)
        self.assertEqual(self.active(), {"NO_DATA_AFTER_ACTIVATION"})

    @defer.inlineCallbacks
    def test_connecting_and_disconnecting_schedule_a_check_within_the_debounce(self) -> Any:
        yield self.start()
        now = self.clock.seconds()
        change = ConnectionChange(IMEI, "teltonika", True, "127.0.0.1:5", now)
        self.service.on_flush([change])  # as the committer tells it: before the commit, then after
        self.store.commit([change], flush_state=True)
        self.service.on_commit([change], 0)
        yield self.step(DEBOUNCE_S / 2)
        self.assertEqual(self.service.checks, self.checks_before)  # debounced
        yield self.step(DEBOUNCE_S / 2)
        self.assertEqual(self.service.checks, self.checks_before + 1)
        yield self.step(POLL_S * 2)  # the feed reads the same connection back: no second check
        self.assertEqual(self.service.checks, self.checks_before + 1)
        gone = ConnectionChange(IMEI, "teltonika", False, "127.0.0.1:5", self.clock.seconds())
        self.store.commit([gone], flush_state=True)  # e.g. on another node: only the feed sees it
        yield self.step(POLL_S + DEBOUNCE_S)
        self.assertEqual(self.service.checks, self.checks_before + 2)

    @defer.inlineCallbacks
    def test_a_large_batch_of_devices_is_checked_in_bounded_runs(self) -> Any:
        self.engine.thresholds = Thresholds(check_batch_max=2, batch_check_min_interval_s=DEBOUNCE_S)
        self.service.thresholds = self.engine.thresholds
        yield self.start()
        self.service.schedule([f"35630704244{n:04d}" for n in range(5)] + [IMEI])
        yield self.step(DEBOUNCE_S)
        self.assertEqual(self.service.checks, self.checks_before + 2)  # one run of at most two devices
        yield self.step(1.0)  # the rest follow run after run, without waiting for another debounce
        self.assertEqual(self.service.checks, self.checks_before + 6)

    @defer.inlineCallbacks
    def test_records_committed_here_are_not_another_nodes_and_another_nodes_are_read_back(self) -> Any:
        yield self.start()

        def batch(offset_s: float) -> RecordBatch:
            now = self.clock.seconds()
            fix = Record(imei=IMEI, protocol="teltonika", fix_time=now - 5 + offset_s, valid=True, lat=52.23,
                         lon=21.01, satellites=9, hdop=1.0, ext_voltage_v=13.9, battery_voltage_v=4.1)
            return RecordBatch(IMEI, "teltonika", [fix], now)

        first = batch(0)
        self.service.on_flush([first])
        self.store.commit([first], flush_state=True)
        self.service.on_commit([first], 1)
        yield self.step(POLL_S + DEBOUNCE_S)
        checks = self.service.checks
        for n in range(1, 4):  # the feed polls between the commit and its listener, as under load
            streamed = batch(n)
            self.service.on_flush([streamed])
            self.store.commit([streamed], flush_state=True)
            yield self.step(POLL_S)
            self.service.on_commit([streamed], 1)
            yield self.step(DEBOUNCE_S)
        self.assertEqual(self.service.checks, checks, "a healthy device was evaluated from the store again")
        elsewhere = batch(10)  # written by another node or worker: only the feed sees it, and reads it back
        self.store.commit([elsewhere], flush_state=True)
        yield self.step(POLL_S + DEBOUNCE_S)
        self.assertEqual(self.service.checks, checks, "a healthy record from elsewhere is folded, not evaluated")
        now = self.clock.seconds()
        lost = Record(imei=IMEI, protocol="teltonika", fix_time=now - 1, valid=False, satellites=0)
        self.store.commit([RecordBatch(IMEI, "teltonika", [lost], now)], flush_state=True)  # elsewhere too
        yield self.step(POLL_S + DEBOUNCE_S)
        self.assertEqual(self.service.checks, checks + 1, "a record without a fix from elsewhere is evaluated")

    @defer.inlineCallbacks
    def test_an_ingest_workers_report_has_the_devices_new_records_read_back_and_folded(self) -> Any:
        yield self.start()
        checks = self.service.checks
        now = self.clock.seconds()
        healthy = Record(imei=IMEI, protocol="teltonika", fix_time=now - 5, valid=True, lat=52.23, lon=21.01,
                         satellites=9, hdop=1.0, ext_voltage_v=13.9, battery_voltage_v=4.1)
        self.store.commit([RecordBatch(IMEI, "teltonika", [healthy], now)], flush_state=True)  # the worker's commit
        report = [RecordBatch(IMEI, "teltonika", [], now)]  # its report: no records in it
        self.service.on_flush(report)  # as telediag.app wires the pool's listeners
        self.service.on_commit(report, 0)
        yield self.step(DEBOUNCE_S)
        self.assertEqual(self.service.checks, checks)
        self.assertEqual(self.engine.rolling.arrived(IMEI), now)
        yield self.step(1.0)
        now = self.clock.seconds()
        cut = Record(imei=IMEI, protocol="teltonika", fix_time=now - 5, valid=True, lat=52.23, lon=21.01,
                     satellites=9, hdop=1.0, ext_voltage_v=0.0, battery_voltage_v=3.9)  # external power lost
        self.store.commit([RecordBatch(IMEI, "teltonika", [cut], now)], flush_state=True)
        report = [RecordBatch(IMEI, "teltonika", [], now)]
        self.service.on_flush(report)
        self.service.on_commit(report, 0)
        yield self.step(DEBOUNCE_S)
        self.assertEqual(self.service.checks, checks + 1)
