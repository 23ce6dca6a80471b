"""Server side of one Ruptela TCP connection: bytes in, Login/Report/CommandResponse messages out.

Ruptela has no login: every packet carries the IMEI. The first good packet makes a ``Login``
(nothing to answer, so ``accept`` is None) ahead of its own message, so the service registers the
device before storing anything; a packet with another IMEI on the same connection closes it.
Record packets (commands 1 and 68) are answered with ``0002 6401 13BC`` in ``Report.ack``, which
the service sends only after the records are stored; DTCs (9) with ``0002 6D01 C4A4``;
identification (15) and heartbeat (16) with ``command + 100, 01``.

As in the other sessions, good messages decoded before a bad packet in the same chunk are returned
first and the error waits for the next ``feed`` (``pending``). A packet of a command nothing here
decodes (file transfer, an unknown command) is kept as a record without a fix carrying its data as
hex (``message_type``, ``raw_message``), never dropped unseen.
"""

from __future__ import annotations

from protocols.core import DEFAULT_MAX_FRAME, BufferedSession, CommandResponse, Login, Message, ProtocolError, Report
from protocols.record import Record
from protocols.ruptela.framing import SERVER_OFFSET, Packet, build_answer, take_packet
from protocols.ruptela.records import (
    CMD_DTCS,
    CMD_EXTENDED_RECORDS,
    CMD_RECORDS,
    Fields,
    decode_dtcs,
    decode_records,
)

RECORDS_ACK = build_answer(SERVER_OFFSET, b"\x01")
"""``0002 6401 13BC``: records received (Traccar's answer to commands 1 and 68)."""
DTCS_ACK = build_answer(SERVER_OFFSET + CMD_DTCS, b"\x01")
"""``0002 6D01 C4A4``: DTCs received."""

CMD_DEVICE_CONFIGURATION = 2
CMD_DEVICE_VERSION = 3
CMD_FIRMWARE_UPDATE = 4
CMD_SMS_VIA_GPRS_RESPONSE = 7
CMD_IDENTIFICATION = 15
CMD_HEARTBEAT = 16
CMD_SET_IO = 17
CMD_FILES = 37

TEXT_ANSWERS = frozenset((CMD_DEVICE_CONFIGURATION, CMD_DEVICE_VERSION, CMD_FIRMWARE_UPDATE, CMD_SMS_VIA_GPRS_RESPONSE))


class ServerSession(BufferedSession[Packet]):
    """Decodes one device's stream; its IMEI is known after the first good packet."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame)

    def _next_frame(self) -> Packet | None:
        return take_packet(self._buf, self.max_frame)

    def _decode(self, packet: Packet, out: list[Message]) -> None:
        imei = packet.imei
        if self.imei is None:
            self.imei = imei
            out.append(Login(imei, accept=None, reject=None))
        elif imei != self.imei:
            raise ProtocolError(f"IMEI {imei} on the connection of {self.imei}", close=True, excerpt=packet.raw)
        out.append(self._message(packet))

    def _malformed(self, packet: Packet, error: Exception) -> ProtocolError:
        return ProtocolError(f"malformed content in command {packet.command}: {error}", close=False, excerpt=packet.raw)

    def _build(self, fields: list[Fields]) -> tuple[Record, ...]:
        return tuple(f.build(self.imei) for f in fields)

    def _message(self, packet: Packet) -> Message:
        command = packet.command
        data = packet.data
        if command in (CMD_RECORDS, CMD_EXTENDED_RECORDS):
            return Report("records", self._build(decode_records(data, command)), RECORDS_ACK)
        if command == CMD_DTCS:
            return Report("dtcs", self._build(decode_dtcs(data)), DTCS_ACK)
        if command in (CMD_IDENTIFICATION, CMD_HEARTBEAT):
            kind = "identification" if command == CMD_IDENTIFICATION else "heartbeat"
            return Report(kind, (), build_answer(SERVER_OFFSET + command, b"\x01"))
        if command in TEXT_ANSWERS or command == CMD_SET_IO:
            if command == CMD_SET_IO:
                text = str(data[0])
            else:
                text = data.decode("latin-1").strip()
            rec = Fields()
            rec.a["result"] = text
            rec.a["command"] = command
            return CommandResponse(text, self._build([rec]))
        kind = "file" if command == CMD_FILES else f"unsupported_{command}"  # no layout: kept raw
        return Report(kind, self._build([Fields().keep_raw(f"command_{command}", data)]), None)
