"""Every injectable fault shows its documented data signature in an offline scenario, and goes away
after ``fault_until``. The raw data is asserted here; the findings it leads to are the checks' tests."""

from __future__ import annotations

import math
from collections import Counter
from itertools import pairwise

import pytest

from protocols.record import Record, parse_iso_utc
from simulators.faults import FAULTS, assign_faults
from simulators.geo import distance_m, in_germany
from simulators.network import FACTORY_APN
from simulators.scenario import DeviceScenario, simulate_device

T0 = 1_700_000_000.0
"""2023-11-14T22:13:20Z."""
HOUR = 3600.0
IMEI = "356307042441013"
NAMES = (
    "activation_pending", "no_data_after_activation", "silent", "wrong_apn", "roaming_rejected", "eu_coverage",
    "gps_antenna", "gps_poor", "ignition_permanent", "ignition_unwired", "motion_sensitive", "power_cut",
    "battery_drain", "rtc_reset", "backlog", "weak_signal", "protocol_garbage",
)
FINDINGS = {
    "ACTIVATION_PENDING", "NO_DATA_AFTER_ACTIVATION", "DEVICE_SILENT", "APN_MISCONFIGURED", "ROAMING_REJECTED",
    "EU_COVERAGE_INACTIVE", "GPS_NO_FIX", "GPS_POOR_QUALITY", "IGNITION_ALWAYS_ON", "IGNITION_NOT_DETECTED",
    "JOURNEY_FALSE_STARTS", "EXTERNAL_POWER_LOST", "BATTERY_LOW", "CLOCK_INVALID", "DATA_DELAYED",
    "LOW_GSM_SIGNAL", "PROTOCOL_ERRORS",
}


def run(fault: str | None, hours: float = 6.0, seed: int = 3, **kwargs: object) -> DeviceScenario:
    return simulate_device(IMEI, fault, T0, hours * HOUR, 60.0, seed=seed, **kwargs)  # type: ignore[arg-type]


def activated_ago(scenario: DeviceScenario) -> float:
    return T0 - parse_iso_utc(scenario.registry_row["activated_at"])


def of_type(scenario: DeviceScenario, kind: str) -> list[dict]:
    return [event for event in scenario.events if event["type"] == kind]


def test_every_fault_is_registered_with_its_finding_and_a_docstring() -> None:
    assert tuple(FAULTS) == NAMES
    assert {cls.finding for cls in FAULTS.values()} == FINDINGS
    for name, cls in FAULTS.items():
        assert cls.name == name and cls.__doc__ and cls.finding in cls.__doc__, name


def test_healthy_device_attaches_with_its_sim_apn_on_the_home_network() -> None:
    scenario = run(None)
    first, second = scenario.events[:2]
    assert (first["type"], second["type"]) == ("attach", "pdp_create")
    assert second["apn"] == scenario.registry_row["apn"] == scenario.reported_apn
    assert {e["mcc"] for e in scenario.events} == {260} and {e["cause"] for e in scenario.events} == {None}
    assert {e["type"] for e in scenario.events[2:]} == {"location_update"}
    assert scenario.events[0]["at"].endswith("Z") and scenario.events[0]["iccid"] == scenario.registry_row["iccid"]
    assert 10 * 86400 <= activated_ago(scenario) <= 40 * 86400
    assert scenario.registry_row["coverage"] == "eu" and scenario.registry_row["roaming"] == "true"
    assert len(scenario.records) == 360 and not scenario.protocol_errors


@pytest.mark.parametrize("name, ago", [("activation_pending", 6 * HOUR), ("no_data_after_activation", 72 * HOUR)])
def test_activation_faults_never_send(name: str, ago: float) -> None:
    scenario = run(name)
    assert scenario.batches == [] and scenario.events == [] and scenario.reported_apn is None
    assert activated_ago(scenario) == pytest.approx(ago)


def test_silent_reports_then_nothing() -> None:
    scenario = run("silent")
    times = [record.fix_time for record in scenario.records]
    assert len(times) == 90 and max(times) < T0 + 1.5 * HOUR  # a quarter of 6 h
    assert all(parse_iso_utc(e["at"]) < T0 + 1.5 * HOUR for e in scenario.events)


def test_wrong_apn_is_retried_quickly_then_every_few_minutes_and_sends_nothing() -> None:
    scenario = run("wrong_apn")
    rejects = of_type(scenario, "pdp_reject")
    assert len(rejects) >= 60 and {(e["cause"], e["apn"], e["mcc"]) for e in rejects} == {(27, FACTORY_APN, 260)}
    assert len(of_type(scenario, "attach")) == len(rejects) and not of_type(scenario, "pdp_create")
    gaps = [parse_iso_utc(b["at"]) - parse_iso_utc(a["at"]) for a, b in pairwise(rejects)]
    assert all(gap <= 90 for gap in gaps[:3])  # quick retries (at the next report tick) after a refusal
    assert 240 <= min(gaps[3:]) and max(gaps[3:]) <= 420
    assert scenario.batches == [] and scenario.reported_apn == FACTORY_APN != scenario.registry_row["apn"]


def test_roaming_rejected_abroad_gets_nothing_through() -> None:
    scenario = run("roaming_rejected", hours=12)
    row = scenario.registry_row
    assert (row["roaming"], row["coverage"], row["home_country"]) == ("false", "domestic", "PL")
    rejects = of_type(scenario, "attach_reject")
    assert len(rejects) >= 10 and {(e["cause"], e["mcc"]) for e in rejects} == {(13, 262)}
    assert scenario.records and not any(in_germany(r.lat, r.lon) for r in scenario.records)
    assert not [e for e in scenario.events if e["mcc"] == 262 and e["type"] != "attach_reject"]


def test_eu_coverage_drives_across_the_oder_on_a_domestic_plan() -> None:
    scenario = run("eu_coverage")
    row = scenario.registry_row
    assert (row["roaming"], row["coverage"], row["home_country"]) == ("true", "domestic", "PL")
    west = [r for r in scenario.records if r.valid and r.lon < 14.5 and 52.2 < r.lat < 52.5]
    assert len(west) >= 3 and min(r.lon for r in west) < 14.4  # well past the border
    assert all(r.roaming and r.operator == 26202 for r in west)
    home = [r for r in scenario.records if not in_germany(r.lat, r.lon)]
    assert home and all(r.roaming is False and r.operator // 100 == 260 for r in home)
    crossed = next(r.fix_time for r in scenario.records if in_germany(r.lat, r.lon))
    assert crossed < T0 + 1800 and max(r.fix_time for r in home) < crossed  # and it stays abroad
    assert all(r.lon < 14.42 for r in scenario.records if r.fix_time > T0 + HOUR)  # 10+ km past the Oder
    assert {(e["mcc"], e["type"]) for e in scenario.events} >= {(262, "attach"), (262, "pdp_create")}


def test_gps_antenna_reports_no_fix_at_the_last_known_position() -> None:
    records = run("gps_antenna").records
    assert all(r.valid is False and r.satellites == 0 and r.speed_kmh == 0 for r in records)
    assert len({(r.lat, r.lon) for r in records}) == 1 and records[0].lat is not None
    assert sum(bool(r.ignition or r.motion) for r in records[-30:]) >= 10


def test_gps_poor_has_few_satellites_high_hdop_and_jumps() -> None:
    records = run("gps_poor").records
    assert all(r.valid for r in records)
    assert all(r.satellites < 4 or r.hdop > 5 for r in records) and all(r.hdop > 5 for r in records)
    last = records[-30:]
    jumps = sum(
        distance_m(a.lat, a.lon, b.lat, b.lon) / (b.fix_time - a.fix_time) * 3.6 > 300 for a, b in pairwise(last)
    )
    assert jumps >= 3


def parks(records: list[Record]) -> list[list[Record]]:
    """Runs of records standing still (speed 0, no motion)."""
    runs: list[list[Record]] = [[]]
    for record in records:
        if record.speed_kmh == 0 and not record.motion:
            runs[-1].append(record)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def test_ignition_permanent_stays_on_through_long_parks_at_rest_voltage() -> None:
    records = run("ignition_permanent").records
    assert all(r.ignition is True for r in records)
    long_parks = [p for p in parks(records) if p[-1].fix_time - p[0].fix_time >= 2.5 * HOUR - 120]
    assert long_parks
    assert all(r.ext_voltage_v <= 12.7 and r.ignition for park in long_parks for r in park)


def test_ignition_unwired_drives_with_ignition_off() -> None:
    records = run("ignition_unwired").records
    moving = [r for r in records if r.valid and r.speed_kmh >= 10]
    driven = sum(distance_m(a.lat, a.lon, b.lat, b.lon) for a, b in pairwise(moving))
    assert driven > 5_000 and all(r.ignition is False for r in records)


def test_motion_sensitive_has_short_bursts_that_go_nowhere() -> None:
    records = run("motion_sensitive").records
    bursts, spot, current = [], None, None
    for record in records:
        if record.ignition:
            spot, current = None, None
            continue
        if not record.motion:
            spot, current = (record.lat, record.lon), None
            continue
        assert 1 <= record.speed_kmh <= 6
        if current is None:
            current = []
            bursts.append((spot, current))
        current.append(record)
    assert len(bursts) >= 6
    for spot, burst in bursts:
        assert len(burst) <= 3 and spot is not None
        assert all(3 <= distance_m(spot[0], spot[1], r.lat, r.lon) <= 45 for r in burst)


def test_power_cut_drops_external_voltage_and_runs_on_battery() -> None:
    records = run("power_cut").records
    assert all(r.ext_voltage_v <= 0.3 for r in records) and all(r.battery_voltage_v > 3.75 for r in records)
    assert records[0].event == "power_unplugged"


def test_battery_drain_is_low_with_no_external_supply() -> None:
    records = run("battery_drain").records
    assert all(r.ext_voltage_v is None and 3.28 <= r.battery_voltage_v <= 3.5 for r in records)


def test_rtc_reset_sends_year_2000_times() -> None:
    scenario = run("rtc_reset")
    assert all(r.fix_time < 978_307_200 for r in scenario.records)  # before 2001
    assert all(server_time > T0 for server_time, _ in scenario.arrivals())


def test_backlog_arrives_hours_after_the_fix() -> None:
    scenario = run("backlog", hours=24)
    delays = [server_time - record.fix_time for server_time, record in scenario.arrivals()]
    assert min(delays) > 1.2 * HOUR and max(delays) < 6 * HOUR
    assert [s for s, _ in scenario.batches] == sorted(s for s, _ in scenario.batches)
    fixes = [r.fix_time for r in scenario.records]
    assert fixes == sorted(fixes) and len(set(fixes)) == len(fixes)


def test_weak_signal_stays_at_or_below_20_percent() -> None:
    records = run("weak_signal").records
    assert Counter(r.gsm_signal_pct for r in records).keys() <= {0, 20} and len(records) == 360


def test_protocol_garbage_every_third_report() -> None:
    scenario = run("protocol_garbage")
    assert len(scenario.protocol_errors) == 120 and len(scenario.records) == 360
    for hour in range(6):
        assert sum(T0 + hour * HOUR <= t < T0 + (hour + 1) * HOUR for t in scenario.protocol_errors) >= 5


def healthy(record: Record) -> bool:
    return bool(
        record.valid and record.satellites >= 7 and record.hdop <= 1.6 and record.gsm_signal_pct >= 60
        and record.ext_voltage_v >= 12.3 and record.battery_voltage_v >= 4.0 and T0 < record.fix_time
        and not in_germany(record.lat, record.lon)
    )


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("roaming_rejected", "eu_coverage")])
def test_fault_until_restores_healthy_data(name: str) -> None:
    until = T0 + 6 * HOUR
    scenario = run(name, hours=12, fault_until=until)
    after = [(server, r) for server, r in scenario.arrivals() if server >= until + 1800]
    assert len(after) >= 150, name
    assert all(healthy(r) and server - r.fix_time < 5 for server, r in after), name
    assert not [t for t in scenario.protocol_errors if t >= until]
    assert scenario.reported_apn == scenario.registry_row["apn"]
    late_events = [e for e in scenario.events if parse_iso_utc(e["at"]) >= until]
    assert late_events and not [e for e in late_events if e["cause"] is not None]
    if name in ("ignition_permanent", "ignition_unwired", "motion_sensitive"):
        records = [r for _, r in after]
        assert any(r.ignition is False for r in records) and any(r.ignition for r in records)
        assert all(r.ignition or not r.motion for r in records)


def test_fault_until_delivers_what_a_wrong_apn_kept() -> None:
    until = T0 + 2 * HOUR
    scenario = run("wrong_apn", hours=4, fault_until=until)
    first_server, first = scenario.batches[0]
    assert first_server >= until and len(first) == 121 and first[0].fix_time == T0
    assert of_type(scenario, "pdp_create")[0]["apn"] == scenario.registry_row["apn"]


@pytest.mark.parametrize("name", ["roaming_rejected", "eu_coverage"])
def test_fault_until_brings_the_truck_home(name: str) -> None:
    until = T0 + 4 * HOUR
    scenario = run(name, hours=10, fault_until=until)
    later = [r for r in scenario.records if r.fix_time >= until + 2 * HOUR]
    assert len(later) > 100 and not any(in_germany(r.lat, r.lon) for r in later)
    assert all(r.lon > 14.65 for r in later)  # stays ~7 km or more east of the Oder
    last = scenario.events[-1]
    assert last["mcc"] == 260 and last["cause"] is None


def test_gt06_cannot_carry_voltage_faults_and_fault_names_are_checked() -> None:
    with pytest.raises(ValueError, match="teltonika"):
        simulate_device(IMEI, "power_cut", T0, HOUR, protocol="gt06")
    with pytest.raises(ValueError, match="known: activation_pending"):
        simulate_device(IMEI, "flat_tyre", T0, HOUR)
    gt06 = simulate_device(IMEI, "gps_antenna", T0, HOUR, protocol="gt06")
    assert all(r.fix_time == math.floor(r.fix_time) for r in gt06.records)


def test_assign_faults_spreads_reproducibly_and_validates() -> None:
    kinds = ["teltonika"] * 6 + ["gt06"] * 4
    first = assign_faults(kinds, {"power_cut": 3, "silent": 2}, seed=4)
    assert first == assign_faults(kinds, {"power_cut": 3, "silent": 2}, seed=4)
    assert Counter(first) == {None: 5, "power_cut": 3, "silent": 2}
    assert all(kinds[i] == "teltonika" for i, f in enumerate(first) if f == "power_cut")
    with pytest.raises(ValueError, match="only 10"):
        assign_faults(kinds, {"silent": 11}, seed=1)
    with pytest.raises(ValueError, match="only 6 are free"):
        assign_faults(kinds, {"weak_signal": 7}, seed=1)
    with pytest.raises(ValueError, match="unknown fault 'x'; known: activation_pending"):
        assign_faults(kinds, {"x": 1}, seed=1)
