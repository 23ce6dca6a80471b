"""The checks' window is the latest records by arrival, and journeys, charts and track leave out
records whose clock cannot place them, and say how many."""

from __future__ import annotations

from typing import Any

from protocols.record import Record
from telediag.config import Thresholds
from telediag.diagnostics.history import clock_invalid, load_history
from telediag.diagnostics.journeys import detect_journeys, journey_report
from telediag.diagnostics.snapshot import load_snapshot
from telediag.store.writer import IngestError, RecordBatch, Store
from telediag.web.device_detail import Window, telemetry
from tests.telediag.diagnostics.test_engine import IMEI, START, healthy

DAY = 86_400.0


def test_recent_is_by_arrival_so_a_clock_that_jumps_back_is_the_latest(store: Store) -> None:
    for i in range(5):  # on time
        at = START + 60 * i
        store.commit([RecordBatch(IMEI, "teltonika", [healthy(at)], at + 1)])
    for i in range(3):  # then the RTC resets: fix times a year back, arriving now
        arrived = START + 600 + 60 * i
        store.commit([RecordBatch(IMEI, "teltonika", [healthy(arrived - 365 * DAY)], arrived)])
    snapshot = load_snapshot(store._db, IMEI, START + 900, Thresholds(), with_history=False)
    arrivals = [r["server_time"] for r in snapshot.recent]
    assert arrivals == sorted(arrivals, reverse=True)
    assert [r["fix_time"] for r in snapshot.recent[:3]] == [START + 600 + 60 * i - 365 * DAY for i in (2, 1, 0)]


def test_records_arriving_together_keep_their_store_order_newest_first(store: Store) -> None:
    batch = [healthy(START + i) for i in (5, 3, 4)]  # one packet, fix times not in order
    store.commit([RecordBatch(IMEI, "teltonika", batch, START + 10)])
    snapshot = load_snapshot(store._db, IMEI, START + 20, Thresholds(), with_history=False)
    assert [r["fix_time"] for r in snapshot.recent] == [START + 4, START + 3, START + 5]


def test_the_snapshot_knows_when_the_window_s_first_bad_frame_arrived(store: Store) -> None:
    errors = [IngestError(IMEI, "teltonika", "127.0.0.1:1", START + 60 * i, "CRC mismatch", "00") for i in range(3)]
    store.commit(errors, flush_state=True)
    snapshot = load_snapshot(store._db, IMEI, START + 600, Thresholds(), with_history=False)
    assert (snapshot.errors_in_window, snapshot.first_error_at) == (3, START)
    later = load_snapshot(store._db, IMEI, START + 3600 + 90, Thresholds(), with_history=False)
    assert (later.errors_in_window, later.first_error_at) == (1, START + 120)


def drive(start: float, count: int, **values: Any) -> list[Record]:
    """A drive east at about 36 km/h, one record every 10 s, then parked for 400 s."""
    records = [healthy(start + 10 * i, lon=21.0 + 0.0015 * i, speed_kmh=36.0, **values) for i in range(count)]
    records += [healthy(start + 10 * (count + i), lon=21.0 + 0.0015 * count, speed_kmh=0.0, ignition=False,
                        motion=False, **values) for i in range(40)]
    return records


def test_journeys_leave_out_records_with_an_impossible_clock_and_count_them(store: Store) -> None:
    thresholds = Thresholds()
    good = drive(START, 60)
    store.commit([RecordBatch(IMEI, "teltonika", [r], r.fix_time + 1) for r in good if r.fix_time is not None])
    before = detect_journeys(load_history(store._db, IMEI, START - 3600, START + 2 * DAY), thresholds)
    arrived = START + 2000
    bad = [  # a moving record in the middle of the drive's time, but sent a day later; one an hour ahead;
        healthy(START + 305, lat=48.0, lon=2.0, speed_kmh=90.0),  # and one whose raw time was dropped
        healthy(START + 315, lat=48.0, lon=2.0, speed_kmh=90.0),
        healthy(None, lat=48.0, lon=2.0, speed_kmh=90.0),
    ]
    store.commit([RecordBatch(IMEI, "teltonika", bad[:1], START + 305 + 31 * DAY),
                  RecordBatch(IMEI, "teltonika", bad[1:2], START + 315 - 3600),
                  RecordBatch(IMEI, "teltonika", bad[2:], arrived)])
    frame = load_history(store._db, IMEI, START - 3600, START + 2 * DAY)
    assert int(clock_invalid(frame, thresholds).sum()) == 3
    report = journey_report(frame, thresholds)
    assert report.left_out_bad_clock == 3
    assert report.journeys == before
    assert len(report.journeys) == 1 and 5500 < report.journeys[0].distance_m < 6500
    assert detect_journeys(frame, thresholds) != before  # placed by their times, they would bend the drive
    assert report.as_dict()["left_out_bad_clock"] == 3

    window = Window(START - 3600, START + DAY - 3600)
    charted = telemetry(store._db, store.database.dialect, IMEI, window, thresholds)
    assert charted["left_out_bad_clock"] == 2  # the record sent a month later arrived after the window
    assert len(charted["track"]["lats"]) > 0
    assert all(lat > 50 for lat in charted["track"]["lats"])  # nothing drawn in Paris
