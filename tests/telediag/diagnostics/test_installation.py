"""Installation faults: each one shown by a synthetic history, a near miss that must stay quiet, and a
simulated healthy fleet that must trip none of them."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from simulators.vehicle import Vehicle
from telediag.config import Thresholds
from telediag.diagnostics.geodesy import EARTH_RADIUS_M
from telediag.diagnostics.history import frame_from_records
from telediag.diagnostics.installation import ignition_always_on, ignition_not_detected, journey_false_starts
from telediag.diagnostics.journeys import detect_journeys
from tests.telediag.diagnostics.test_journeys import T0, Track

THRESHOLDS = Thresholds()
CHECKS = (ignition_always_on, ignition_not_detected, journey_false_starts)


def is_json(evidence: dict) -> bool:
    return json.loads(json.dumps(evidence)) == evidence


# --- IGNITION_ALWAYS_ON --------------------------------------------------------------------------


def wired_to_permanent_plus(park_s: float = 3 * 3600, park_voltage: float = 12.5, gap_s: float = 0.0) -> Track:
    """Ignition reads on all day: through drives and through a long park at rest voltage."""
    track = Track().park(1800, ignition=True, ext_voltage_v=12.6)
    track.drive(1200, 50.0)
    track.park(park_s / 2, ignition=True, ext_voltage_v=park_voltage)
    track.silence(gap_s)
    track.park(park_s / 2, ignition=True, ext_voltage_v=park_voltage)
    track.drive(1200, 50.0)
    track.park(600, ignition=True, ext_voltage_v=12.6)
    return track


def with_drift(track: Track, metres: float, seed: int = 1) -> list:
    """The track's standing records with GNSS drift of up to ``metres`` around their spot."""
    rng = np.random.default_rng(seed)
    drifted = []
    for record in track.records:
        if record.speed_kmh == 0.0:
            north, east = rng.uniform(-metres, metres, 2) / math.sqrt(2)
            record = replace(
                record,
                lat=record.lat + math.degrees(north / EARTH_RADIUS_M),
                lon=record.lon + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(record.lat)))),
            )
        drifted.append(record)
    return drifted


def test_ignition_always_on_found_in_a_long_park_at_rest_voltage():
    evidence = ignition_always_on(frame_from_records(with_drift(wired_to_permanent_plus(), 30.0)), THRESHOLDS)
    assert evidence is not None and is_json(evidence)
    assert evidence["parked_hours"] == pytest.approx(3.0, abs=0.05)
    assert evidence["median_voltage_v"] == 12.5
    assert evidence["records"] == 180
    assert evidence["parked_from"] == "2023-11-14T23:03:20.000Z"
    assert set(evidence) == {"parked_from", "parked_until", "parked_hours", "median_voltage_v", "records"}


def test_ignition_always_on_park_across_a_short_gap_still_counts():
    assert ignition_always_on(wired_to_permanent_plus(gap_s=1800).frame(), THRESHOLDS) is not None


@pytest.mark.parametrize(
    "track",
    [
        pytest.param(wired_to_permanent_plus(park_s=1.5 * 3600), id="park-too-short"),
        pytest.param(wired_to_permanent_plus(park_voltage=13.9), id="engine-really-running"),
        pytest.param(wired_to_permanent_plus(park_s=2.5 * 3600, gap_s=2 * 3600), id="split-by-a-long-gap"),
        pytest.param(Track().park(1800).drive(1200, 50.0).park(4 * 3600).drive(600, 40.0), id="healthy"),
        pytest.param(Track(ignition=False).park(4 * 3600), id="ignition-not-reported"),
    ],
)
def test_ignition_always_on_near_misses(track):
    assert ignition_always_on(track.frame(), THRESHOLDS) is None


def test_ignition_always_on_needs_ignition_never_off_and_a_known_voltage():
    records = wired_to_permanent_plus().records
    once_off = list(records)
    once_off[-1] = replace(once_off[-1], ignition=False)
    assert ignition_always_on(frame_from_records(once_off), THRESHOLDS) is None
    no_voltage = [replace(r, ext_voltage_v=None) for r in records]
    assert ignition_always_on(frame_from_records(no_voltage), THRESHOLDS) is None


def test_ignition_always_on_park_that_wanders_is_not_one_park():
    records = wired_to_permanent_plus().records
    start = next(i for i, r in enumerate(records) if r.speed_kmh == 0.0 and i > 100)
    wandering = [  # standing records, but every hour 300 m further on (slow, sparse data of a ferry)
        replace(r, lat=r.lat + (i - start) // 60 * 0.0027) if i >= start and r.speed_kmh == 0.0 else r
        for i, r in enumerate(records)
    ]
    assert ignition_always_on(frame_from_records(wandering), THRESHOLDS) is None


# --- IGNITION_NOT_DETECTED -----------------------------------------------------------------------


def test_ignition_not_detected_when_driving_with_ignition_off():
    track = Track().park(1800, ignition=False).drive(600, 50.0, ignition=False).park(1800, ignition=False)
    evidence = ignition_not_detected(track.frame(), THRESHOLDS)
    assert evidence is not None and is_json(evidence)
    assert evidence == {"distance_km": pytest.approx(8.19, abs=0.05), "moving_records": 60, "ignition_off_share": 1.0}


def drive_with_ignition_on(records_on: int) -> list:
    """40 km/h drives of 20 records each, ``records_on`` of every 20 with ignition on."""
    track = Track().park(600, ignition=False)
    for _ in range(3):
        track.drive(200, 40.0, ignition=False).park(600, ignition=False)
    moving = [i for i, r in enumerate(track.records) if r.speed_kmh]
    on = {index for start in range(0, len(moving), 20) for index in moving[start : start + records_on]}
    return [replace(r, ignition=True) if i in on else r for i, r in enumerate(track.records)]


def test_ignition_not_detected_threshold_share():
    assert ignition_not_detected(frame_from_records(drive_with_ignition_on(2)), THRESHOLDS) is not None
    assert ignition_not_detected(frame_from_records(drive_with_ignition_on(3)), THRESHOLDS) is None  # 85 %


@pytest.mark.parametrize(
    "track",
    [
        pytest.param(Track().park(1800).drive(80, 40.0, ignition=False).park(1800), id="only-800-m"),
        pytest.param(Track(ignition=False).park(1800).drive(600, 50.0).park(1800), id="ignition-unknown"),
        pytest.param(Track().park(1800).drive(600, 50.0).park(1800), id="healthy"),
        pytest.param(Track().park(1800).drive(600, 50.0, ignition=False, valid=False).park(1800), id="no-fix"),
        pytest.param(Track().park(1800).drive(1200, 8.0, ignition=False).park(1800), id="creeping"),
    ],
)
def test_ignition_not_detected_near_misses(track):
    assert ignition_not_detected(track.frame(), THRESHOLDS) is None


# --- JOURNEY_FALSE_STARTS ------------------------------------------------------------------------


def parked_with_blips(blips: int, records: int = 2, ignition_blip: bool = False, seed: int = 7) -> list:
    """A vehicle parked all day (ignition off) whose motion (or ignition) wakes up now and then."""
    rng = np.random.default_rng(seed)
    track = Track().park(3600, ignition=False)
    home = (track.lat, track.lon)
    for _ in range(blips):
        for _ in range(records):
            north, east = rng.uniform(-25.0, 25.0, 2)
            track.emit(
                0.0 if ignition_blip else 7.0, not ignition_blip, ignition=ignition_blip,
                lat=home[0] + math.degrees(north / EARTH_RADIUS_M),
                lon=home[1] + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(home[0])))),
            )
            track.t += 10
        track.park(3600, ignition=False)
    return track.records


def test_journey_false_starts_from_motion_blips_while_parked():
    evidence = journey_false_starts(frame_from_records(parked_with_blips(5)), THRESHOLDS)
    assert evidence is not None and is_json(evidence)
    assert evidence["count"] == 5
    assert len(evidence["examples"]) == 3
    first = evidence["examples"][0]
    assert first["start"] == "2023-11-14T23:13:20.000Z"
    assert first["duration_s"] == 20.0 and first["distance_m"] < 200.0
    assert first["detected_by"] == "motion"


def test_journey_false_starts_counts_drift_that_wanders_far_without_leaving():
    records = parked_with_blips(4, records=60)  # 10 min of drift each: a long path, a small reach
    evidence = journey_false_starts(frame_from_records(records), THRESHOLDS)
    assert evidence is not None and evidence["count"] == 4
    assert all(example["distance_m"] > 200.0 > example["reach_m"] for example in evidence["examples"])


def test_journey_false_starts_from_ignition_blips():
    evidence = journey_false_starts(frame_from_records(parked_with_blips(4, ignition_blip=True)), THRESHOLDS)
    assert evidence is not None and evidence["count"] == 4
    assert evidence["examples"][0]["detected_by"] == "ignition"


def test_journey_false_starts_near_misses():
    assert journey_false_starts(frame_from_records(parked_with_blips(3)), THRESHOLDS) is None
    short_but_real = Track().park(3600)
    for _ in range(5):  # 400 m hops across a yard: too brief for a journey, but they do move
        short_but_real.drive(80, 18.0).park(3600)
    assert journey_false_starts(short_but_real.frame(), THRESHOLDS) is None
    still_going = parked_with_blips(3)
    tail = Track(start=still_going[-1].fix_time + 60, lat=still_going[0].lat, lon=still_going[0].lon)
    tail.drive(20, 7.0)  # the data ends as it sets off: not known to be false yet
    assert journey_false_starts(frame_from_records(still_going + tail.records), THRESHOLDS) is None


def test_a_drive_seen_in_a_single_sparse_report_is_not_a_false_start():
    track = Track().park(3600, interval=300, ignition=False)
    for _ in range(5):  # every 5 min a report: the drive falls between two, one record shows it
        track.move(3000.0, 45.0)
        track.t += 300
        track.emit(40.0, True)
        track.t += 300
        track.park(3600, interval=300, ignition=False)
    assert journey_false_starts(track.frame(), THRESHOLDS) is None


# --- a healthy fleet trips nothing ---------------------------------------------------------------


@pytest.mark.parametrize("interval", [60.0, 300.0])
def test_healthy_simulated_fleet_trips_no_installation_check(interval):
    for seed in range(20):
        vehicle = Vehicle(f"35000000000{seed:04d}", "teltonika", seed, T0)
        frame = frame_from_records([vehicle.report(T0 + interval * k) for k in range(int(86400 / interval))])
        found = {check.__name__: check(frame, THRESHOLDS) for check in CHECKS}
        assert found == dict.fromkeys(found), (seed, found)
        journeys = detect_journeys(frame, THRESHOLDS)
        assert len(journeys) >= 10, (seed, len(journeys))
        assert all(j.detected_by == "ignition" and j.distance_m >= 200.0 for j in journeys)
