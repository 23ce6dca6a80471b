"""The customer's self-check: one line per area of the tracker, in words a fleet owner understands.

Built from a fresh evaluation (so it answers "now", even between sweeps) and the stored findings
(for how long a problem has lasted).
"""

from __future__ import annotations

from typing import Any, Mapping

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


def _detail(code: str, evidence: Mapping[str, Any]) -> str:
    spec = FINDINGS[code]
    facts = ", ".join(
        f"{key.replace('_', ' ')}: {value}" for key, value in evidence.items()
        if value is not None and not isinstance(value, (dict, list)) and key not in ("last_lat", "last_lon")
    )
    return f"{spec.title}." + (f" ({facts})" if facts else "")


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
                "finding": code,
            })
        elif any(code in verdicts for code in codes):
            checks.append({"id": check_id, "status": "ok", "title": _TITLES[check_id],
                           "detail": _OK[check_id], "hint": None, "finding": None})
        else:
            checks.append({"id": check_id, "status": "unknown", "title": _TITLES[check_id],
                           "detail": _UNKNOWN[check_id], "hint": None, "finding": None})
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
