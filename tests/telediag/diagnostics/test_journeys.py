"""Journey detection and the history frame: synthetic days with known trips, and a real SQLite store."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protocols.record import Record
from telediag.config import Thresholds
from telediag.diagnostics.geodesy import EARTH_RADIUS_M, haversine_m
from telediag.diagnostics.history import FRAME_COLUMNS, frame_from_records, history_query, load_history
from telediag.diagnostics.journeys import Journey, detect_journeys, movement_candidates
from telediag.store.reader import Reader
from telediag.store.writer import RecordBatch, Store
from tests.stores import database_at

T0 = 1_700_000_000.0
"""2023-11-14T22:13:20Z."""
IMEI = "356307042441013"
THRESHOLDS = Thresholds()


class Track:
    """A device's history written step by step: parks, drives along a heading, silences.

    Records carry ignition, motion and odometer the way a healthy tracker reports them unless a
    step says otherwise; ``None`` for a flag means the device does not report it.
    """

    def __init__(
        self,
        start: float = T0,
        lat: float = 52.2297,
        lon: float = 21.0122,
        odometer: float | None = 1_000_000.0,
        ignition: bool = True,
        motion: bool = True,
    ) -> None:
        self.t, self.lat, self.lon, self.odometer = start, lat, lon, odometer
        self.reports_ignition, self.reports_motion = ignition, motion
        self.records: list[Record] = []

    def emit(self, speed: float, moving: bool, ignition: bool | None = None, **extra: object) -> None:
        """One record at the current time and place."""
        fields: dict[str, object] = dict(
            imei=IMEI, protocol="teltonika", fix_time=self.t, valid=True, lat=self.lat, lon=self.lon,
            speed_kmh=speed, satellites=9, hdop=0.9,
            ignition=(moving if ignition is None else ignition) if self.reports_ignition else None,
            motion=moving if self.reports_motion else None,
            ext_voltage_v=13.9 if moving else 12.5, odometer_m=self.odometer,
        )
        fields.update(extra)
        self.records.append(Record(**fields))  # type: ignore[arg-type]

    def move(self, metres: float, heading_deg: float) -> None:
        """Shift the position (and the odometer) by ``metres`` along ``heading_deg``."""
        north = metres * math.cos(math.radians(heading_deg))
        east = metres * math.sin(math.radians(heading_deg))
        self.lat += math.degrees(north / EARTH_RADIUS_M)
        self.lon += math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(self.lat))))
        if self.odometer is not None:
            self.odometer += metres

    def drive(self, seconds: float, speed_kmh: float, interval: float = 10.0, heading: float = 90.0,
              **extra: object) -> Track:
        """Drive in a straight line: a moving record every ``interval``, the first where it sets off."""
        for _ in range(int(round(seconds / interval))):
            self.emit(speed_kmh, True, **extra)
            self.move(speed_kmh / 3.6 * interval, heading)
            self.t += interval
        return self

    def park(self, seconds: float, interval: float = 60.0, **extra: object) -> Track:
        """Stand still with the engine off: a standing record every ``interval``, the first on arrival."""
        for _ in range(max(1, int(round(seconds / interval)))):
            self.emit(0.0, False, **extra)
            self.t += interval
        return self

    def silence(self, seconds: float) -> Track:
        """No data at all for ``seconds`` (device off, out of coverage)."""
        self.t += seconds
        return self

    def frame(self) -> pd.DataFrame:
        return frame_from_records(self.records)


def three_trips(**track_options: object) -> tuple[Track, list[tuple[float, float]]]:
    """A day with three clear trips; returns the track and each trip's (distance m, duration s)."""
    track = Track(**track_options)  # type: ignore[arg-type]
    track.park(2 * 3600)
    track.drive(20 * 60, 50.0)
    track.park(3 * 3600)
    track.drive(10 * 60, 36.0, heading=0.0)
    track.park(3600)
    track.drive(30 * 60, 72.0, heading=200.0)
    track.park(2 * 3600)
    expected = [(50 / 3.6 * 1200, 1200.0), (36 / 3.6 * 600, 600.0), (72 / 3.6 * 1800, 1800.0)]
    return track, expected


def assert_close(value: float, expected: float, share: float = 0.05) -> None:
    assert abs(value - expected) <= share * expected, (value, expected)


# --- geodesy -------------------------------------------------------------------------------------


def test_haversine_known_distance_and_vectorised():
    warsaw, krakow = (52.2297, 21.0122), (50.0647, 19.9450)
    assert_close(float(haversine_m(*warsaw, *krakow)), 252_000.0, 0.01)
    lats = np.array([52.0, 52.0, np.nan])
    metres = haversine_m(lats, 21.0, lats + 0.001, 21.0)
    assert metres.shape == (3,)
    assert_close(float(metres[0]), 111.2, 0.01)
    assert np.isnan(metres[2])


# --- journeys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("odometer", [1_000_000.0, None], ids=["odometer", "gps-only"])
def test_three_clear_trips(odometer):
    track, expected = three_trips(odometer=odometer)
    journeys = detect_journeys(track.frame(), THRESHOLDS)
    assert len(journeys) == 3
    for journey, (metres, seconds) in zip(journeys, expected, strict=True):
        assert_close(journey.distance_m, metres)
        assert journey.duration_s == pytest.approx(seconds)
        assert journey.detected_by == "ignition"
        assert journey.max_speed_kmh == pytest.approx(metres / seconds * 3.6)
        assert_close(journey.avg_speed_kmh, metres / seconds * 3.6)
        assert not journey.ongoing
    first = journeys[0]
    assert first.start_time == T0 + 2 * 3600  # park(2 h) at 60 s: 120 records, the last at +7140
    assert first.records == 121  # 120 moving + the record where it parked
    assert haversine_m(first.start_lat, first.start_lon, first.end_lat, first.end_lon) == pytest.approx(
        first.distance_m, rel=0.01
    )


def test_journey_as_dict_is_json_with_iso_times():
    track, _ = three_trips()
    payload = detect_journeys(track.frame(), THRESHOLDS)[0].as_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["start_time"] == "2023-11-15T00:13:20.000Z"
    assert payload["detected_by"] == "ignition"
    assert payload["distance_m"] == round(payload["distance_m"], 1)
    assert set(payload) >= {
        "start_time", "end_time", "start_lat", "start_lon", "end_lat", "end_lon", "distance_m",
        "duration_s", "max_speed_kmh", "avg_speed_kmh", "records", "detected_by",
    }


def test_too_short_or_too_brief_trips_are_dropped_but_remain_candidates():
    track = Track().park(3600)
    track.drive(300, 1.8, interval=30)  # 150 m in 5 min: manoeuvring in a yard
    track.park(1800)
    track.drive(120, 60.0)  # 2 km in 2 min: too brief
    track.park(1800)
    track.drive(600, 40.0)  # a real one
    track.park(1800)
    frame = track.frame()
    journeys = detect_journeys(frame, THRESHOLDS)
    assert len(journeys) == 1
    assert_close(journeys[0].distance_m, 40 / 3.6 * 600)
    candidates = movement_candidates(frame, THRESHOLDS)
    assert [round(c.distance_m) for c in candidates] == [150, 2000, round(40 / 3.6 * 600)]
    assert candidates[1].duration_s == 120.0


def test_limits_follow_the_thresholds():
    track = Track().park(3600)
    track.drive(120, 60.0)
    track.park(1800)
    lenient = replace(THRESHOLDS, journey_min_duration_s=60.0)
    assert len(detect_journeys(track.frame(), THRESHOLDS)) == 0
    assert len(detect_journeys(track.frame(), lenient)) == 1


def test_a_two_hour_gap_splits_a_journey():
    track = Track().park(3600)
    track.drive(600, 60.0)
    track.silence(2 * 3600)  # out of coverage while the ignition stays on
    track.drive(600, 60.0)
    track.park(1800)
    journeys = detect_journeys(track.frame(), THRESHOLDS)
    assert len(journeys) == 2
    first, second = journeys
    assert first.duration_s == pytest.approx(590.0)  # ends at its last record before the gap
    assert_close(first.distance_m, 60 / 3.6 * 590)
    assert second.start_time - first.end_time > 2 * 3600


def test_a_gap_shorter_than_the_stop_gap_does_not_split():
    track = Track().park(3600)
    track.drive(600, 60.0)
    track.silence(1200)
    track.drive(600, 60.0)
    track.park(1800)
    assert len(detect_journeys(track.frame(), THRESHOLDS)) == 1


def test_a_short_stop_does_not_split_but_a_parking_does():
    short = Track().park(3600).drive(600, 50.0).park(240, interval=30).drive(600, 50.0).park(1800)
    journeys = detect_journeys(short.frame(), THRESHOLDS)
    assert len(journeys) == 1
    assert journeys[0].duration_s == pytest.approx(600 + 240 + 600)
    assert_close(journeys[0].distance_m, 50 / 3.6 * 1200)

    long = Track().park(3600).drive(600, 50.0).park(330, interval=30).drive(600, 50.0).park(1800)
    assert len(detect_journeys(long.frame(), THRESHOLDS)) == 2


def idling_day(ignition: bool) -> Track:
    """Two drives with a 10 min stop between them during which the engine keeps running."""
    track = Track(ignition=ignition, motion=False).park(3600)
    track.drive(900, 50.0)
    track.park(600, ignition=True)
    track.drive(900, 50.0)
    track.park(3600)
    return track


def test_ignition_based_keeps_an_idling_stop_inside_the_journey():
    journeys = detect_journeys(idling_day(ignition=True).frame(), THRESHOLDS)
    assert [j.detected_by for j in journeys] == ["ignition"]
    assert journeys[0].duration_s == pytest.approx(2400.0)


def test_motion_based_uses_speed_when_no_flag_is_reported():
    journeys = detect_journeys(idling_day(ignition=False).frame(), THRESHOLDS)
    assert [j.detected_by for j in journeys] == ["motion", "motion"]
    for journey in journeys:
        assert_close(journey.distance_m, 50 / 3.6 * 900)


def test_motion_flag_wins_over_speed_when_reported():
    track = Track(ignition=False).park(3600)
    track.drive(900, 50.0, motion=False)  # the device says it is not moving: believe it
    track.park(3600)
    assert detect_journeys(track.frame(), THRESHOLDS) == []
    moving = Track(ignition=False).park(3600).drive(900, 50.0).park(3600)
    assert len(detect_journeys(moving.frame(), THRESHOLDS)) == 1


def test_trustworthy_odometer_replaces_gps_distance():
    track = Track().park(3600)
    start_odometer = track.odometer
    for _ in range(30):  # sparse fixes on a winding road: the odometer runs 30 % ahead of the chords
        track.emit(40.0, True)
        track.move(40 / 3.6 * 60, 90.0)
        track.odometer += 0.3 * 40 / 3.6 * 60
        track.t += 60
    track.park(1800)
    journey = detect_journeys(track.frame(), THRESHOLDS)[0]
    assert journey.distance_m == pytest.approx(track.records[-30].odometer_m - start_odometer)
    assert_close(journey.distance_m, 1.3 * 40 / 3.6 * 1800, 0.01)


@pytest.mark.parametrize("odometer", [5_000.0, 0.0], ids=["stuck", "zero"])
def test_implausible_odometer_is_ignored(odometer):
    track = Track(odometer=None).park(3600).drive(900, 50.0).park(1800)
    records = [replace(r, odometer_m=odometer) for r in track.records]
    journey = detect_journeys(frame_from_records(records), THRESHOLDS)[0]
    assert_close(journey.distance_m, 50 / 3.6 * 900)


def test_gps_jump_and_invalid_fixes_do_not_count():
    track = Track(odometer=None).park(3600).drive(900, 50.0).park(1800)
    records = list(track.records)
    middle = len(records) - 60
    records[middle] = replace(records[middle], lat=records[middle].lat + 0.5)  # one fix 55 km off
    records[middle + 10] = replace(records[middle + 10], valid=False, lat=0.0, lon=0.0)
    records[middle + 20] = replace(records[middle + 20], lat=None, lon=None, valid=None)
    journey = detect_journeys(frame_from_records(records), THRESHOLDS)[0]
    assert_close(journey.distance_m, 50 / 3.6 * 900)


def test_journey_still_moving_at_the_end_of_data_is_ongoing():
    track = Track().park(3600).drive(900, 50.0)
    journey = detect_journeys(track.frame(), THRESHOLDS)[0]
    assert journey.ongoing
    assert journey.duration_s == pytest.approx(890.0)


def test_no_movement_and_empty_frames():
    assert detect_journeys(Track().park(86400).frame(), THRESHOLDS) == []
    assert movement_candidates(frame_from_records([]), THRESHOLDS) == []
    unknown = [Record(imei=IMEI, protocol="gt06", fix_time=T0 + i) for i in range(10)]
    assert detect_journeys(frame_from_records(unknown), THRESHOLDS) == []


# --- history frames ------------------------------------------------------------------------------


def test_frame_columns_and_types():
    frame = three_trips()[0].frame()
    assert tuple(frame.columns) == FRAME_COLUMNS
    for name in ("valid", "ignition", "motion", "roaming"):
        assert frame[name].dtype == "boolean"
    for name in ("time", "lat", "speed_kmh", "satellites", "odometer_m", "operator"):
        assert frame[name].dtype == np.float64
    assert frame["roaming"].isna().all()
    assert frame["operator"].isna().all()
    assert frame["time"].is_monotonic_increasing
    empty = frame_from_records([])
    assert tuple(empty.columns) == FRAME_COLUMNS and len(empty) == 0
    assert empty["ignition"].dtype == "boolean"


def test_frame_from_mappings_sorts_and_uses_server_time_when_no_fix_time():
    rows = [
        {"imei": IMEI, "protocol": "gt06", "fix_time": "2023-11-14T22:13:30.000Z", "ignition": True},
        {"imei": IMEI, "protocol": "gt06", "fix_time": None, "server_time": T0 + 5, "ignition": False},
        {"imei": IMEI, "protocol": "gt06", "fix_time": None},
    ]
    frame = frame_from_records(rows)
    assert frame["time"].tolist() == [T0 + 5, T0 + 10]
    assert frame["ignition"].tolist() == [False, True]
    assert np.isnan(frame["fix_time"].iloc[0])


def store_records() -> tuple[list[Record], list[Record]]:
    """Two devices; the first has a status record without fix time and unknown values."""
    track = Track().park(1800).drive(600, 50.0).park(900)
    mine = [replace(r, roaming=False, operator=26001, event=None) for r in track.records]
    mine[5] = replace(mine[5], fix_time=None, valid=None, lat=None, lon=None, ignition=None, speed_kmh=None)
    mine[7] = replace(mine[7], event="power_cut", motion=None)
    other = [replace(r, imei="359633100000001") for r in track.records[:10]]
    return mine, other


def test_load_history_round_trips_a_real_store(tmp_path: Path):
    mine, other = store_records()
    server_time = T0 + 40_000.0
    store = Store(database_at(tmp_path / "telediag.sqlite3"))
    store.commit([
        RecordBatch(IMEI, "teltonika", mine, server_time),
        RecordBatch(other[0].imei, "gt06", other, server_time),
    ])
    store.commit([RecordBatch(IMEI, "teltonika", mine[10:20], server_time + 5)])  # a resend: dropped
    late = replace(mine[0], fix_time=T0 - 600.0)  # a buffered backlog: stored last, sorts first
    store.commit([RecordBatch(IMEI, "teltonika", [late], server_time + 10)])
    store.close()

    reader = Reader(database_at(tmp_path / "telediag.sqlite3"))
    try:
        frame = load_history(reader.connection, IMEI, None, None)
        expected = frame_from_records(
            [{**{f: getattr(r, f) for f in FRAME_COLUMNS[1:] if hasattr(r, f)}, "server_time": arrived}
             for r, arrived in [*((r, server_time) for r in mine), (late, server_time + 10)]]
        )
        pd.testing.assert_frame_equal(frame, expected)
        assert frame["time"].iloc[0] == T0 - 600.0
        assert frame["time"].iloc[-1] == server_time  # the record without fix time sorts by arrival
        assert frame["event"].tolist().count("power_cut") == 1
        assert frame["ignition"].isna().sum() == 1 and frame["motion"].isna().sum() == 1

        via_api = frame_from_records(reader.records(IMEI))  # normalised records: ISO times
        pd.testing.assert_frame_equal(via_api, frame)

        since, until = mine[10].fix_time, mine[40].fix_time
        window = load_history(reader.connection, IMEI, since, until)
        assert len(window) == 30
        assert window["time"].iloc[0] == since and window["time"].iloc[-1] < until
        assert len(load_history(reader.connection, IMEI, server_time, None)) == 1
        assert len(load_history(reader.connection, "000000000000000", None, None)) == 0
        assert len(detect_journeys(frame, THRESHOLDS)) == 1
    finally:
        reader.close()


@pytest.mark.sqlite_only
def test_load_history_searches_the_index_for_a_window(tmp_path: Path):
    Store(database_at(tmp_path / "s.sqlite3")).close()
    reader = Reader(database_at(tmp_path / "s.sqlite3"))
    try:
        query, params = history_query(IMEI, T0, T0 + 3600)
        plan = [str(row[-1]) for row in reader.connection.execute("EXPLAIN QUERY PLAN " + query, params)]
        searches = [step for step in plan if step.startswith("SEARCH")]
        assert len(searches) == 2
        assert "records_natural_key" in searches[0] and "fix_time>?" in searches[0]
        assert "records_time_unknown" in searches[1] and "server_time>?" in searches[1]  # records without a fix time
    finally:
        reader.close()


def test_journey_is_frozen():
    journey = Journey(T0, T0 + 600, None, None, None, None, 1000.0, 600.0, None, 6.0, 10, "motion")
    with pytest.raises(AttributeError):
        journey.distance_m = 0.0  # type: ignore[misc]
