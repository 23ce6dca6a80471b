"""The customer's self-check: one line per area of the tracker, in words a fleet owner understands.

Built from a fresh evaluation (so it answers "now", even between sweeps) and the stored findings
(for how long a problem has lasted). Titles, details and hints are English
:class:`~telediag.diagnostics.wording.Text` values: the result is the DESIGN.md document as before,
and :func:`translate_selfcheck` says the same result in a reader's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from protocols.record import iso_utc
from telediag.diagnostics.catalogue import CHECK_IDS, FINDINGS, codes_of_check
from telediag.diagnostics.checks import Verdicts
from telediag.diagnostics.findings import Finding
from telediag.diagnostics.hints import hint, readable_time
from telediag.diagnostics.ladder import CONNECTION_RUNGS, Ladder, connection_ladder
from telediag.diagnostics.snapshot import DeviceSnapshot
from telediag.diagnostics.wording import ENGLISH, N_, Catalogue, Message, Nn_, Text, said

_TITLES = {
    "activation": N_("Activation"),
    "connection": N_("Connection to the server"),
    "connectivity": N_("Mobile network and SIM"),
    "coverage": N_("Coverage plan"),
    "gnss": N_("GPS reception"),
    "power": N_("Power supply"),
    "ignition": N_("Ignition and journeys"),
    "clock": N_("Tracker clock"),
    "data_delay": N_("Timeliness of data"),
    "protocol": N_("Data format"),
}
_OK = {
    "activation": N_("The tracker is activated and has sent data."),
    "connection": N_("The tracker reports regularly."),
    "connectivity": N_("The SIM card and mobile data work."),
    "coverage": N_("The vehicle is within the countries its plan covers."),
    "gnss": N_("GPS positions are received and precise."),
    "power": N_("The tracker is powered by the vehicle."),
    "ignition": N_("Ignition and journeys are detected correctly."),
    "clock": N_("The tracker's clock is right."),
    "data_delay": N_("Data arrives on time."),
    "protocol": N_("The server reads everything the tracker sends."),
}
_UNKNOWN = {
    "activation": N_("The activation date is not known, so the activation window cannot be checked."),
    "connection": N_("The tracker has not reported yet."),
    "connectivity": N_("No network information has been received for this SIM yet."),
    "coverage": N_("The account's coverage plan or home country is not known, or there are no positions yet."),
    "gnss": N_("Not enough recent data to judge GPS reception."),
    "power": N_("The tracker does not report its voltages."),
    "ignition": N_("Not enough history to judge ignition and journeys."),
    "clock": N_("No data yet to check the tracker's clock."),
    "data_delay": N_("No data yet to check how late it arrives."),
    "protocol": N_("The tracker has not sent data yet."),
}
_ORDER = {"fail": 3, "warn": 2, "ok": 1, "unknown": 0}


def _h(seconds: Any) -> Text:
    try:
        hours = float(seconds) / 3600
    except (TypeError, ValueError):
        # Translators: a duration not known, in "Nothing received for {silent_for}" and "arrived {delay} late".
        return N_("a while")
    return N_("{hours} h", hours=format(hours, ".1f" if hours < 10 else ".0f"))


# Translators: an account's coverage plan, as in "the {coverage} plan does not cover it".
_PLANS = {"domestic": N_("domestic"), "eu": N_("eu"), "world": N_("world")}


def _apn_detail(e: Mapping[str, Any]) -> Text:
    if e.get("pdp_rejects"):
        return Nn_(
            "The network refused {count} data connection for APN \"{requested_apn}\"; the SIM card needs "
            "\"{expected_apn}\".",
            "The network refused {count} data connections for APN \"{requested_apn}\"; the SIM card needs "
            "\"{expected_apn}\".",
            e["pdp_rejects"], requested_apn=e.get("requested_apn"), expected_apn=e.get("expected_apn"))
    return N_("The tracker uses APN \"{reported_apn}\"; the SIM card needs \"{expected_apn}\".",
              reported_apn=e.get("reported_apn"), expected_apn=e.get("expected_apn"))


_DETAILS: dict[str, Callable[[Mapping[str, Any]], Text]] = {
    "ACTIVATION_PENDING": lambda e: N_(
        "Activated {hours} h ago; no data yet, which is normal in the first 24 h.",
        hours=e.get("hours_since_activation")) if e.get("registered_at") is None else N_(
        "Registered here {hours} h ago (the SIM card was activated before); no data yet, which is normal in "
        "the first 24 h.", hours=e.get("hours_since_registration")),
    "NO_DATA_AFTER_ACTIVATION": lambda e: N_(
        "Activated {hours} h ago and nothing has been received since.", hours=e.get("hours_since_activation"))
    if e.get("registered_at") is None else N_(
        "Registered here {hours} h ago and nothing has been received since.",
        hours=e.get("hours_since_registration")),
    "DEVICE_SILENT": lambda e: N_(
        "Nothing received for {silent_for} (last data {last_seen}).",
        silent_for=_h(e.get("silent_for_s")), last_seen=readable_time(e.get("last_seen"))),
    "APN_MISCONFIGURED": _apn_detail,
    "ROAMING_REJECTED": lambda e: N_(
        "The SIM card is refused by the network in {country} (home: {home_country}).",
        country=e.get("country"), home_country=e.get("home_country")),
    "EU_COVERAGE_INACTIVE": lambda e: N_(
        "The vehicle is in {country} since {since}; the {coverage} plan does not cover it.",
        country=e.get("country"), since=readable_time(e.get("since")),
        coverage=_PLANS.get(e.get("coverage", ""), e.get("coverage"))),
    "GPS_NO_FIX": lambda e: N_(
        "{share} % of recent records while in use had no GPS position.",
        share=round(100 * e.get("without_fix_share", 0))),
    "GPS_POOR_QUALITY": lambda e: N_("Recent positions had few satellites or jumped impossibly far."),
    "IGNITION_ALWAYS_ON": lambda e: N_(
        "The ignition stayed on while the vehicle was parked from {parked_from} to {parked_until}.",
        parked_from=readable_time(e.get("parked_from")), parked_until=readable_time(e.get("parked_until"))),
    "IGNITION_NOT_DETECTED": lambda e: N_("The vehicle drove while the ignition input read off."),
    "JOURNEY_FALSE_STARTS": lambda e: Nn_(
        "{count} short false journey was detected while the vehicle was parked.",
        "{count} short false journeys were detected while the vehicle was parked.", e.get("count")),
    "EXTERNAL_POWER_LOST": lambda e: N_(
        "The tracker runs on its internal battery since {since}.", since=readable_time(e.get("since"))),
    "BATTERY_LOW": lambda e: N_("The tracker's internal battery is nearly empty."),
    "CLOCK_INVALID": lambda e: N_(
        "The tracker dates its data {reported_fix_time} although it arrived at {server_time}.",
        reported_fix_time=readable_time(e.get("reported_fix_time")), server_time=readable_time(e.get("server_time"))),
    "DATA_DELAYED": lambda e: N_(
        "Recent data arrived {delay} late (typical delay).", delay=_h(e.get("median_delay_s"))),
    "LOW_GSM_SIGNAL": lambda e: N_("The mobile signal where the tracker is mounted is weak most of the time."),
    "PROTOCOL_ERRORS": lambda e: Nn_(
        "{count} message in the last hour could not be read.",
        "{count} messages in the last hour could not be read.", e.get("errors_last_hour")),
}
"""One sentence per finding: facts a customer can check, never raw positions or telemetry values
(those stay in ``evidence``, where the API's role filter can remove them). English
and every other language say counts in their plural forms; times read as ``2026-12-05 05:45 UTC``."""


def _detail(code: str, evidence: Mapping[str, Any]) -> Text:
    try:
        return _DETAILS[code](evidence)
    except (KeyError, TypeError, ValueError):  # evidence of an unexpected shape: the finding's title
        return Text(Message(FINDINGS[code].title), ".")


def _outage_detail(outage: Mapping[str, Any]) -> Text:
    since = readable_time(outage.get("onset")) or N_("a while")
    kind, value = outage.get("kind"), outage.get("value")
    if kind == "operator":
        operator = f"{value} ({outage['country']})" if outage.get("country") else value
        return N_(
            "The mobile operator {operator} has an outage since {since} that affects many trackers, this "
            "one included: the tracker itself is not at fault.", operator=operator, since=since)
    if kind == "apn":
        return N_(
            "The mobile data service (APN \"{apn}\") has an outage since {since} that affects many "
            "trackers, this one included: the tracker itself is not at fault.", apn=value, since=since)
    return N_(
        "Many trackers in this area lost the mobile network together since {since}, this one included: "
        "the tracker itself is not at fault.", since=since)


def _outage_hint(outage: Mapping[str, Any]) -> Text:
    return N_(
        "Nothing to do on the tracker or in the vehicle: we are following the outage with the operator "
        "(ticket {ticket}). The tracker sends what it stored once the network works again.",
        ticket=outage.get("ticket_id"))


def _outage_check(outage: Mapping[str, Any]) -> dict[str, Any]:
    """The connectivity line of a device that is part of a mass outage: the operator's fault, not the
    tracker's, and nothing for the customer to do."""
    return {
        "id": "connectivity", "status": FINDINGS["MASS_OUTAGE"].status, "title": _TITLES["connectivity"],
        "detail": _outage_detail(outage), "hint": _outage_hint(outage),
        "finding": "MASS_OUTAGE", "evidence": dict(outage),
    }


def _with_ladder(check: dict[str, Any], ladder: Ladder) -> dict[str, Any]:
    """The connection line told by the ladder's first broken rung, when that rung explains why the
    tracker does not report (the SIM, the network, the data session, the server address, the protocol):
    more specific than "nothing received". Its finding, if any, stays."""
    broken = ladder.broken
    if broken is not None and broken.id in CONNECTION_RUNGS:
        return {**check, "status": "fail", "detail": broken.detail, "hint": broken.hint}
    tcp = next(rung for rung in ladder.rungs if rung.id == "tcp")
    if tcp.status == "unknown" and check["status"] == "ok":  # not heard yet: not "reports regularly"
        return {**check, "status": "unknown", "detail": tcp.detail, "hint": None}
    return check


def build_selfcheck(
    snapshot: DeviceSnapshot, verdicts: Verdicts, stored: Mapping[str, Finding],
    outage: Mapping[str, Any] | None = None, ports: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The DESIGN.md self-check document for one device, with its connection ladder (``ladder``: the
    rungs from the SIM card to a right clock, and the first broken one as the verdict).

    ``outage`` (from :func:`telediag.tickets.outage_lookup.active_outage`) says the device is part of
    a mass outage being worked on: its connectivity line then tells the customer so. ``ports`` are the
    TCP ports of the ``[listen]`` table (:func:`telediag.diagnostics.ladder.listen_ports`) the ladder
    names when the tracker must be pointed at this service; the default table's when not given.
    """
    checks: list[dict[str, Any]] = []
    for check_id in CHECK_IDS:
        if check_id == "connectivity" and outage is not None:
            checks.append(_outage_check(outage))
            continue
        codes = codes_of_check(check_id)
        present = [(code, verdicts[code]) for code in codes if verdicts.get(code) is not None]
        if present:
            code, evidence = max(present, key=lambda item: _ORDER[FINDINGS[item[0]].status])
            assert evidence is not None
            finding = stored.get(code)
            detail = _detail(code, evidence)
            if finding is not None:
                detail = Text(detail, " ", N_("First noticed {when}.", when=readable_time(iso_utc(finding.first_seen))))
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
    ladder = connection_ladder(snapshot, verdicts, snapshot.now, ports,
                               _outage_hint(outage) if outage is not None else None)
    checks = [_with_ladder(check, ladder) if check["id"] == "connection" else check for check in checks]
    statuses = {check["status"] for check in checks}
    overall = "problem" if "fail" in statuses or ladder.verdict else "attention" if "warn" in statuses else "ok"
    return {"imei": snapshot.imei, "checked_at": iso_utc(snapshot.now), "overall": overall, "checks": checks,
            "ladder": ladder.as_dict()}


def translate_selfcheck(result: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """The same self-check with its titles, details and hints said in ``catalogue``'s language.

    A copy; every other key and value is unchanged, so it can go through the API's role filter like
    the original (translate first: the filter copies texts it masks into plain strings).
    """
    checks = [_said_texts(check, catalogue) for check in result.get("checks", ())]
    translated = {**result, "checks": checks}
    ladder = result.get("ladder")
    if isinstance(ladder, Mapping):
        translated["ladder"] = {**ladder, "rungs": [_said_texts(rung, catalogue) for rung in ladder.get("rungs", ())]}
    return translated


def _said_texts(line: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    return {key: said(value, catalogue) if key in ("title", "detail", "hint") else value for key, value in line.items()}


# Translators: the self-check's verdict in a terminal, in "Tracker {imei}: {overall} (checked ...)".
_VERDICTS = {"ok": N_("OK"), "attention": N_("ATTENTION"), "problem": N_("PROBLEM")}


def render_text(result: Mapping[str, Any], catalogue: Catalogue = ENGLISH) -> str:
    """The self-check for a terminal: the verdict first, then one block per check."""
    marks = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL", "unknown": "??  "}
    overall = _VERDICTS.get(result["overall"]) or result["overall"].upper()
    lines = [said(N_("Tracker {imei}: {overall} (checked {checked_at})", imei=result["imei"], overall=overall,
                     checked_at=result["checked_at"]), catalogue), ""]
    for check in result["checks"]:
        title, detail = said(check["title"], catalogue), said(check["detail"], catalogue)
        lines.append(f"[{marks[check['status']]}] {title}: {detail}")
        if check["hint"]:
            lines.append("       " + said(N_("What to do: {hint}", hint=check["hint"]), catalogue))
    ladder = result.get("ladder")
    if ladder:
        lines += ["", said(_ladder_heading(ladder.get("verdict")), catalogue)]
        for number, rung in enumerate(ladder["rungs"], 1):
            mark = ">>" if rung["id"] == ladder.get("verdict") else "  "
            title, detail = said(rung["title"], catalogue), said(rung["detail"], catalogue)
            lines.append(f"{mark} {number}. [{marks[rung['status']]}] {title}: {detail}")
            if rung["id"] == ladder.get("verdict") and rung["hint"]:
                lines.append("          " + said(N_("What to do: {hint}", hint=rung["hint"]), catalogue))
    return "\n".join(lines) + "\n"


def _ladder_heading(verdict: str | None) -> Text:
    if verdict is None:
        return N_("Connection ladder: every step from the SIM card to the clock works or cannot be judged.")
    return N_("Connection ladder: the data stops at the step marked >>.")
