"""The per-device checks: pure functions from a snapshot to verdicts.

A verdict maps a finding code to its evidence (the finding is present) or to None (checked, and
absent). A code a check could not judge (no data of that kind) is left out, so an active finding is
neither renewed nor cleared by missing data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from statistics import median
from typing import Any

import numpy as np
import pandas as pd

from protocols.record import iso_utc
from protocols.sniff import noted
from telediag.config import Thresholds
from telediag.diagnostics import clock, geography
from telediag.diagnostics.geodesy import haversine_m
from telediag.diagnostics.snapshot import DeviceSnapshot

Verdicts = dict[str, dict[str, Any] | None]


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def check_activation(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Activation window: silence in the first 24 h is normal; after it, it is a fault.

    The window counts from the later of the SIM's activation and the device's registration here: a
    fleet that moves to us with SIMs activated weeks ago has had no chance to report until it was
    registered, so its first sweep finds it pending, not failed.
    """
    device = s.device or {}
    activated = device.get("activated_at")
    if s.heard or activated is None:
        return {"ACTIVATION_PENDING": None, "NO_DATA_AFTER_ACTIVATION": None}
    registered = device.get("registered_at")
    start = max(activated, registered) if registered is not None else activated
    age = s.now - start
    evidence: dict[str, Any] = {
        "activated_at": iso_utc(activated), "hours_since_activation": round((s.now - activated) / 3600, 1),
    }
    if start > activated:
        evidence.update(registered_at=iso_utc(start), hours_since_registration=round(age / 3600, 1))
    if age < t.activation_window_s:
        evidence["expected_by"] = iso_utc(start + t.activation_window_s)
        return {"ACTIVATION_PENDING": evidence, "NO_DATA_AFTER_ACTIVATION": None}
    return {"ACTIVATION_PENDING": None, "NO_DATA_AFTER_ACTIVATION": evidence}


def check_silence(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Silent for far longer than the device's own reporting interval."""
    last_seen = s.state.get("last_seen") if s.state else None
    if last_seen is None:
        return {"DEVICE_SILENT": None} if not s.heard else {}
    interval = (s.device or {}).get("report_interval_s") or t.default_report_interval_s
    limit = max(t.silence_min_s, t.silence_factor * interval)
    silent_for = s.now - last_seen
    if silent_for <= limit:
        return {"DEVICE_SILENT": None}
    return {"DEVICE_SILENT": {
        "last_seen": iso_utc(last_seen), "silent_for_s": round(silent_for), "limit_s": round(limit),
        "report_interval_s": interval, "connected": bool(s.state and s.state.get("connected")),
        "last_lat": s.state.get("last_lat") if s.state else None,
        "last_lon": s.state.get("last_lon") if s.state else None,
        "onset": iso_utc(last_seen),
    }}


def _event_country(event: dict[str, Any]) -> str | None:
    return geography.country_of_mcc(event["mcc"]) if event.get("mcc") is not None else None


def check_apn(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Data sessions refused for APN causes, or the device's own APN differs from its SIM profile's."""
    expected = (s.device or {}).get("apn")
    rejects: list[dict[str, Any]] = []
    for event in s.events:
        if event["type"] == "pdp_create":
            rejects = []  # a working data session since: the earlier rejects are history
        elif event["type"] == "pdp_reject" and event.get("cause") in t.apn_reject_causes:
            rejects.append(event)
    evidence: dict[str, Any] = {}
    if len(rejects) >= t.apn_min_rejects:
        evidence.update(
            pdp_rejects=len(rejects),
            causes=sorted({e["cause"] for e in rejects}),
            requested_apn=rejects[-1].get("apn"),
            last_reject_at=iso_utc(rejects[-1]["at"]),
            onset=iso_utc(rejects[0]["at"]),
        )
    reported, reported_at = s.reports.get("apn", (None, None))
    if expected and reported is not None and reported.strip().lower() != expected.strip().lower():
        evidence.update(reported_apn=reported, reported_at=iso_utc(reported_at))
    if not evidence:
        return {"APN_MISCONFIGURED": None}
    evidence["expected_apn"] = expected
    return {"APN_MISCONFIGURED": evidence}


def check_roaming(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Abroad and refused by the visited network, or abroad on a SIM plan without roaming."""
    device = s.device or {}
    home = device.get("home_country")
    network_events = [e for e in s.events if e.get("mcc") is not None]
    if not network_events or home is None:
        return {"ROAMING_REJECTED": None} if home is not None else {}
    latest = network_events[-1]
    country = _event_country(latest)
    if country is None or country == home:
        return {"ROAMING_REJECTED": None}
    rejects: list[dict[str, Any]] = []
    for event in network_events:
        if _event_country(event) == home or event["type"] in ("attach", "pdp_create"):
            rejects = []
        elif event["type"] == "attach_reject" and event.get("cause") in t.roaming_reject_causes:
            rejects.append(event)
    no_roaming = device.get("roaming_allowed") == 0
    if not rejects and not no_roaming:
        return {"ROAMING_REJECTED": None}
    return {"ROAMING_REJECTED": {
        "country": country, "mcc": latest["mcc"], "mnc": latest.get("mnc"), "home_country": home,
        "attach_rejects": len(rejects), "causes": sorted({e["cause"] for e in rejects}),
        "sim_roaming_allowed": None if device.get("roaming_allowed") is None else bool(device["roaming_allowed"]),
        "last_event_at": iso_utc(latest["at"]),
        "onset": iso_utc(rejects[0]["at"]) if rejects else None,
    }}


def check_coverage(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Positions in countries the account's plan does not cover (e.g. abroad on a domestic plan)."""
    device = s.device or {}
    home, plan = device.get("home_country"), device.get("coverage")
    if home is None or plan is None:
        return {}
    abroad: list[tuple[dict[str, Any], str]] = []
    for record in s.recent:  # newest first: the trailing run of uncovered positions
        if not record["valid"] or record["lat"] is None:
            continue
        country = geography.country_at(record["lat"], record["lon"])
        if country is None:
            continue
        is_covered = geography.covered(country, home, plan)
        if is_covered is None:
            continue
        if is_covered:
            break
        abroad.append((record, country))
    if len(abroad) < t.abroad_min_positions:
        return {"EU_COVERAGE_INACTIVE": None} if s.recent else {}
    latest, country = abroad[0]
    return {"EU_COVERAGE_INACTIVE": {
        "country": country, "home_country": home, "coverage": plan, "positions_outside": len(abroad),
        "since": iso_utc(abroad[-1][0]["fix_time"]), "last_lat": latest["lat"], "last_lon": latest["lon"],
    }}


def check_gnss(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """No fix while in use (antenna), or fixes that are imprecise or jump impossibly."""
    verdicts: Verdicts = {}
    in_use = [r for r in s.recent if r["ignition"] == 1 or r["motion"] == 1 or (r["speed_kmh"] or 0) > 5]
    if len(in_use) < t.gnss_min_records and s.history is not None:
        in_use = _in_use_from_history(s, t)  # parked now: judge the latest stretch of use instead
    if len(in_use) >= t.gnss_min_records:
        invalid = _share([not r["valid"] for r in in_use])
        verdicts["GPS_NO_FIX"] = None if invalid < t.no_fix_ratio else {
            "records_in_use": len(in_use), "without_fix_share": round(invalid, 2),
            "since": iso_utc(min(r["fix_time"] for r in in_use)),
            "device_status": s.reports.get("status", (None, None))[0],
        }
    elif any(r["valid"] for r in s.recent[:5]):
        verdicts["GPS_NO_FIX"] = None
    valid = [r for r in s.recent if r["valid"] and r["lat"] is not None]
    if len(valid) < t.gnss_min_records:
        return verdicts
    graded = [r for r in valid if r["satellites"] is not None or r["hdop"] is not None]
    poor = _share([
        (r["satellites"] is not None and r["satellites"] < t.min_satellites)
        or (r["hdop"] is not None and r["hdop"] > t.max_hdop)
        for r in graded
    ])
    jumps = _impossible_jumps(valid, t.max_plausible_speed_kmh)
    if poor >= t.poor_quality_ratio or jumps >= t.max_jumps:
        verdicts["GPS_POOR_QUALITY"] = {
            "poor_fix_share": round(poor, 2), "impossible_jumps": jumps, "fixes": len(valid),
            "median_satellites": _median(r["satellites"] for r in valid),
            "median_hdop": _median(r["hdop"] for r in valid),
        }
    else:
        verdicts["GPS_POOR_QUALITY"] = None
    return verdicts


def _in_use_from_history(s: DeviceSnapshot, t: Thresholds) -> list[dict[str, Any]]:
    """The latest records with ignition on or motion, from the stored history, newest first.

    A position whose time was impossible (dropped to null by the plausibility rules, the position
    kept) says nothing about the antenna: CLOCK_INVALID speaks for it, so it is left out here.
    """
    frame = s.history
    assert frame is not None
    in_use = (frame["ignition"] == True) | (frame["motion"] == True) | (frame["speed_kmh"] > 5)  # noqa: E712
    used = frame[in_use & ~(frame["fix_time"].isna() & frame["lat"].notna())]
    tail = used.tail(t.recent_records)
    return [
        {"valid": bool(valid) if valid is not None and valid is not pd.NA else False, "fix_time": fix}
        for valid, fix in zip(tail["valid"].tolist()[::-1], tail["time"].tolist()[::-1], strict=True)
    ]


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(median(known)) if known else None


def _impossible_jumps(valid: list[dict[str, Any]], max_speed_kmh: float) -> int:
    """Consecutive fixes further apart than the vehicle could have driven (and more than 500 m)."""
    ordered = sorted(valid, key=lambda r: r["fix_time"])
    times = np.array([r["fix_time"] for r in ordered], dtype=np.float64)
    lat = np.array([r["lat"] for r in ordered], dtype=np.float64)
    lon = np.array([r["lon"] for r in ordered], dtype=np.float64)
    distance = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    dt = np.diff(times)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_fast = (dt <= 0) | (distance / dt * 3.6 > max_speed_kmh)
    return int(np.count_nonzero((distance > 500) & too_fast))


def check_power(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """External power gone (unplugged, cut), and the internal battery running low on its own."""
    verdicts: Verdicts = {}
    with_ext = [r for r in s.recent if r["ext_voltage_v"] is not None]
    lost = bool(with_ext) and with_ext[0]["ext_voltage_v"] <= t.power_lost_voltage_v
    if with_ext:
        run = 0
        for record in with_ext:
            if record["ext_voltage_v"] > t.power_lost_voltage_v:
                break
            run += 1
        verdicts["EXTERNAL_POWER_LOST"] = None if not lost else {
            "ext_voltage_v": with_ext[0]["ext_voltage_v"], "since": iso_utc(with_ext[run - 1]["fix_time"]),
            "battery_voltage_v": with_ext[0]["battery_voltage_v"],
        }
    with_battery = [r for r in s.recent if r["battery_voltage_v"] is not None]
    if with_battery:
        battery = with_battery[0]["battery_voltage_v"]
        on_battery = lost or not with_ext
        low = battery <= t.battery_low_voltage_v and on_battery
        verdicts["BATTERY_LOW"] = {"battery_voltage_v": battery, "external_power_lost": lost} if low else None
    return verdicts


def _clock_bad(record: dict[str, Any], t: Thresholds) -> bool:
    offset: float = record["fix_time"] - record["server_time"]
    return offset > t.clock_future_tolerance_s or offset < -t.clock_past_limit_s


def _raw_time_text(raw: Any) -> str:
    """A fix time too absurd to store, as a person reads it: the date if there is one, else the value."""
    try:
        shown = iso_utc(float(raw))
    except (TypeError, ValueError):
        shown = None
    return shown if shown is not None else f"an impossible time ({raw})"


def _timed_since(s: DeviceSnapshot, t: Thresholds) -> bool:
    """Whether a record with a usable fix time arrived within the recent window."""
    return bool(s.recent) and s.recent[0]["server_time"] >= s.now - t.protocol_error_window_s


def _latest_fix(s: DeviceSnapshot) -> float | None:
    return s.state.get("last_fix_time") if s.state else None


def _clock_jump(s: DeviceSnapshot, t: Thresholds) -> clock.ClockJump | None:
    return clock.clock_jump(s.recent, _latest_fix(s), s.now, t)


def check_clock(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Fix times in the future or years in the past, or a clock that jumped back or ahead while the
    records kept arriving: an unset RTC, a reset after a power loss, a GPS week rollover."""
    if s.unusable_sample is not None and (s.unusable_times >= 3 or not _timed_since(s, t)):
        raw, arrived = s.unusable_sample
        return {"CLOCK_INVALID": {
            "reported_fix_time": _raw_time_text(raw), "server_time": iso_utc(arrived), "offset_s": None,
            "future_records": s.future_records, "past_records": 0, "unusable_times": s.unusable_times,
            "onset": iso_utc(arrived),
        }}
    if not s.recent:
        return {}
    by_arrival = clock.arrival_order(s.recent)[::-1]  # newest arrival first
    latest = by_arrival[: max(1, t.recent_records // 3)]
    bad = [r for r in latest if _clock_bad(r, t)]
    jump = _clock_jump(s, t)
    if jump is not None:
        sample = jump.run[-1]
        return {"CLOCK_INVALID": {
            "reported_fix_time": iso_utc(sample["fix_time"]), "server_time": iso_utc(sample["server_time"]),
            "offset_s": round(sample["fix_time"] - sample["server_time"]), "jump_s": round(jump.jump_s),
            "first_bad_arrival": iso_utc(jump.run[0]["server_time"]), "bad_records": len(jump.run),
            "likely_cause": jump.cause, "future_records": s.future_records, "past_records": len(bad),
            "onset": iso_utc(jump.run[0]["server_time"]),
        }}
    if s.future_records < 3 and len(bad) * 2 < len(latest):
        return {"CLOCK_INVALID": None}
    sample = bad[0] if bad else latest[0]
    return {"CLOCK_INVALID": {
        "reported_fix_time": iso_utc(sample["fix_time"]), "server_time": iso_utc(sample["server_time"]),
        "offset_s": round(sample["fix_time"] - sample["server_time"]),
        "future_records": s.future_records, "past_records": len(bad),
        "likely_cause": clock.likely_cause(sample["fix_time"], sample["server_time"], t.clock_future_tolerance_s),
        "onset": iso_utc((bad[-1] if bad else sample)["server_time"]),
    }}


def check_delay(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Records stored long after their fix: a buffered backlog, the "outdated data" complaint.

    Records whose clock is wrong (far off their arrival, or part of a clock jump) say nothing about
    delay: they are left out, and the evidence says how many.
    """
    jump = _clock_jump(s, t)
    jumped = {id(r) for r in jump.run} if jump is not None else set()
    timed = [r for r in s.recent if not _clock_bad(r, t) and id(r) not in jumped]
    left_out = len(s.recent) - len(timed)
    if not timed:
        return {}
    delays = [r["server_time"] - r["fix_time"] for r in timed]
    late = _share([d > t.delay_threshold_s for d in delays])
    if late < t.delay_ratio:
        return {"DATA_DELAYED": None}
    return {"DATA_DELAYED": {
        "late_share": round(late, 2), "median_delay_s": round(median(delays)), "max_delay_s": round(max(delays)),
        "records": len(timed), "left_out_invalid_clock": left_out,
        "device_status": s.reports.get("status", (None, None))[0],
    }}


def check_signal(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Persistently weak mobile signal."""
    levels = [r["gsm_signal_pct"] for r in s.recent if r["gsm_signal_pct"] is not None]
    if len(levels) < t.gnss_min_records:
        return {}
    weak = _share([level <= t.low_signal_pct for level in levels])
    if weak < t.low_signal_ratio:
        return {"LOW_GSM_SIGNAL": None}
    return {"LOW_GSM_SIGNAL": {"median_signal_pct": _median(levels), "weak_share": round(weak, 2)}}


def check_protocol(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Frames the server could not decode, more than a stray one."""
    if s.errors_in_window < t.protocol_error_min:
        return {"PROTOCOL_ERRORS": None}
    wrong = noted((s.last_error or {}).get("message"))  # frames of another protocol: which, and its port
    return {"PROTOCOL_ERRORS": {
        "errors_last_hour": s.errors_in_window, "window_s": t.protocol_error_window_s,
        "last_error": (s.last_error or {}).get("message"), "excerpt": (s.last_error or {}).get("excerpt"),
        "protocol": s.protocol, "onset": iso_utc(getattr(s, "first_error_at", None)),
        **({"detected_protocol": wrong.protocol, "detected_port": wrong.default_port,
            "port_protocol": wrong.port_protocol} if wrong is not None else {}),
    }}


def check_installation(s: DeviceSnapshot, t: Thresholds) -> Verdicts:
    """Ignition wiring and motion sensitivity, judged over the stored history."""
    if s.history is None or s.history.empty:
        return {}
    from telediag.diagnostics import installation

    return {
        "IGNITION_ALWAYS_ON": installation.ignition_always_on(s.history, t),
        "IGNITION_NOT_DETECTED": installation.ignition_not_detected(s.history, t),
        "JOURNEY_FALSE_STARTS": installation.journey_false_starts(
            s.history[s.history["time"] >= s.now - t.false_start_window_s], t
        ),
    }


CHECKS: tuple[Callable[[DeviceSnapshot, Thresholds], Verdicts], ...] = (
    check_activation, check_silence, check_apn, check_roaming, check_coverage, check_gnss,
    check_power, check_clock, check_delay, check_signal, check_protocol, check_installation,
)


def evaluate(snapshot: DeviceSnapshot, thresholds: Thresholds) -> Verdicts:
    """Every check's verdicts for one device."""
    verdicts: Verdicts = {}
    for check in CHECKS:
        verdicts.update(check(snapshot, thresholds))
    return verdicts
