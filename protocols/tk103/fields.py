"""TK103 constants, alarm tables and the record builder shared by the frame layouts."""

from __future__ import annotations

from protocols.record import RecordFields

PROTOCOL = "tk103"
DEFAULT_PORT = 5002

BO01_ALARMS: dict[int, str] = {
    1: "accident",
    2: "sos",
    3: "vibration",
    4: "low_speed",
    5: "overspeed",
    6: "geofence_exit",
}
"""Alarm digit of a ``BO01`` frame (the server answers ``AS01`` with the same digit)."""

BQ81_ALARMS: dict[int, str] = {
    0: "low_battery",
    1: "overspeed",
    2: "idle",
    3: "hard_acceleration",
    4: "hard_braking",
    5: "temperature",
}

COMMAND_EVENTS: dict[str, str] = {}
for _names, _event in (
    (("ZC11", "DW31", "DW51"), "movement"),
    (("ZC12", "DW32", "DW52"), "low_battery"),
    (("ZC13", "DW33", "DW53"), "power_cut"),
    (("ZC15", "DW35", "DW55"), "ignition_on"),
    (("ZC16", "DW36", "DW56"), "ignition_off"),
    (("ZC29", "DW42", "DW62"), "ignition_on"),
    (("ZC17", "DW37", "DW57"), "removing"),
    (("ZC25", "DW3E", "DW5E"), "sos"),
    (("ZC26", "DW3F", "DW5F"), "tamper"),
    (("ZC27", "DW40", "DW60"), "low_power"),
):
    for _name in _names:
        COMMAND_EVENTS[_name] = _event
"""Commands that are events in themselves (the ZC/DW families), as Traccar's ``decodeType``."""

BATTERY_LEVELS = {6: 100, 5: 80, 4: 50, 3: 20, 2: 10}
"""ZC20 battery level (0-6 scale) -> %."""

def apply_command(rec: Fields, command: str, data: str | None) -> None:
    """Event or ignition implied by the command word (and its alarm digit)."""
    event: str | None = None
    if command == "BQ81" and data and data[0].isdigit():
        event = BQ81_ALARMS.get(int(data[0]))
    elif command == "BO01" and data and data[0].isdigit():
        event = BO01_ALARMS.get(int(data[0]))
    else:
        event = COMMAND_EVENTS.get(command)
    if event == "ignition_on":
        rec.f["ignition"] = True
    elif event == "ignition_off":
        rec.f["ignition"] = False
    if event is not None:
        rec.f["event"] = event


class Fields(RecordFields):
    """The record being built from one frame (see ``RecordFields``)."""

    __slots__ = ()
    protocol = PROTOCOL
