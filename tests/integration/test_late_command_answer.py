"""A command answer that comes late is not filed under the next command, through a real ``telediag
serve`` on 127.0.0.1: a GT06 tracker on a TCP socket holds its answer to the first command until that
command was reported unanswered and the second was written, then sends it, then the second's answer.
The first stays failed, the second gets its own answer, and the late answer is stored as the record it
is, logged as given to no command."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from protocols import gt06
from protocols.gt06.commands import ServerCommand
from protocols.record import Record
from tests.integration.harness import ServerProcess
from tests.integration.test_commands_end_to_end import call, register, token, wait_for
from tests.stores import database_at

pytestmark = pytest.mark.slow
IMEI = "356307042441070"
ANSWER_TIMEOUT_S = 3.0
"""Long enough for the second command's answer, sent as soon as the command arrives, on a loaded machine."""


class LateGt06Device:
    """A GT06 tracker on a blocking socket that answers server commands only when told to."""

    def __init__(self, imei: str, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.receiver = gt06.DeviceReceiver()
        self.serial = 0
        self.sock.sendall(gt06.encode_login(imei, self._next()))
        self._frames(lambda frame: frame.type_id == 0x01)
        fix = Record(imei=imei, protocol="gt06", fix_time=time.time(), valid=True, lat=52.2297, lon=21.0122,
                     speed_kmh=30.0, course_deg=90.0, satellites=9)
        self.sock.sendall(gt06.encode_location(fix, self._next()))

    def _next(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def _frames(self, wanted: Any, timeout_s: float = 30.0) -> Any:
        """Read the server's frames (ACKs, commands) until one is ``wanted``; that one."""
        deadline = time.monotonic() + timeout_s
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the server sent nothing awaited")
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            for frame in self.receiver.feed(data):
                if wanted(frame):
                    return frame

    def next_command(self) -> ServerCommand:
        """The next 0x80 command the server writes (ACKs before it are read past)."""
        frame = self._frames(lambda frame: frame.type_id == gt06.MSG_COMMAND)
        return gt06.decode_command(frame.content, frame.serial)

    def answer(self, command: ServerCommand, text: str) -> None:
        """The 0x15 answer echoing ``command``'s server flag, as the device sends it."""
        self.sock.sendall(gt06.encode_answer(text, command.server_flag, self._next()))

    def close(self) -> None:
        self.sock.close()


def commands(port: int, technical: str) -> dict[int, dict[str, Any]]:
    return {c["id"]: c for c in call(port, "GET", f"/api/v1/devices/{IMEI}/commands", technical)[1]["commands"]}


def test_a_late_answer_is_stored_but_not_filed_under_the_next_command(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=(
        f"[commands]\npoll_interval_s = 0.2\nanswer_timeout_s = {ANSWER_TIMEOUT_S}\n")).start()
    device: LateGt06Device | None = None
    try:
        register(server, tmp_path, [f"{IMEI},gt06,Acme,WX 7,,,,domestic,PL,2026-01-01T00:00:00Z,60"])
        port = server.api_port
        technical = token(server, "technical")
        path = f"/api/v1/devices/{IMEI}/commands"
        status, where = call(port, "POST", path, technical, {"text": "WHERE#", "expires_in_s": 300})
        assert status == 201
        status, battery = call(port, "POST", path, technical, {"text": "BAT#", "expires_in_s": 300})
        assert status == 201

        device = LateGt06Device(IMEI, server.ports["gt06"])
        first = device.next_command()
        assert first.text == "WHERE#"  # held: the tracker answers it only after the next one arrives
        second = device.next_command()  # written once the first was reported unanswered
        assert second.text == "BAT#" and second.server_flag != first.server_flag
        assert commands(port, technical)[where["id"]]["state"] == "failed"
        device.answer(first, "Lat:N52.229700,Lon:E21.012200")  # the first one's answer, late
        device.answer(second, "Battery:4.10V,NORMAL")

        answered = wait_for("the second command answered", lambda: next(
            (c for c in commands(port, technical).values() if c["id"] == battery["id"] and c["state"] == "answered"),
            None), server)
        assert answered["answer"] == "Battery:4.10V,NORMAL"
        failed = commands(port, technical)[where["id"]]
        assert failed["state"] == "failed" and failed["answer"] is None
        assert f"within {ANSWER_TIMEOUT_S:g} s" in failed["error"]

        def late_record() -> list[dict[str, Any]]:
            db = database_at(server.database).connect(readonly=True)
            try:
                rows = db.execute("SELECT attributes FROM records WHERE imei = ?", (IMEI,)).fetchall()
            finally:
                db.close()
            found = [json.loads(a) if isinstance(a, str) else a for (a,) in rows]
            return [a for a in found if a.get("result") == "Lat:N52.229700,Lon:E21.012200"]

        (kept,) = wait_for("the late answer stored as a record", late_record, server)
        assert kept["server_flag"] == first.server_flag
        wait_for("the unmatched answer logged", lambda: "given to no command" in server.log(), server)
        assert "the command 'WHERE#' after it stopped waiting" in server.log()
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{server.api_port}/metrics", timeout=10).read().decode()
        assert 'telediag_command_answers_unmatched_total{protocol="gt06"} 1.0' in scraped
    finally:
        if device is not None:
            device.close()
        assert server.stop() == 0
