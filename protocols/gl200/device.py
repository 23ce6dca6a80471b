"""Device side of the Queclink text protocol: what a simulated GV300 sends, and its SACK parser.

Each record becomes one ``+RESP:GTFRI`` (or, for a record with an event, the message type that
carries it) with its own 4-hex count number; the server's default answer to each is
``+SACK:<count>$``. One :meth:`DeviceCodec.encode` call is one packet for the simulator, so
:meth:`DeviceCodec.acks` reports a packet once every message in it has its SACK.

Values travel at the protocol's text precision: 1e-6 degree, 0.1 km/h, whole degrees of course,
0.1 m, whole seconds, 0.1 km of mileage, 0.1 HDOP (a valid fix without an HDOP is sent as 1; an
invalid one as accuracy 0, "fix failed").
The device status byte has no "unknown motion" with a known ignition, so such a record is sent
as standing still; with both unknown no status is sent at all, and then the battery percentage,
which the server finds next to the status, is not read back either.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from protocols.gl200.commands import ServerCommand, decode_command
from protocols.gl200.fields import HARSH, PROTOCOL
from protocols.record import Record

VERSION = "060100"
"""Protocol version sent: GV300 (prefix 06), firmware 1.00 — the layout the decoder reads as GV."""

EVENT_TYPES = {
    "sos": "SOS", "overspeed": "SPD", "tow": "TOW", "idle": "IDL", "power_restored": "EPN",
    "power_lost": "EPF", "geofence": "GEO", "temperature": "TMP", "jamming": "JDR", "crash": "CRA",
    "hard_braking": "HBM", "hard_acceleration": "HBM", "hard_cornering": "HBM",
    "ignition_on": "IGN", "ignition_off": "IGF",
}
"""Event name -> message type that carries it (the others are sent in the GTFRI layout)."""

_HARSH_CODES = {name: code for code, name in sorted(HARSH.items(), reverse=True)}


def _time14(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(int(seconds)))


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _cell(record: Record) -> str:
    a = record.attributes
    mcc, mnc = a.get("mcc"), a.get("mnc")
    if mcc is None and record.operator is not None:
        op = record.operator
        mcc, mnc = (op // 1000, op % 1000) if op >= 100000 else (op // 100, op % 100)
    if mcc is None or mnc is None:
        return "0000,0000,0000,0000"  # keeps a position block findable when there is no fix
    lac, cid = a.get("lac") or 0, a.get("cell_id") or 0
    return f"{mcc:04d},{mnc:04d},{lac:04X},{cid:04X}"


def _block(record: Record) -> str:
    """``<accuracy>,<speed>,<course>,<altitude>,<lon>,<lat>,<UTC>,<MCC>,<MNC>,<LAC>,<cell>``."""
    if record.lat is None or record.lon is None or record.fix_time is None:
        return ",,,,,,," + _cell(record)
    if record.valid is False:
        accuracy = "0"
    else:
        hdop = min(max(record.hdop if record.hdop is not None else 1.0, 0.1), 50.0)
        accuracy = str(int(hdop)) if hdop == int(hdop) else f"{hdop:.1f}"
    course = None if record.course_deg is None else round(record.course_deg) % 360
    return ",".join((
        accuracy, _num(record.speed_kmh, ".1f"), _num(course, "d"), _num(record.altitude_m, ".1f"),
        f"{record.lon:.6f}", f"{record.lat:.6f}", _time14(record.fix_time), _cell(record),
    ))


def _status(record: Record) -> str:
    """``<Device Status>``: motion byte from ignition/motion, then the input and output bytes."""
    a = record.attributes
    if record.ignition is None and record.motion is None and "inputs" not in a:
        return ""
    base = {True: 0x20, False: 0x10, None: 0x40}[record.ignition]
    motion = base | (2 if record.motion else 1)
    inputs = a.get("inputs")
    if inputs is None:
        inputs = (2 if a.get("in1") else 0) | (4 if a.get("in2") else 0)
    outputs = a.get("outputs")
    if outputs is None:
        outputs = (1 if a.get("out1") else 0) | (2 if a.get("out2") else 0)
    return f"{motion:02X}{int(inputs) & 0xFF:02X}{int(outputs) & 0xFF:02X}"


def _hours(record: Record) -> str:
    seconds = record.attributes.get("engine_hours_s")
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 3600:05d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class DeviceCodec:
    """One simulated tracker's connection: count numbers, messages, and the server's SACKs."""

    protocol = PROTOCOL
    acks_positions = True

    def __init__(self, imei: str) -> None:
        if not (len(imei) == 15 and imei.isdigit()):
            raise ValueError(f"a Queclink IMEI is 15 digits, got {imei!r}")
        self.imei = imei
        self.count = 0
        self._rx = b""
        self._unacked: deque[int] = deque()
        """Messages still waiting for their SACK, per packet sent, oldest first."""
        self._answer_counts: set[str] = set()
        """Count numbers of command ACKs sent: their SACKs acknowledge no position."""
        self._commands: list[ServerCommand] = []

    def login(self) -> bytes:
        """Queclink devices do not log in: every message names the device."""
        return b""

    def _next_count(self) -> str:
        count = f"{self.count:04X}"
        self.count = (self.count + 1) & 0xFFFF
        return count

    def encode_one(self, record: Record) -> bytes:
        """One message for one record (GTFRI, or the message type of its event)."""
        event = record.event
        mtype = "FRI" if event is None else EVENT_TYPES.get(event)
        if mtype is None:
            raise ValueError(f"no Queclink message for event {event!r}; known: {sorted(EVENT_TYPES)}")
        mileage = "" if record.odometer_m is None else f"{min(record.odometer_m / 1000.0, 4294967.0):.1f}"
        send_time = record.attributes.get("send_time") or _time14(record.fix_time)
        head = f"+RESP:GT{mtype},{VERSION},{self.imei},"  # then an empty device name
        if mtype in ("IGN", "IGF"):
            duration = int(record.attributes.get("duration_s", 0))
            body = f"{duration},{_block(record)},00,{_hours(record)},{mileage}"
        else:
            power = "" if record.ext_voltage_v is None else str(round(record.ext_voltage_v * 1000))
            report_type = f"1{_HARSH_CODES[event]}" if mtype == "HBM" and event else "10"
            battery = record.attributes.get("battery_pct")
            level = "" if battery is None else int(battery)
            tail = f"00,{mileage},{_hours(record)},,,{level},{_status(record)},,,"
            body = f"{power},{report_type},1,{_block(record)},{tail}"
        return f"{head},{body},{send_time},{self._next_count()}$".encode()

    def encode(self, records: Sequence[Record]) -> bytes:
        """One packet: a message per record, concatenated."""
        packet = b"".join(self.encode_one(record) for record in records)
        if records:
            self._unacked.append(len(records))
        return packet

    def heartbeat(self, send_time: float) -> bytes:
        """``+ACK:GTHBD`` keep-alive (the server answers ``+SACK:GTHBD,...``, not a position ACK)."""
        return f"+ACK:GTHBD,{VERSION},{self.imei},,{_time14(send_time)},{self._next_count()}$".encode()

    def acks(self, data: bytes) -> int:
        """How many packets ``data`` completes the acknowledgement of (SACKs of heartbeats and of
        command answers count 0); ``AT+GT`` commands among the data wait in :meth:`take_commands`."""
        self._rx += data
        acked = 0
        while True:
            end = self._rx.find(b"$")
            if end < 0:
                self._rx = self._rx[-1024:]  # the start of a SACK or a command
                return acked
            sentence = self._rx[: end + 1].decode("latin-1")
            self._rx = self._rx[end + 1 :]
            start = max(sentence.rfind("+SACK:"), sentence.rfind("AT+"))
            if start < 0:
                continue
            sentence = sentence[start:]
            if sentence.startswith("AT+"):
                command = decode_command(sentence)
                if command is not None:
                    self._commands.append(command)
                continue
            body = sentence[6:-1]
            if body in self._answer_counts:
                self._answer_counts.discard(body)
                continue
            if body.startswith("GTHBD") or not self._unacked:
                continue
            self._unacked[0] -= 1
            if self._unacked[0] == 0:
                self._unacked.popleft()
                acked += 1

    def take_commands(self) -> list[ServerCommand]:
        """Server commands received since the last call, oldest first."""
        taken, self._commands = self._commands, []
        return taken

    def answer(self, command: ServerCommand, text: str) -> bytes:
        """``+ACK:GT<type>,<version>,<IMEI>,<name>,<text>,<serial>,<count>$`` (no send time: the
        simulated device keeps no clock)."""
        count = self._next_count()
        self._answer_counts.add(count)
        clean = text.replace(",", ";").replace("$", " ")
        return f"+ACK:GT{command.type},{VERSION},{self.imei},,{clean},{command.serial},{count}$".encode("latin-1")
