"""Each check on hand-built snapshots: present, absent, and not judged for lack of data."""

from __future__ import annotations

from typing import Any

from protocols.record import iso_utc
from telediag.config import Thresholds
from telediag.diagnostics import checks
from telediag.diagnostics.snapshot import DeviceSnapshot

T = Thresholds()
NOW = 1_790_000_000.0
WARSAW = (52.23, 21.01)
BERLIN = (52.52, 13.40)


def record(age_s: float = 0.0, delay_s: float = 1.0, **values: Any) -> dict[str, Any]:
    """A recent-record row as the snapshot holds it, healthy unless told otherwise."""
    fix = NOW - age_s
    row = {
        "fix_time": fix, "server_time": fix + delay_s, "valid": 1, "lat": WARSAW[0], "lon": WARSAW[1],
        "speed_kmh": 50.0, "satellites": 10, "hdop": 0.9, "ignition": 1, "motion": 1,
        "ext_voltage_v": 13.9, "battery_voltage_v": 4.1, "gsm_signal_pct": 80, "operator": 26001,
        "roaming": 0,
    }
    row.update(values)
    return row


def snapshot(recent: list[dict[str, Any]] | None = None, **fields: Any) -> DeviceSnapshot:
    device = {"protocol": "teltonika", "apn": "fleet.example", "roaming_allowed": 1, "home_country": "PL",
              "coverage": "domestic", "activated_at": NOW - 30 * 86400, "report_interval_s": 60.0}
    device.update(fields.pop("device", {}))
    state = {"first_seen": NOW - 86400, "last_seen": NOW - 30, "connected": 1, "last_lat": 1.0, "last_lon": 2.0}
    state.update(fields.pop("state", {}))
    if recent is None:
        recent = [record(age_s=60 * i) for i in range(30)]
    return DeviceSnapshot(imei="356307042441013", now=NOW, device=device, state=state, recent=recent, **fields)


def test_healthy_device_has_no_finding() -> None:
    verdicts = checks.evaluate(snapshot(), T)
    assert {code for code, evidence in verdicts.items() if evidence is not None} == set()
    assert {"DEVICE_SILENT", "GPS_NO_FIX", "EXTERNAL_POWER_LOST", "CLOCK_INVALID", "DATA_DELAYED"} <= set(verdicts)


def test_activation_window_then_no_data() -> None:
    never = {"first_seen": None, "last_seen": None}
    pending = checks.check_activation(snapshot([], device={"activated_at": NOW - 6 * 3600}, state=never), T)
    assert pending["ACTIVATION_PENDING"]["hours_since_activation"] == 6.0
    assert pending["NO_DATA_AFTER_ACTIVATION"] is None
    late = checks.check_activation(snapshot([], device={"activated_at": NOW - 30 * 3600}, state=never), T)
    assert late["ACTIVATION_PENDING"] is None and late["NO_DATA_AFTER_ACTIVATION"] is not None
    heard = checks.check_activation(snapshot(device={"activated_at": NOW - 6 * 3600}), T)
    assert heard == {"ACTIVATION_PENDING": None, "NO_DATA_AFTER_ACTIVATION": None}


def test_the_activation_window_counts_from_registration_when_it_came_later() -> None:
    """A fleet moving to us: SIMs activated weeks ago, registered here a minute ago, not reporting yet."""
    never = {"first_seen": None, "last_seen": None}
    moved = {"activated_at": NOW - 21 * 86400, "registered_at": NOW - 60}
    first_sweep = checks.check_activation(snapshot([], device=moved, state=never), T)
    assert first_sweep["NO_DATA_AFTER_ACTIVATION"] is None
    pending = first_sweep["ACTIVATION_PENDING"]
    assert pending["hours_since_registration"] == 0.0 and pending["hours_since_activation"] == 504.0
    assert pending["expected_by"] == iso_utc(NOW - 60 + 86400)
    day_later = {"activated_at": NOW - 21 * 86400, "registered_at": NOW - 25 * 3600}
    late = checks.check_activation(snapshot([], device=day_later, state=never), T)
    assert late["ACTIVATION_PENDING"] is None and late["NO_DATA_AFTER_ACTIVATION"]["hours_since_registration"] == 25.0
    registered_first = {"activated_at": NOW - 30 * 3600, "registered_at": NOW - 40 * 3600}
    counted = checks.check_activation(snapshot([], device=registered_first, state=never), T)
    no_data = counted["NO_DATA_AFTER_ACTIVATION"]
    assert no_data is not None and "registered_at" not in no_data


def test_silence_is_relative_to_the_reporting_interval() -> None:
    assert checks.check_silence(snapshot(state={"last_seen": NOW - 1700}), T)["DEVICE_SILENT"] is None
    silent = checks.check_silence(snapshot(state={"last_seen": NOW - 1900}), T)["DEVICE_SILENT"]
    assert silent["limit_s"] == 1800
    slow = snapshot(state={"last_seen": NOW - 1900}, device={"report_interval_s": 600.0})
    assert checks.check_silence(slow, T)["DEVICE_SILENT"] is None  # 6 x 600 s = 1 h allowed


def event(type_: str, age_s: float, cause: int | None = None, mcc: int = 260, apn: str | None = None) -> dict:
    return {"at": NOW - age_s, "type": type_, "cause": cause, "apn": apn, "mcc": mcc, "mnc": 1, "rat": "4G"}


def test_apn_rejects_until_a_session_succeeds() -> None:
    rejects = [event("attach", 900), event("pdp_reject", 800, 27, apn="internet"),
               event("pdp_reject", 400, 27, apn="internet")]
    found = checks.check_apn(snapshot(events=rejects), T)["APN_MISCONFIGURED"]
    assert found["pdp_rejects"] == 2
    assert found["requested_apn"] == "internet" and found["expected_apn"] == "fleet.example"
    recovered = rejects + [event("pdp_create", 100, apn="fleet.example")]
    assert checks.check_apn(snapshot(events=recovered), T)["APN_MISCONFIGURED"] is None
    other_cause = [event("pdp_reject", 800, 26), event("pdp_reject", 400, 26)]
    assert checks.check_apn(snapshot(events=other_cause), T)["APN_MISCONFIGURED"] is None


def test_apn_reported_by_the_device_differs_from_the_sim_profile() -> None:
    found = checks.check_apn(snapshot(reports={"apn": ("internet", NOW - 60)}), T)["APN_MISCONFIGURED"]
    assert found["reported_apn"] == "internet"
    assert checks.check_apn(snapshot(reports={"apn": ("FLEET.example", NOW)}), T)["APN_MISCONFIGURED"] is None


def test_roaming_rejected_abroad_clears_back_home() -> None:
    abroad = [event("attach_reject", 300, 13, mcc=262), event("attach_reject", 100, 13, mcc=262)]
    found = checks.check_roaming(snapshot(events=abroad), T)["ROAMING_REJECTED"]
    assert found["country"] == "DE" and found["causes"] == [13]
    home_again = abroad + [event("attach", 50, mcc=260)]
    assert checks.check_roaming(snapshot(events=home_again), T)["ROAMING_REJECTED"] is None
    plan_without_roaming = snapshot(events=[event("location_update", 60, mcc=262)], device={"roaming_allowed": 0})
    assert checks.check_roaming(plan_without_roaming, T)["ROAMING_REJECTED"]["sim_roaming_allowed"] is False
    accepted_abroad = [event("attach_reject", 300, 13, mcc=262), event("attach", 100, mcc=262)]
    assert checks.check_roaming(snapshot(events=accepted_abroad), T)["ROAMING_REJECTED"] is None


def test_coverage_counts_the_trailing_positions_abroad() -> None:
    in_germany = [record(age_s=60 * i, lat=BERLIN[0], lon=BERLIN[1]) for i in range(5)]
    back_home = [record(age_s=0)] + in_germany
    assert checks.check_coverage(snapshot(in_germany), T)["EU_COVERAGE_INACTIVE"]["country"] == "DE"
    assert checks.check_coverage(snapshot(back_home), T)["EU_COVERAGE_INACTIVE"] is None
    eu_plan = snapshot(in_germany, device={"coverage": "eu"})
    assert checks.check_coverage(eu_plan, T)["EU_COVERAGE_INACTIVE"] is None
    assert checks.check_coverage(snapshot(in_germany, device={"coverage": None}), T) == {}


def test_gnss_no_fix_while_driving_and_poor_quality() -> None:
    no_fix = [record(age_s=60 * i, valid=0, lat=None, lon=None, satellites=0) for i in range(12)]
    assert checks.check_gnss(snapshot(no_fix), T)["GPS_NO_FIX"]["without_fix_share"] == 1.0
    parked_no_fix = [record(age_s=60 * i, valid=0, ignition=0, motion=0, speed_kmh=0) for i in range(12)]
    assert "GPS_NO_FIX" not in checks.check_gnss(snapshot(parked_no_fix), T)
    poor = [record(age_s=60 * i, satellites=3, hdop=7.5) for i in range(12)]
    assert checks.check_gnss(snapshot(poor), T)["GPS_POOR_QUALITY"]["poor_fix_share"] == 1.0
    jumping = [record(age_s=60 * i, lat=WARSAW[0] + (0.5 if i % 2 else 0.0)) for i in range(12)]
    assert checks.check_gnss(snapshot(jumping), T)["GPS_POOR_QUALITY"]["impossible_jumps"] >= 3


def test_power_lost_and_battery_low() -> None:
    cut = [record(age_s=60 * i, ext_voltage_v=0.0, battery_voltage_v=4.0) for i in range(3)] + [record(age_s=400)]
    verdicts = checks.check_power(snapshot(cut), T)
    assert verdicts["EXTERNAL_POWER_LOST"]["ext_voltage_v"] == 0.0 and verdicts["BATTERY_LOW"] is None
    drained = [record(ext_voltage_v=0.1, battery_voltage_v=3.45)]
    assert checks.check_power(snapshot(drained), T)["BATTERY_LOW"]["battery_voltage_v"] == 3.45
    charging = [record(ext_voltage_v=13.9, battery_voltage_v=3.45)]
    assert checks.check_power(snapshot(charging), T)["BATTERY_LOW"] is None


def test_clock_in_the_past_or_future_and_not_mistaken_for_delay() -> None:
    year_2000 = 946_684_800.0
    reset = [record(age_s=NOW - year_2000 + 60 * i, delay_s=NOW - year_2000) for i in range(30)]
    reset = [dict(r, server_time=NOW - 60 * i) for i, r in enumerate(reset)]
    verdicts = checks.evaluate(snapshot(reset), T)
    assert verdicts["CLOCK_INVALID"]["reported_fix_time"].startswith("2000-")
    assert "DATA_DELAYED" not in verdicts
    assert checks.check_clock(snapshot(future_records=5), T)["CLOCK_INVALID"]["future_records"] == 5


def test_delayed_data() -> None:
    backlog = [record(age_s=7200 + 60 * i, delay_s=7200) for i in range(30)]
    assert checks.check_delay(snapshot(backlog), T)["DATA_DELAYED"]["median_delay_s"] == 7200
    assert checks.check_delay(snapshot(), T)["DATA_DELAYED"] is None


def test_signal_and_protocol_errors() -> None:
    weak = [record(age_s=60 * i, gsm_signal_pct=20) for i in range(12)]
    assert checks.check_signal(snapshot(weak), T)["LOW_GSM_SIGNAL"]["median_signal_pct"] == 20
    assert checks.check_signal(snapshot(weak[:5]), T) == {}
    errors = snapshot(errors_in_window=5, last_error={"message": "CRC mismatch", "excerpt": "00"})
    assert checks.check_protocol(errors, T)["PROTOCOL_ERRORS"]["last_error"] == "CRC mismatch"
    assert checks.check_protocol(snapshot(errors_in_window=4), T)["PROTOCOL_ERRORS"] is None
