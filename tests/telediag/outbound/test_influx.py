"""The InfluxDB export against a real VictoriaMetrics on 127.0.0.1 (InfluxDB v2 write API).

Every test checks the server's stored samples through ``/api/v1/export``: each field of each record
exactly once, with its value, tags and time; nothing else.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from protocols.record import Record
from telediag.config import InfluxSettings
from telediag.outbound.influx import InfluxExporter, read_cursor, write_cursor
from telediag.outbound.influx_points import BOOLEAN_FIELDS, FLOAT_FIELDS
from telediag.store.sqlite import SQLiteDatabase
from telediag.store.writer import RecordBatch, Store
from tests.telediag.outbound import vmserver
from tests.telediag.outbound.vmserver import SeriesKey, VmServer

START = float((int(time.time()) // 3600 - 24 * 10) * 3600)
"""Ten days ago: inside what VictoriaMetrics accepts (1970 .. now + 2 days)."""
DEVICES = (
    ("356307042441013", "teltonika", "Acme Logistics"),
    ("356307042441021", "teltonika", "Acme Logistics"),
    ("864895030000017", "gt06", "Baltic Cargo, Ltd"),
    ("359633100000099", "osmand", None),  # auto-registered, no account
)
Expected = dict[SeriesKey, dict[int, float]]


def make_records(device: int, count: int, first: int = 0) -> list[Record]:
    """``count`` records of one device, every field varied, some unknown."""
    imei, protocol, _ = DEVICES[device]
    records = []
    for i in range(first, first + count):
        records.append(Record(
            imei=imei, protocol=protocol, fix_time=START + i * 2.5 + device * 0.001,
            valid=i % 5 != 0, lat=round(52.1 + i * 1e-5 + device, 6), lon=round(21.0 - i * 1e-5, 6),
            altitude_m=None if i % 4 == 0 else 100.0 + i % 30, speed_kmh=float(i % 90),
            course_deg=None if i % 3 == 0 else float(i % 360), satellites=i % 13,
            hdop=None if i % 6 == 0 else round(0.7 + (i % 10) / 10, 1),
            ignition=None if i % 7 == 0 else i % 2 == 0, motion=i % 3 == 0,
            ext_voltage_v=round(12.0 + (i % 25) / 10, 2), battery_voltage_v=None if i % 2 else 4.1,
            gsm_signal_pct=None if i % 8 == 0 else i % 101, roaming=None if device != 2 else i % 2 == 1,
            odometer_m=1000.0 * i + 0.5, event="overspeed" if i % 50 == 0 else None,
        ))
    return records


def odd_records() -> list[Record]:
    """A clock reset to 2000, a record with no fix time, one with nothing known, one from the future."""
    imei, protocol, _ = DEVICES[0]
    return [
        Record(imei=imei, protocol=protocol, fix_time=946_684_800.5, valid=False, satellites=0),
        Record(imei=imei, protocol=protocol, fix_time=None, ext_voltage_v=0.0, event="power_cut"),
        Record(imei=imei, protocol=protocol, fix_time=START - 1),  # every value unknown: no point
        Record(imei=imei, protocol=protocol, fix_time=4_102_444_800.0, lat=1.0),  # 2100: VM drops it
    ]


def expected_samples(rows: list[tuple[Any, ...]]) -> Expected:
    """What VictoriaMetrics must hold for ``rows`` (records joined with the registry), by series."""
    expected: Expected = {}
    now = time.time()
    for imei, protocol, account, fix_time, server_time, *values in rows:
        seconds = fix_time if fix_time is not None else server_time
        if not 0 <= seconds <= now + 86_400:  # VictoriaMetrics keeps 1970 .. now + 2 days
            continue
        labels = {"imei": imei, "protocol": protocol}
        if account is not None:
            labels["account"] = account
        label_items = tuple(sorted(labels.items()))
        for name, value in zip(FLOAT_FIELDS + BOOLEAN_FIELDS + ("event",), values, strict=True):
            if value is None:
                continue
            number = 0.0 if name == "event" else float(value)  # VictoriaMetrics stores strings as 0
            expected.setdefault((f"telemetry_{name}", label_items), {})[round(seconds * 1000)] = number
    return expected


class ExportTests(unittest.TestCase):
    timeout = 25

    def setUp(self) -> None:
        if not vmserver.available():
            raise unittest.SkipTest(f"no victoria-metrics at {vmserver.BINARY}; run `make servers`")
        self.tmp = Path(tempfile.mkdtemp(prefix="telediag-influx-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.store = Store(SQLiteDatabase(self.tmp / "telediag.sqlite3"))
        self.addCleanup(self.store.close)
        db = self.store.database.connect()
        for _, _, account in DEVICES:
            if account is not None:
                db.execute("INSERT OR IGNORE INTO accounts (name) VALUES (?)", (account,))
        for imei, protocol, account in DEVICES:
            db.execute(
                "INSERT INTO devices (imei, protocol, registered_at, source, account) VALUES (?, ?, ?, ?, ?)",
                (imei, protocol, START, "import" if account else "auto", account),
            )
        db.close()
        self.vm = VmServer(self.tmp / "vm")
        self.addCleanup(self.vm.stop)

    # -- helpers ---------------------------------------------------------------------------------

    def commit(self, records: list[Record]) -> None:
        by_device: dict[str, list[Record]] = {}
        for record in records:
            assert record.imei is not None
            by_device.setdefault(record.imei, []).append(record)
        batches = [RecordBatch(imei, rs[0].protocol, rs, START + 3600) for imei, rs in by_device.items()]
        self.store.commit(batches)

    def exporter(
        self, clock: Any = None, rand: Callable[[], float] = lambda: 0.5, **overrides: Any
    ) -> InfluxExporter:
        values: dict[str, Any] = dict(
            url=self.vm.url, org="fleet", bucket="telemetry", batch_size=500, poll_interval_s=0.05,
            retry_initial_s=0.05, retry_max_s=0.2, timeout_ms=2000,
        )
        values.update(overrides)
        settings = InfluxSettings(**values)
        exporter = InfluxExporter(reactor, self.store.database, settings, clock=clock, rand=rand)
        exporter.startService()
        self.addCleanup(exporter.stopService)
        return exporter

    def stored_rows(self) -> list[tuple[Any, ...]]:
        columns = ", ".join(f"r.{name}" for name in FLOAT_FIELDS + BOOLEAN_FIELDS + ("event",))
        db = self.store.database.connect()
        try:
            return db.execute(
                f"SELECT r.imei, r.protocol, d.account, r.fix_time, r.server_time, {columns} "
                "FROM records r LEFT JOIN devices d ON d.imei = r.imei ORDER BY r.id"
            ).fetchall()
        finally:
            db.close()

    def newest_id(self) -> int:
        db = self.store.database.connect()
        try:
            return int(db.execute("SELECT max(id) FROM records").fetchone()[0] or 0)
        finally:
            db.close()

    def saved_cursor(self) -> int:
        db = self.store.database.connect()
        try:
            return read_cursor(db)
        finally:
            db.close()

    @defer.inlineCallbacks
    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            yield deferLater(reactor, 0.01, lambda: None)

    def wait_exported(self, exporter: InfluxExporter, timeout: float = 10.0) -> Any:
        newest = self.newest_id()
        return self.wait_for(
            f"cursor {newest}", lambda: exporter.cursor == newest and exporter.lag == 0, timeout
        )

    def assert_everything_arrived_once(self) -> int:
        """Every field of every stored record exactly once, with its value and tags; returns samples."""
        expected = expected_samples(self.stored_rows())
        stored = self.vm.samples()
        self.assertEqual(set(stored), set(expected), "series differ")
        total = 0
        for key, samples in stored.items():
            stamps = [stamp for stamp, _ in samples]
            self.assertEqual(len(stamps), len(set(stamps)), f"duplicate samples in {key}")
            self.assertEqual(dict(samples), expected[key], f"values differ in {key}")
            total += len(samples)
        return total

    # -- tests -------------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def test_every_record_arrives_with_its_values_and_tags(self) -> Any:
        self.vm.start()
        for device in range(len(DEVICES)):
            self.commit(make_records(device, 400))
        self.commit(odd_records())
        exporter = self.exporter()
        yield self.wait_exported(exporter)
        self.assertEqual(self.saved_cursor(), self.newest_id())
        samples = self.assert_everything_arrived_once()
        self.assertGreater(samples, 1600 * 10)
        self.assertEqual(exporter.points_skipped, 1)  # the record with nothing known
        self.assertEqual(exporter.batches_failed, 0)
        self.assertEqual(exporter.points_written, 1600 + 3)  # the 2100 one is sent; VM drops it
        # the clock-reset record (year 2000) is there, and the one without fix time at its server time
        year_2000 = self.vm.samples('telemetry_satellites{imei="356307042441013"}')
        self.assertIn((946_684_800_500, 0.0), next(iter(year_2000.values())))
        # an instant query sees the newest point of a series
        last = make_records(2, 400)[-1]
        assert last.fix_time is not None
        result = self.vm.query('telemetry_lat{imei="864895030000017"}', at=last.fix_time + 1)
        self.assertEqual(float(result[0]["value"][1]), last.lat)
        self.assertEqual(result[0]["metric"]["account"], "Baltic Cargo, Ltd")
        yield exporter.stopService()

    @defer.inlineCallbacks
    def test_server_down_at_start_then_everything_arrives(self) -> Any:
        self.commit(make_records(0, 300) + make_records(2, 300))
        exporter = self.exporter()
        yield self.wait_for("failed batches", lambda: exporter.batches_failed >= 2)
        self.assertEqual(exporter.cursor, 0)
        self.assertEqual(self.saved_cursor(), 0)
        self.assertEqual(exporter.lag, 600)
        # ingest goes on meanwhile, and is not held up by the export
        began = time.monotonic()
        self.commit(make_records(1, 300))
        self.assertLess(time.monotonic() - began, 0.5)
        self.vm.start()
        yield self.wait_exported(exporter)
        self.assertEqual(self.saved_cursor(), self.newest_id())
        self.assert_everything_arrived_once()
        self.assertIsNotNone(exporter.last_error)
        yield exporter.stopService()

    @defer.inlineCallbacks
    def test_server_restart_in_the_middle(self) -> Any:
        self.vm.start()
        self.commit(make_records(0, 1000))
        exporter = self.exporter(batch_size=200)
        yield self.wait_exported(exporter)
        written = exporter.batches_written
        self.commit(make_records(1, 2000) + make_records(3, 2000))
        yield self.wait_for("more batches", lambda: exporter.batches_written >= written + 2)
        self.vm.stop()  # while batches are out
        self.commit(make_records(2, 1000))  # and devices keep reporting during the outage
        yield self.wait_for("a failed batch", lambda: exporter.batches_failed >= 1)
        self.assertLess(exporter.cursor, self.newest_id())
        self.vm.start()  # same port, same data path
        yield self.wait_exported(exporter, timeout=15)
        self.assert_everything_arrived_once()
        self.assertGreaterEqual(exporter.points_written, 6000)
        yield exporter.stopService()

    @defer.inlineCallbacks
    def test_exporter_restart_continues_from_the_cursor(self) -> Any:
        self.vm.start()
        self.commit(make_records(0, 2000) + make_records(1, 2000))
        first = self.exporter(batch_size=250)
        yield self.wait_for("some batches", lambda: first.batches_written >= 3)
        yield first.stopService()  # in the middle of the stream
        stopped_at = self.saved_cursor()
        self.assertEqual(stopped_at, first.cursor)
        self.assertGreater(stopped_at, 0)
        self.commit(make_records(2, 500))

        second = self.exporter(batch_size=250)
        yield self.wait_exported(second)
        self.assertEqual(second.points_written, self.newest_id() - stopped_at)  # nothing before the cursor
        self.assert_everything_arrived_once()
        yield second.stopService()

        # a crash after the server took rows but before the cursor was saved: they are sent again
        db = self.store.database.connect()
        write_cursor(db, stopped_at, time.time())
        db.close()
        third = self.exporter(batch_size=250)
        yield self.wait_exported(third)
        self.assertEqual(third.points_written, self.newest_id() - stopped_at)
        self.assert_everything_arrived_once()  # re-sent points made no duplicates
        yield third.stopService()

    @defer.inlineCallbacks
    def test_backoff_runs_on_the_injected_clock(self) -> Any:
        self.commit(make_records(0, 20))
        clock = Clock()
        clock.advance(START)
        exporter = self.exporter(clock=clock, retry_initial_s=2.0, retry_max_s=8.0)  # rand 0.5: half the ceiling
        yield self.wait_for("a failed batch", lambda: exporter._retry_timer is not None)
        self.assertEqual(exporter.batches_failed, 1)
        self.assertAlmostEqual(exporter._retry_timer.getTime() - clock.seconds(), 1.0)
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(exporter.batches_failed, 1)  # no retry until the clock says so
        clock.advance(1.0)
        yield self.wait_for("the retry", lambda: exporter.batches_failed == 2 and exporter._retry_timer)
        self.assertAlmostEqual(exporter._retry_timer.getTime() - clock.seconds(), 2.0)
        self.vm.start()
        clock.advance(2.0)
        yield self.wait_exported(exporter)
        self.assertEqual(exporter.points_written, 20)
        self.assert_everything_arrived_once()
        yield exporter.stopService()

    @defer.inlineCallbacks
    def test_a_server_that_never_answers_times_out_on_the_clock_and_the_rows_are_sent_again(self) -> Any:
        self.commit(make_records(3, 50))
        silent = Silent()
        listening = reactor.listenTCP(self.vm.port, Site(silent), interface="127.0.0.1")
        clock = Clock()
        clock.advance(START)
        exporter = self.exporter(clock=clock, poll_interval_s=1.0, retry_initial_s=1.0, retry_max_s=1.0,
                                 timeout_ms=1000)
        yield self.wait_for("the batch sent", lambda: silent.held)
        self.assertEqual(exporter.lag, 50)
        clock.advance(0.9)
        yield deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(exporter.batches_failed, 0)  # the timeout runs on the injected clock
        clock.advance(0.2)
        yield self.wait_for("the timeout noticed", lambda: exporter._retry_timer is not None)
        self.assertEqual(exporter.last_error, "timed out after 1s")
        self.assertEqual((exporter.cursor, self.saved_cursor()), (0, 0))
        yield listening.stopListening()
        self.vm.start()  # the same port now answers
        clock.advance(1.0)
        yield self.wait_exported(exporter)
        self.assertEqual(exporter.points_written, 50)
        self.assert_everything_arrived_once()
        yield exporter.stopService()


class Silent(Resource):
    """Takes every write and never answers it."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Request] = []

    def render_POST(self, request: Request) -> int:
        self.held.append(request)
        return NOT_DONE_YET
