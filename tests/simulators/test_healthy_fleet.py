"""A healthy simulated fleet stays clearly inside every diagnostic threshold for a whole day.

200 vehicles x 24 h at 60 s (288,000 records): voltages, satellites, HDOP, signal, positions well
inside Poland (never near its western border), no delay, a report every interval, no jumps.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulators.geo import POLAND_BBOX, distance_to_west_border_m
from simulators.scenario import DeviceScenario, fleet_imeis, simulate_fleet
from telediag.config import Thresholds

T0 = 1_700_000_000.0
DAY = 86_400.0
LIMITS = Thresholds()


@pytest.fixture(scope="module")
def fleet() -> list[DeviceScenario]:
    """The day of 200 vehicles (how long it takes: ``bench/simulate_fleet_bench.py``)."""
    return simulate_fleet(200, T0, DAY, 60.0, seed=11)


def column(scenarios: list[DeviceScenario], name: str) -> np.ndarray:
    return np.array([getattr(r, name) for s in scenarios for r in s.records], dtype=np.float64)


def test_a_day_of_200_vehicles_is_complete(fleet: list[DeviceScenario]) -> None:
    scenarios = fleet
    assert [s.imei for s in scenarios] == fleet_imeis(200, 11)
    assert all(s.fault is None and len(s.records) == 1440 for s in scenarios)


def test_every_value_stays_in_its_healthy_range(fleet: list[DeviceScenario]) -> None:
    scenarios = fleet
    assert column(scenarios, "valid").all()
    assert column(scenarios, "satellites").min() >= 7 > LIMITS.min_satellites
    assert column(scenarios, "hdop").max() <= 1.6 < LIMITS.max_hdop
    assert column(scenarios, "gsm_signal_pct").min() >= 60 > LIMITS.low_signal_pct
    assert column(scenarios, "ext_voltage_v").min() >= 12.3 > LIMITS.power_lost_voltage_v
    assert column(scenarios, "battery_voltage_v").min() >= 4.0 > LIMITS.battery_low_voltage_v
    ignition = column(scenarios, "ignition").astype(bool)
    assert (column(scenarios, "ext_voltage_v")[ignition] >= 13.6).all()
    speed = column(scenarios, "speed_kmh")
    assert speed.max() <= 100 and (speed[~ignition] == 0).all()


def test_positions_stay_well_inside_poland(fleet: list[DeviceScenario]) -> None:
    scenarios = fleet
    lat, lon = column(scenarios, "lat"), column(scenarios, "lon")
    south, north, west, east = POLAND_BBOX
    assert south < lat.min() and lat.max() < north and west < lon.min() and lon.max() < east
    assert distance_to_west_border_m(lat, lon).min() > 50_000  # far beyond the 15 km the brief asks
    assert {s.registry_row["home_country"] for s in scenarios} == {"PL"}


def test_reports_arrive_at_once_every_interval_without_jumps(fleet: list[DeviceScenario]) -> None:
    scenarios = fleet
    for scenario in scenarios:
        fixes = np.array([r.fix_time for r in scenario.records])
        arrivals = np.array([server for server, _ in scenario.arrivals()])
        assert np.allclose(np.diff(fixes), 60.0) and fixes[0] == T0
        delay = arrivals - fixes
        assert delay.min() > 0 and delay.max() < 2.0
        lat = np.radians([r.lat for r in scenario.records])
        lon = np.radians([r.lon for r in scenario.records])
        step = 6_371_000 * np.hypot(np.diff(lat), np.diff(lon) * np.cos(lat[1:]))
        assert (step / 60.0 * 3.6).max() < 150.0, scenario.imei
        assert not scenario.protocol_errors
        assert {e["type"] for e in scenario.events} == {"attach", "pdp_create", "location_update"}


def test_ignition_turns_off_and_parks_are_at_rest_voltage(fleet: list[DeviceScenario]) -> None:
    scenarios = fleet
    for scenario in scenarios:
        ignition = [r.ignition for r in scenario.records]
        assert ignition.count(False) >= 100 and ignition.count(True) >= 100


def test_fleet_faults_go_to_some_devices() -> None:
    scenarios = simulate_fleet(12, T0, 3600.0, 60.0, seed=2, faults={"power_cut": 2, "wrong_apn": 1})
    faults = [s.fault for s in scenarios]
    assert faults.count("power_cut") == 2 and faults.count("wrong_apn") == 1 and faults.count(None) == 9
    again = simulate_fleet(12, T0, 3600.0, 60.0, seed=2, faults={"power_cut": 2, "wrong_apn": 1})
    assert [s.fault for s in again] == faults and [s.records for s in again] == [s.records for s in scenarios]
