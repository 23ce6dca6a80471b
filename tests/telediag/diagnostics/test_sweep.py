"""The diagnostics service's timing on an injected clock: periodic sweep and debounced commit checks."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from protocols.record import Record
from telediag.config import Thresholds
from telediag.diagnostics.engine import DiagnosticsEngine
from telediag.diagnostics.findings import Transition
from telediag.diagnostics.service import DiagnosticsService
from telediag.store.writer import IngestError, RecordBatch, Store
from tests.stores import database_at

IMEI = "356307042441013"
START = 1_790_000_000.0


def healthy(at: float, **values: Any) -> Record:
    fields: dict[str, Any] = dict(imei=IMEI, protocol="teltonika", fix_time=at, valid=True, lat=52.23,
                                  lon=21.01, ext_voltage_v=13.9, battery_voltage_v=4.1)
    fields.update(values)
    return Record(**fields)


class SweepTests(unittest.TestCase):
    def setUp(self) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-sweep-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        self.store = Store(database_at(data_dir / "telediag.sqlite3"))
        self.addCleanup(self.store.close)
        self.clock = Clock()
        self.clock.advance(START)
        self.engine = DiagnosticsEngine(
            self.store.database, Thresholds(sweep_interval_s=60.0, batch_check_min_interval_s=10.0)
        )
        self.service = DiagnosticsService(reactor, self.engine, clock=self.clock)
        self.changes: list[Transition] = []
        self.service.add_listener(self.changes.extend)

    @defer.inlineCallbacks
    def settle(self) -> Any:
        """Let the diagnostics thread finish what the clock started."""
        for _ in range(200):
            if not self.service._in_flight:
                return
            yield deferLater(reactor, 0.01, lambda: None)

    @defer.inlineCallbacks
    def test_sweep_on_the_clock_raises_silence_and_a_commit_check_clears_it(self) -> Any:
        self.store.commit([RecordBatch(IMEI, "teltonika", [healthy(START)], START)], flush_state=True)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        yield self.settle()
        self.assertEqual(self.changes, [])
        self.assertEqual(self.service.sweeps, 1)
        for _ in range(35):  # 35 minutes of sweeps, one a minute
            self.clock.advance(60)
            yield self.settle()
        self.assertEqual(self.service.sweeps, 36)
        kinds = [(t.kind, t.finding.code) for t in self.changes]
        self.assertEqual(kinds[0], ("raised", "DEVICE_SILENT"))  # once past 30 min, then renewed
        self.assertEqual(set(kinds[1:]), {("updated", "DEVICE_SILENT")})

        now = self.clock.seconds()
        batch = RecordBatch(IMEI, "teltonika", [healthy(now)], now)
        self.store.commit([batch], flush_state=True)
        self.service.on_commit([batch], 1)
        self.service.on_commit([batch], 1)
        self.clock.advance(5)
        yield self.settle()
        self.assertEqual(self.service.checks, 0)  # debounced: not before batch_check_min_interval_s
        self.clock.advance(5)
        yield self.settle()
        self.assertEqual(self.service.checks, 1)
        self.assertEqual([(t.kind, t.finding.code) for t in self.changes][-1], ("cleared", "DEVICE_SILENT"))

    @defer.inlineCallbacks
    def test_bad_frames_trigger_a_check_of_their_device(self) -> Any:
        now = self.clock.seconds()
        errors = [IngestError(IMEI, "teltonika", "127.0.0.1:1", now, "CRC mismatch", "00ff") for _ in range(5)]
        self.store.commit(errors, flush_state=True)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        yield self.settle()
        self.changes.clear()
        self.service.on_commit(errors, 0)
        self.clock.advance(10)
        yield self.settle()
        self.assertEqual(self.service.checks, 1)
        self.assertEqual([t.kind for t in self.changes], ["updated"])
        self.assertEqual(self.changes[0].finding.code, "PROTOCOL_ERRORS")
        self.assertEqual(self.changes[0].finding.evidence["last_error"], "CRC mismatch")
