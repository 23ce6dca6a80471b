"""Plain-language fixes for each finding, with the exact device command where the fix is a setting.

Hints are written for the person who will act: a customer for activation, coverage and power, an
installer or support engineer for settings and wiring. Where the fix differs by tracker family (SMS
and GPRS command syntax), the device's protocol picks the text.
"""

from __future__ import annotations

from typing import Any, Mapping

_TELTONIKA_APN = (
    "Set the APN to \"{apn}\": send the SMS \"  setparam 2001:{apn}\" (two spaces first when no SMS "
    "login is set, otherwise \"<login> <password> setparam 2001:{apn}\"), or the GPRS command "
    "\"setparam 2001:{apn}\" over Codec 12 while it is online; clear a wrong APN user and password "
    "with \"setparam 2002:\" and \"setparam 2003:\"."
)
_GT06_APN = (
    "Set the APN to \"{apn}\": send the SMS \"APN,{apn}#\" to the tracker's number (some firmware "
    "wants \"APN,666666,{apn}#\" with the SMS password), then \"RESET#\"."
)
_GENERIC_APN = "Set the tracker's APN to \"{apn}\" (see the tracker's SMS command list), then restart it."


def apn_hint(protocol: str | None, apn: str | None) -> str:
    """The command that sets the APN the SIM profile expects, in the tracker's own syntax."""
    apn = apn or "<APN from the SIM contract>"
    if protocol == "teltonika":
        return _TELTONIKA_APN.format(apn=apn)
    if protocol == "gt06":
        return _GT06_APN.format(apn=apn)
    return _GENERIC_APN.format(apn=apn)


def _hours(seconds: Any) -> str:
    try:
        return f"{float(seconds) / 3600:.0f} h"
    except (TypeError, ValueError):
        return "some time"


def hint(code: str, protocol: str | None, evidence: Mapping[str, Any], device: Mapping[str, Any] | None) -> str:
    """What to do about ``code`` for this device."""
    device = device or {}
    if code == "ACTIVATION_PENDING":
        return (
            "Nothing to do yet: a new tracker needs 12 to 24 hours after activation before its first "
            f"position appears. Check again after {evidence.get('expected_by', 'the 24 h window')}, with "
            "the vehicle outdoors and driven for a few minutes."
        )
    if code == "NO_DATA_AFTER_ACTIVATION":
        return (
            "Check that the tracker is powered (LED on) and the SIM card is inserted and active, then "
            "check its APN and server address and port. " + apn_hint(protocol, device.get("apn"))
        )
    if code == "DEVICE_SILENT":
        return (
            f"The tracker has not reported for {_hours(evidence.get('silent_for_s'))}. Check the vehicle's "
            "battery and the tracker's fuse and power wires; if the vehicle is in an underground car park "
            "or abroad, it will resend what it stored once it has coverage again."
        )
    if code == "APN_MISCONFIGURED":
        return "The network refuses the tracker's data connection. " + apn_hint(
            protocol, evidence.get("expected_apn") or device.get("apn")
        )
    if code == "ROAMING_REJECTED":
        return (
            f"The SIM card is refused in {evidence.get('country') or 'the visited country'}. Activate "
            "roaming for this SIM (customer office can do it on the operator's portal); the tracker "
            "keeps its positions and sends them once it is accepted."
        )
    if code == "EU_COVERAGE_INACTIVE":
        return (
            f"The vehicle is in {evidence.get('country') or 'another country'}, but the account's plan "
            "covers only the home country, so it is not shown there. Order EU coverage for the account; "
            "positions appear again as soon as it is active."
        )
    if code == "GPS_NO_FIX":
        return (
            "The tracker gets no GPS position although the vehicle is in use: check the GPS antenna and "
            "its cable and connector, and that the tracker is not mounted under metal or a heated "
            "windscreen; for a tracker with a built-in antenna, mount it with the label facing the sky."
        )
    if code == "GPS_POOR_QUALITY":
        return (
            "Positions are imprecise (few satellites or jumps). Move the tracker or antenna to a place "
            "with a clear view of the sky, away from metal and other electronics."
        )
    if code == "IGNITION_ALWAYS_ON":
        return (
            "The ignition wire is connected to a permanent +12/24 V supply, so every park counts as "
            "driving. Reconnect it to a circuit that is live only with the key on (ACC or ignition)."
        )
    if code == "IGNITION_NOT_DETECTED":
        return (
            "The vehicle drives while the ignition input reads off: the ignition wire is not connected "
            "or loose. Connect it to the ACC/ignition circuit"
            + (", or switch ignition detection to movement (parameter 101 on FMB devices)." if protocol == "teltonika" else ".")
        )
    if code == "JOURNEY_FALSE_STARTS":
        return (
            "Short false journeys appear while the vehicle is parked. Fix the tracker firmly (it must "
            "not move with the vehicle's vibrations) and, if it detects ignition by movement, lower the "
            "movement sensitivity or use the ignition wire instead."
        )
    if code == "EXTERNAL_POWER_LOST":
        return (
            "The tracker has lost the vehicle's power and runs on its internal battery. Check the fuse, "
            "the power wires and the connector; if the vehicle's battery was disconnected, reconnect it."
        )
    if code == "BATTERY_LOW":
        return (
            "The tracker's internal battery is nearly empty and it will soon stop. Restore the vehicle "
            "power to the tracker; if the battery stays low with power connected, replace it."
        )
    if code == "CLOCK_INVALID":
        return (
            "The tracker's clock is wrong (reset or a firmware date bug), so its positions carry wrong "
            "times. Update the firmware and let it get a GPS fix outdoors; "
            + ("send \"getgps\" to check the time it reports." if protocol == "teltonika" else "restart it.")
        )
    if code == "DATA_DELAYED":
        return (
            "Data arrives long after it was recorded: the tracker is sending stored records from a time "
            "without coverage, or sends too rarely. It catches up by itself when coverage is good; if it "
            "persists, check its sending period and the SIM's data allowance."
        )
    if code == "LOW_GSM_SIGNAL":
        return (
            "The mobile signal is weak where the tracker is mounted. Move it away from metal, or fit an "
            "external GSM antenna; data may arrive late meanwhile."
        )
    if code == "PROTOCOL_ERRORS":
        return (
            f"The server cannot read what the tracker sends ({evidence.get('last_error') or 'undecodable frames'}). "
            "Check that the tracker points at the port of its own protocol (Teltonika 5027, GT06 5023) "
            "and that its firmware is supported."
        )
    return "Contact support with the tracker's IMEI."
