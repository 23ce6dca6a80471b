"""The customer's self-check: one line per area of the tracker, in words a fleet owner understands.

Built from a fresh evaluation (so it answers "now", even between sweeps) and the stored findings
(for how long a problem has lasted).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from protocols.record import iso_utc
from telediag.diagnostics.catalogue import CHECK_IDS, FINDINGS, codes_of_check
from telediag.diagnostics.checks import Verdicts
from telediag.diagnostics.findings import Finding
from telediag.diagnostics.hints import hint
from telediag.diagnostics.snapshot import DeviceSnapshot

_TITLES = {
    "activation": "Activation",
    "connection": "Connection to the server",
    "connectivity": "Mobile network and SIM",
    "coverage": "Coverage plan",
    "gnss": "GPS reception",
    "power": "Power supply",
    "ignition": "Ignition and journeys",
    "clock": "Tracker clock",
    "data_delay": "Timeliness of data",
    "protocol": "Data format",
}
_OK = {
    "activation": "The tracker is activated and has sent data.",
    "connection": "The tracker reports regularly.",
    "connectivity": "The SIM card and mobile data work.",
    "coverage": "The vehicle is within the countries its plan covers.",
    "gnss": "GPS positions are received and precise.",
    "power": "The tracker is powered by the vehicle.",
    "ignition": "Ignition and journeys are detected correctly.",
    "clock": "The tracker's clock is right.",
    "data_delay": "Data arrives on time.",
    "protocol": "The server reads everything the tracker sends.",
}
_UNKNOWN = {
    "activation": "The activation date is not known, so the activation window cannot be checked.",
    "connection": "The tracker has not reported yet.",
    "connectivity": "No network information has been received for this SIM yet.",
    "coverage": "The account's coverage plan or home country is not known, or there are no positions yet.",
    "gnss": "Not enough recent data to judge GPS reception.",
    "power": "The tracker does not report its voltages.",
    "ignition": "Not enough history to judge ignition and journeys.",
    "clock": "No data yet to check the tracker's clock.",
    "data_delay": "No data yet to check how late it arrives.",
    "protocol": "The tracker has not sent data yet.",
}
_ORDER = {"fail": 3, "warn": 2, "ok": 1, "unknown": 0}


def _h(seconds: Any) -> str:
    try:
        hours = float(seconds) / 3600
    except (TypeError, ValueError):
        return "a while"
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


_DETAILS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "ACTIVATION_PENDING": lambda e: f"Activated {e.get('hours_since_activation')} h ago; no data yet, which is normal in the first 24 h.",
    "NO_DATA_AFTER_ACTIVATION": lambda e: f"Activated {e.get('hours_since_activation')} h ago and nothing has been received since.",
    "DEVICE_SILENT": lambda e: f"Nothing received for {_h(e.get('silent_for_s'))} (last data {e.get('last_seen')}).",
    "APN_MISCONFIGURED": lambda e: (
        f"The network refused {e['pdp_rejects']} data connection(s) for APN \"{e.get('requested_apn')}\"; "
        if e.get("pdp_rejects") else f"The tracker uses APN \"{e.get('reported_apn')}\"; "
    ) + f"the SIM card needs \"{e.get('expected_apn')}\".",
    "ROAMING_REJECTED": lambda e: f"The SIM card is refused by the network in {e.get('country')} (home: {e.get('home_country')}).",
    "EU_COVERAGE_INACTIVE": lambda e: f"The vehicle is in {e.get('country')} since {e.get('since')}; the {e.get('coverage')} plan does not cover it.",
    "GPS_NO_FIX": lambda e: f"{round(100 * e.get('without_fix_share', 0))} % of recent records while in use had no GPS position.",
    "GPS_POOR_QUALITY": lambda e: "Recent positions had few satellites or jumped impossibly far.",
    "IGNITION_ALWAYS_ON": lambda e: f"The ignition stayed on while the vehicle was parked from {e.get('parked_from')} to {e.get('parked_until')}.",
    "IGNITION_NOT_DETECTED": lambda e: "The vehicle drove while the ignition input read off.",
    "JOURNEY_FALSE_STARTS": lambda e: f"{e.get('count')} short false journeys were detected while the vehicle was parked.",
    "EXTERNAL_POWER_LOST": lambda e: f"The tracker runs on its internal battery since {e.get('since')}.",
    "BATTERY_LOW": lambda e: "The tracker's internal battery is nearly empty.",
    "CLOCK_INVALID": lambda e: f"The tracker dates its data {e.get('reported_fix_time')} although it arrived at {e.get('server_time')}.",
    "DATA_DELAYED": lambda e: f"Recent data arrived {_h(e.get('median_delay_s'))} late (typical delay).",
    "LOW_GSM_SIGNAL": lambda e: "The mobile signal where the tracker is mounted is weak most of the time.",
    "PROTOCOL_ERRORS": lambda e: f"{e.get('errors_last_hour')} messages in the last hour could not be read.",
}
"""One sentence per finding: facts a customer can check, never raw positions or telemetry values
(those stay in ``evidence``, where the API's role filter can remove them)."""


def _detail(code: str, evidence: Mapping[str, Any]) -> str:
    try:
        return _DETAILS[code](evidence)
    except (KeyError, TypeError, ValueError):
        return FINDINGS[code].title + "."


def build_selfcheck(
    snapshot: DeviceSnapshot, verdicts: Verdicts, stored: Mapping[str, Finding]
) -> dict[str, Any]:
    """The DESIGN.md self-check document for one device."""
    checks: list[dict[str, Any]] = []
    for check_id in CHECK_IDS:
        codes = codes_of_check(check_id)
        present = [(code, verdicts[code]) for code in codes if verdicts.get(code) is not None]
        if present:
            code, evidence = max(present, key=lambda item: _ORDER[FINDINGS[item[0]].status])
            assert evidence is not None
            finding = stored.get(code)
            detail = _detail(code, evidence)
            if finding is not None:
                detail += f" First noticed {iso_utc(finding.first_seen)}."
            checks.append({
                "id": check_id, "status": FINDINGS[code].status, "title": _TITLES[check_id],
                "detail": detail, "hint": hint(code, snapshot.protocol, evidence, snapshot.device),
                "finding": code, "evidence": evidence,
            })
        elif any(code in verdicts for code in codes):
            checks.append({"id": check_id, "status": "ok", "title": _TITLES[check_id],
                           "detail": _OK[check_id], "hint": None, "finding": None, "evidence": None})
        else:
            checks.append({"id": check_id, "status": "unknown", "title": _TITLES[check_id],
                           "detail": _UNKNOWN[check_id], "hint": None, "finding": None, "evidence": None})
    statuses = {check["status"] for check in checks}
    overall = "problem" if "fail" in statuses else "attention" if "warn" in statuses else "ok"
    return {"imei": snapshot.imei, "checked_at": iso_utc(snapshot.now), "overall": overall, "checks": checks}


def render_text(result: Mapping[str, Any]) -> str:
    """The self-check for a terminal: the verdict first, then one block per check."""
    marks = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL", "unknown": "??  "}
    lines = [f"Tracker {result['imei']}: {result['overall'].upper()} (checked {result['checked_at']})", ""]
    for check in result["checks"]:
        lines.append(f"[{marks[check['status']]}] {check['title']}: {check['detail']}")
        if check["hint"]:
            lines.append(f"       What to do: {check['hint']}")
    return "\n".join(lines) + "\n"
