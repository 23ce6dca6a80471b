"""Raw traffic and wrong-protocol detection through a real ``telediag serve`` on 127.0.0.1: a GT06
tracker pointed at the Teltonika port gets PROTOCOL_ERRORS naming GT06 and the port it listens on with the command
that sets it; an unregistered one and a sender of garbage are listed as unknown senders; a tracker's
frames in and out are read over HTTP by technical, IT and admin and refused to customers and the
customer office; with ingest workers the parent reads the frames from the worker holding them."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from protocols import gt06
from tests.integration.harness import ServerProcess
from tests.integration.teltonika_device import TeltonikaDevice
from tests.integration.test_commands_end_to_end import call, register, token, wait_for

pytestmark = pytest.mark.slow
GT06_IMEI, STRANGER, TELTONIKA_IMEI = "356307042441070", "356307042441088", "356307042441096"
NOW = 1_767_000_000.0
ROW = "{imei},{protocol},Acme,WX 1,,,,domestic,PL,2026-01-01T00:00:00Z,60"


def knock(port: int, data: bytes) -> bytes:
    """Connect, send ``data``, read until the server closes; what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def protocol_errors(server: ServerProcess, who: str) -> list[dict[str, Any]]:
    status, body = call(server.api_port, "GET", f"/api/v1/findings?imei={GT06_IMEI}&code=PROTOCOL_ERRORS&active=true",
                        who)
    assert status == 200, body
    return list(body["findings"])


def test_a_gt06_tracker_on_the_teltonika_port_is_told_to_use_the_gt06_port(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=(
        "[diagnostics]\nprotocol_error_min = 3\nbatch_check_min_interval_s = 1\n")).start(timeout=60)
    try:
        register(server, tmp_path, [ROW.format(imei=GT06_IMEI, protocol="gt06")])
        tech = token(server, "technical")
        teltonika_port, gt06_port = server.ports["teltonika"], server.ports["gt06"]
        for serial in range(1, 4):  # the tracker retries, each time on a new connection
            assert knock(teltonika_port, gt06.encode_login(GT06_IMEI, serial)) == b"\x00"  # Teltonika's refusal
        (finding,) = wait_for("PROTOCOL_ERRORS", lambda: protocol_errors(server, tech), server)
        evidence = finding["evidence"]
        assert (evidence["detected_protocol"], evidence["detected_port"], evidence["port_protocol"]) == (
            "gt06", gt06_port, "teltonika")  # the port this service listens on for GT06, not the default
        assert evidence["last_error"].startswith("wrong protocol: gt06 frames on the teltonika port")
        assert finding["hint"].startswith(
            f"GT06 frames arrive on the Teltonika port: set the tracker's server port to {gt06_port}.")
        assert f"SERVER,1,<server address>,{gt06_port},0#" in finding["hint"]

        knock(teltonika_port, gt06.encode_login(STRANGER, 1))  # a tracker nobody registered
        knock(teltonika_port, b"\xde\xad\xbe\xef" * 8)  # bytes of no protocol
        status, unknown = call(server.api_port, "GET", "/api/v1/traffic/unknown", tech)
        assert status == 200 and not unknown["partial"]
        kinds = {(s["kind"], s["key"]) for s in unknown["senders"]}
        assert ("imei", STRANGER) in kinds and ("imei", GT06_IMEI) not in kinds
        (garbage,) = [s for s in unknown["senders"] if s["kind"] == "address"]
        assert garbage["key"].startswith("127.0.0.1:") and garbage["newest_frames"][0]["hex"] == "deadbeef" * 8
        detected = {(d["imei"], d["protocol"], d["default_port"], d["port_protocol"]) for d in unknown["detections"]}
        assert {(GT06_IMEI, "gt06", 5023, "teltonika"), (STRANGER, "gt06", 5023, "teltonika")} <= detected
        assert all(d["remote"].startswith("127.0.0.1:") for d in unknown["detections"])

        status, frames = call(server.api_port, "GET", f"/api/v1/devices/{STRANGER}/traffic", tech)
        assert status == 200 and frames["registered"] is False
        (received, refusal) = frames["frames"]
        assert (received["direction"], received["hex"]) == ("in", gt06.encode_login(STRANGER, 1).hex())
        assert received["error"].startswith("wrong protocol: gt06 frames on the teltonika port")
        assert (refusal["direction"], refusal["hex"], refusal["summary"]) == ("out", "00", "error reply")
    finally:
        server.stop()


def traffic_roles(server: ServerProcess, tmp_path: Path) -> None:
    """A Teltonika tracker's login, records and our answers, read by every role that may."""
    register(server, tmp_path, [ROW.format(imei=TELTONIKA_IMEI, protocol="teltonika"),
                                ROW.format(imei=GT06_IMEI, protocol="gt06").replace("Acme", "Beta")])
    device = TeltonikaDevice(TELTONIKA_IMEI, server.ports["teltonika"])
    try:
        device.send_record(NOW)
    finally:
        device.close()
    path = f"/api/v1/devices/{TELTONIKA_IMEI}/traffic"
    for role in ("technical", "it", "admin"):
        status, body = call(server.api_port, "GET", path, token(server, role))
        assert status == 200, body
        frames = body["frames"]
        assert [f["direction"] for f in frames] == ["in", "out", "in", "out"]
        assert frames[0]["summary"] == f"login {TELTONIKA_IMEI}" and frames[1]["hex"] == "01"
        assert frames[2]["summary"] == "avl: 1 record" and frames[3]["hex"] == "00000001"
        assert all(f["transport"] == "tcp" and f["remote"].startswith("127.0.0.1:") for f in frames)
    for role, account in (("customer", "Acme"), ("customer", "Beta"), ("customer_office", None)):
        status, body = call(server.api_port, "GET", path, token(server, role, account))
        assert status == 403, body
        status, body = call(server.api_port, "GET", "/api/v1/traffic/unknown", token(server, role, account))
        assert status == 403, body
    status, body = call(server.api_port, "GET", "/api/v1/devices/356307042449999/traffic", token(server, "it"))
    assert status == 404, body


def test_frames_in_and_out_are_read_by_role(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start(timeout=60)
    try:
        traffic_roles(server, tmp_path)
    finally:
        server.stop()


def test_with_ingest_workers_the_parent_reads_the_workers_frames(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml="[ingest]\nworkers = 2\n").start(timeout=60)
    try:
        traffic_roles(server, tmp_path)
    finally:
        server.stop()
