"""A simulated Teltonika tracker on a blocking socket, for tests against a real ``telediag serve``: it
logs in, sends records and waits for their ACK, and answers the server's Codec 12 commands as the
device does (``setparam 2001:<apn>`` changes its APN and answers ``New value 2001:<apn>``), built on
the device-side encoders of ``protocols.teltonika``."""

from __future__ import annotations

import socket
import time
from typing import Any

from protocols import teltonika
from protocols.record import Record


class TeltonikaDevice:
    """One tracker's TCP connection; ``commands`` lists every command it received, in order."""

    def __init__(self, imei: str, port: int, apn: str = "internet") -> None:
        self.imei = imei
        self.apn = apn
        self.commands: list[str] = []
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.receiver = teltonika.DeviceReceiver()
        self.sock.sendall(teltonika.encode_imei(imei))
        (login,) = self._events(until=lambda events: bool(events))
        assert isinstance(login, teltonika.LoginAnswer) and login.accepted

    def answer_to(self, text: str) -> str:
        """What the tracker answers to ``text``."""
        if text.startswith("setparam 2001:"):
            self.apn = text.split(":", 1)[1]
            return f"New value 2001:{self.apn}"
        if text == "getparam 2001":
            return f"Param ID:2001 Value:{self.apn}"
        if text == "getstatus":
            return "Data Link: 1 GPRS: 1 Phone: 0 SIM: 0 OpCode: 26001 Signal: 5"
        return f"Unknown command: {text}"

    def send_record(self, at: float | None = None, **values: Any) -> None:
        """One position (``values`` replace its fields); returns once the server acknowledged it
        (answering commands meanwhile)."""
        at = time.time() if at is None else at
        fields: dict[str, Any] = dict(imei=self.imei, protocol="teltonika", fix_time=at, valid=True, lat=52.2297,
                                      lon=21.0122, altitude_m=100.0, speed_kmh=30.0, course_deg=90.0, satellites=9,
                                      hdop=1.0, ignition=True)
        record = Record(**{**fields, **values})
        self.sock.sendall(teltonika.encode_avl([record]))
        self.receiver.expect_ack()
        self._events(until=lambda events: any(isinstance(e, teltonika.RecordAck) for e in events))

    def serve(self, until: str, timeout_s: float = 20.0) -> None:
        """Answer commands until one starting with ``until`` was answered."""
        self._events(until=lambda _: any(c.startswith(until) for c in self.commands), timeout_s=timeout_s)

    def _events(self, until: object, timeout_s: float = 20.0) -> list[teltonika.DeviceEvent]:
        seen: list[teltonika.DeviceEvent] = []
        deadline = time.monotonic() + timeout_s
        while not until(seen):  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError(f"device {self.imei}: nothing awaited arrived; commands so far {self.commands}")
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"device {self.imei}: the server closed the connection")
            for event in self.receiver.feed(data):
                seen.append(event)
                if isinstance(event, teltonika.ServerCommand):
                    self.commands.append(event.text)
                    self.sock.sendall(teltonika.encode_command_response(self.answer_to(event.text)))
        return seen

    def close(self) -> None:
        self.sock.close()
