"""Plain-language fixes for each finding, with the exact device command where the fix is a setting.

Hints are written for the person who will act: a customer for activation, coverage and power, an
installer or support engineer for settings and wiring. Where the fix differs by tracker family (SMS
and GPRS command syntax), the device's protocol picks the text. Every hint is a translatable
:class:`~telediag.diagnostics.wording.Text`; device commands are values put into the message, never
part of it, so they stay literal in every language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocols.sniff import display_name, noted
from telediag.diagnostics.wording import N_, Text


def readable_time(value: Any) -> Any:
    """An ISO 8601 UTC time from the evidence as people read it (``2026-12-05 05:45 UTC``); any other
    value unchanged. The evidence keeps the exact time for staff and machines."""
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T" and value.endswith("Z"):
        return f"{value[:10]} {value[11:16]} UTC"
    return value


def _teltonika_apn(apn: str | Text) -> Text:
    return N_(
        "Set the APN to \"{apn}\": send the SMS \"{sms}\" (two spaces first when no SMS login is set, "
        "otherwise \"<login> <password> {command}\"), or the GPRS command \"{command}\" over Codec 12 while "
        "it is online; clear a wrong APN user and password with \"{clear_user}\" and \"{clear_password}\".",
        apn=apn, sms=Text("  setparam 2001:", apn), command=Text("setparam 2001:", apn),
        clear_user="setparam 2002:", clear_password="setparam 2003:",
    )


def _gt06_apn(apn: str | Text) -> Text:
    return N_(
        "Set the APN to \"{apn}\": send the SMS \"{sms}\" to the tracker's number (some firmware wants "
        "\"{sms_with_password}\" with the SMS password), then \"{reset}\".",
        apn=apn, sms=Text("APN,", apn, "#"), sms_with_password=Text("APN,666666,", apn, "#"), reset="RESET#",
    )


def apn_hint(protocol: str | None, apn: str | None) -> Text:
    """The command that sets the APN the SIM profile expects, in the tracker's own syntax."""
    # Translators: stands in for the APN, inside a device command, when the SIM profile has none.
    wanted: str | Text = apn or N_("<APN from the SIM contract>")
    if protocol == "teltonika":
        return _teltonika_apn(wanted)
    if protocol == "gt06":
        return _gt06_apn(wanted)
    return N_("Set the tracker's APN to \"{apn}\" (see the tracker's SMS command list), then restart it.",
              apn=wanted)


def server_hint(protocol: str | None, port: int | None, choices: str = "") -> Text:
    """The command that points the tracker at this service: its address and the port of its protocol.

    The service does not know the address trackers reach it by (NAT, DNS), so the command carries a
    placeholder for the address the customer was given; the port is the one the service listens on
    for ``protocol`` (``choices`` names them all when the protocol is not known)."""
    # Translators: stands in for this service's address (host name or IP), inside a device command.
    address = N_("<server address>")
    if port is None:
        return N_("Set the tracker's server address to this service's address and its port to the one of its "
                  "protocol ({choices}), over TCP.", choices=choices)
    if protocol == "teltonika":
        return N_(
            "Set the tracker's server address to this service's address and its port to {port}, over TCP: send "
            "the SMS \"{sms}\" (two spaces first when no SMS login is set), with the address you were given "
            "for your trackers.", port=port, sms=Text("  setparam 2004:", address, f";2005:{port};2006:0"))
    if protocol == "gt06":
        return N_(
            "Set the tracker's server address to this service's address and its port to {port}: send the SMS "
            "\"{sms}\" to the tracker's number (some firmware wants \"{sms_with_password}\" with the SMS "
            "password), with the address you were given for your trackers, then \"{reset}\".", port=port,
            sms=Text("SERVER,1,", address, f",{port},0#"),
            sms_with_password=Text("SERVER,666666,1,", address, f",{port},0#"), reset="RESET#")
    return N_("Set the tracker's server address to this service's address and its port to {port}, over TCP (see "
              "the tracker's SMS command list), then restart it.", port=port)


def wrong_port_hint(evidence: Mapping[str, Any]) -> Text | None:
    """For frames of another protocol (``protocols.sniff`` recognised them): the port the tracker
    should send to, and the command that sets it in that tracker's own syntax; None otherwise."""
    detected, port, port_protocol = (evidence.get("detected_protocol"), evidence.get("detected_port"),
                                     evidence.get("port_protocol"))
    if not (detected and port):
        found = noted(evidence.get("last_error"))
        if found is None:
            return None
        detected, port, port_protocol = found.protocol, found.default_port, found.port_protocol
    return _then(N_("{detected} frames arrive on the {port_protocol} port: set the tracker's server port to {port}.",
                    detected=display_name(str(detected)), port_protocol=display_name(str(port_protocol or "")),
                    port=port),
                 server_hint(str(detected), int(port)))


def _hours(seconds: Any) -> Text:
    try:
        hours = float(seconds) / 3600
    except (TypeError, ValueError):
        # Translators: a duration not known, as in "The tracker has not reported for {silent_for}."
        return N_("some time")
    return N_("{hours} h", hours=format(hours, ".0f"))


def _then(first: Text, second: Text) -> Text:
    """Two sentences of one hint, each translated on its own."""
    return Text(first, " ", second)


def hint(code: str, protocol: str | None, evidence: Mapping[str, Any], device: Mapping[str, Any] | None) -> Text:
    """What to do about ``code`` for this device."""
    device = device or {}
    if code == "ACTIVATION_PENDING":
        return N_(
            "Nothing to do yet: a new tracker needs 12 to 24 hours after activation before its first "
            "position appears. Check again after {expected_by}, with the vehicle outdoors and driven for a "
            "few minutes.",
            # Translators: as in "Check again after {expected_by}" when the time is not known.
            expected_by=readable_time(evidence.get("expected_by")) or N_("the 24 h window"),
        )
    if code == "NO_DATA_AFTER_ACTIVATION":
        return _then(N_(
            "Check that the tracker is powered (LED on) and the SIM card is inserted and active, then "
            "check its APN and server address and port."), apn_hint(protocol, device.get("apn")))
    if code == "DEVICE_SILENT":
        return N_(
            "The tracker has not reported for {silent_for}. Check the vehicle's battery and the tracker's "
            "fuse and power wires; if the vehicle is in an underground car park or abroad, it will resend "
            "what it stored once it has coverage again.",
            silent_for=_hours(evidence.get("silent_for_s")),
        )
    if code == "APN_MISCONFIGURED":
        return _then(N_("The network refuses the tracker's data connection."),
                     apn_hint(protocol, evidence.get("expected_apn") or device.get("apn")))
    if code == "ROAMING_REJECTED":
        return N_(
            "The SIM card is refused in {country}. Activate roaming for this SIM (customer office can do "
            "it on the operator's portal); the tracker keeps its positions and sends them once it is "
            "accepted.",
            # Translators: as in "The SIM card is refused in {country}." when the country is not known.
            country=evidence.get("country") or N_("the visited country"),
        )
    if code == "EU_COVERAGE_INACTIVE":
        return N_(
            "The vehicle is in {country}, but the account's plan covers only the home country, so it is "
            "not shown there. Order EU coverage for the account; positions appear again as soon as it is "
            "active.",
            # Translators: as in "The vehicle is in {country}" when the country is not known.
            country=evidence.get("country") or N_("another country"),
        )
    if code == "GPS_NO_FIX":
        return N_(
            "The tracker gets no GPS position although the vehicle is in use: check the GPS antenna and "
            "its cable and connector, and that the tracker is not mounted under metal or a heated "
            "windscreen; for a tracker with a built-in antenna, mount it with the label facing the sky."
        )
    if code == "GPS_POOR_QUALITY":
        return N_(
            "Positions are imprecise (few satellites or jumps). Move the tracker or antenna to a place "
            "with a clear view of the sky, away from metal and other electronics."
        )
    if code == "IGNITION_ALWAYS_ON":
        return N_(
            "The ignition wire is connected to a permanent +12/24 V supply, so every park counts as "
            "driving. Reconnect it to a circuit that is live only with the key on (ACC or ignition)."
        )
    if code == "IGNITION_NOT_DETECTED":
        if protocol == "teltonika":
            return N_(
                "The vehicle drives while the ignition input reads off: the ignition wire is not "
                "connected or loose. Connect it to the ACC/ignition circuit, or switch ignition detection "
                "to movement (parameter {parameter} on FMB devices).",
                parameter="101",
            )
        return N_(
            "The vehicle drives while the ignition input reads off: the ignition wire is not connected "
            "or loose. Connect it to the ACC/ignition circuit."
        )
    if code == "JOURNEY_FALSE_STARTS":
        return N_(
            "Short false journeys appear while the vehicle is parked. Fix the tracker firmly (it must "
            "not move with the vehicle's vibrations) and, if it detects ignition by movement, lower the "
            "movement sensitivity or use the ignition wire instead."
        )
    if code == "EXTERNAL_POWER_LOST":
        return N_(
            "The tracker has lost the vehicle's power and runs on its internal battery. Check the fuse, "
            "the power wires and the connector; if the vehicle's battery was disconnected, reconnect it."
        )
    if code == "BATTERY_LOW":
        return N_(
            "The tracker's internal battery is nearly empty and it will soon stop. Restore the vehicle "
            "power to the tracker; if the battery stays low with power connected, replace it."
        )
    if code == "CLOCK_INVALID":
        if protocol == "teltonika":
            return N_(
                "The tracker's clock is wrong (reset or a firmware date bug), so its positions carry wrong "
                "times. Update the firmware and let it get a GPS fix outdoors; send \"{command}\" to check "
                "the time it reports.",
                command="getgps",
            )
        return N_(
            "The tracker's clock is wrong (reset or a firmware date bug), so its positions carry wrong "
            "times. Update the firmware and let it get a GPS fix outdoors; restart it."
        )
    if code == "DATA_DELAYED":
        return N_(
            "Data arrives long after it was recorded: the tracker is sending stored records from a time "
            "without coverage, or sends too rarely. It catches up by itself when coverage is good; if it "
            "persists, check its sending period and the SIM's data allowance."
        )
    if code == "LOW_GSM_SIGNAL":
        return N_(
            "The mobile signal is weak where the tracker is mounted. Move it away from metal, or fit an "
            "external GSM antenna; data may arrive late meanwhile."
        )
    if code == "PROTOCOL_ERRORS":
        wrong_port = wrong_port_hint(evidence)
        if wrong_port is not None:
            return wrong_port
        return N_(
            "The server cannot read what the tracker sends ({error}). Check that the tracker points at the "
            "port of its own protocol (Teltonika {teltonika_port}, GT06 {gt06_port}) and that its firmware "
            "is supported.",
            # Translators: what went wrong, in "The server cannot read what the tracker sends ({error})."
            error=evidence.get("last_error") or N_("undecodable frames"), teltonika_port=5027, gt06_port=5023,
        )
    return N_("Contact support with the tracker's IMEI.")
