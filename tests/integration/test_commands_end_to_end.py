"""Server commands through a real ``telediag serve`` on 127.0.0.1: queued over HTTP while the tracker
is away and delivered when it connects, its answer recorded; expiry; the SMS fallback POSTed to a
local gateway; who may send and read (real HTTP, every role); and a fix sent from an APN ticket that
the tracker takes (the ticket resolved with the evidence) or that never reaches it (priority raised)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from protocols.record import iso_utc
from tests.integration.harness import ServerProcess, run_cli
from tests.integration.teltonika_device import TeltonikaDevice
from tests.stores import database_at

pytestmark = pytest.mark.slow
IMEI_A, IMEI_B, IMEI_S, IMEI_OTHER = "356307042441013", "356307042441021", "356307042441039", "356307042441047"
IMEI_FIX, IMEI_LOST = "356307042441054", "356307042441062"
MSISDN = "48600111222"
HEADER = "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at,report_interval_s\n"


def call(port: int, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(what: str, found: Callable[[], Any], server: ServerProcess, within_s: float = 20.0) -> Any:
    """Poll ``found`` until it returns something truthy (a bounded wait, not a timing assertion)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {within_s} s:\n{server.log()[-4000:]}")


def register(server: ServerProcess, tmp_path: Path, rows: list[str]) -> None:
    registry = tmp_path / "devices.csv"
    registry.write_text(HEADER + "".join(row + "\n" for row in rows))
    imported = run_cli(["devices", "import", str(registry), "--data-dir", str(server.data_dir)])
    assert imported.returncode == 0, imported.stderr


def token(server: ServerProcess, role: str, account: str | None = None) -> str:
    args = ["tokens", "create", "--role", role, "--data-dir", str(server.data_dir)]
    created = run_cli(args + (["--account", account] if account else []))
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


class Gateway(BaseHTTPRequestHandler):
    """The SMS gateway: records each POST (headers and JSON body) and answers 202."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"path": self.path, "token": self.headers.get("X-Api-Key"),  # type: ignore[attr-defined]
                                     "type": self.headers.get("Content-Type"), "body": json.loads(body)})
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_commands_wait_for_the_device_expire_fall_back_to_sms_and_follow_the_roles(
        tmp_path: Path, gateway: ThreadingHTTPServer) -> None:
    sms_url = f"http://127.0.0.1:{gateway.server_address[1]}/send"
    server = ServerProcess(tmp_path / "data", extra_toml=(
        "[commands]\npoll_interval_s = 0.2\nmin_expires_in_s = 1\n"
        f'[sms]\nurl = "{sms_url}"\ntoken_header = "X-Api-Key"\ntoken = "gw-secret"\ndelay_s = 1\n'
        "poll_interval_s = 0.2\n")).start()
    try:
        register(server, tmp_path, [
            f"{IMEI_A},teltonika,Acme,WX 1,8948000000000000011,internet,true,domestic,PL,2026-01-01T00:00:00Z,60",
            f"{IMEI_B},teltonika,Acme,WX 2,,,,domestic,PL,2026-01-01T00:00:00Z,60",
            f"{IMEI_S},teltonika,Acme,WX 3,8948000000000000037,internet,true,domestic,PL,2026-01-01T00:00:00Z,60",
            f"{IMEI_OTHER},teltonika,Beta,KR 1,,,,domestic,PL,2026-01-01T00:00:00Z,60",
        ])
        db = database_at(server.database).connect()
        db.execute("UPDATE sim_profiles SET msisdn = ? WHERE iccid = '8948000000000000037'", (MSISDN,))
        db.close()
        port = server.api_port
        tokens = {role: token(server, role) for role in ("technical", "admin", "it", "customer_office")}
        tokens["customer"] = token(server, "customer", "Acme")
        tokens["stranger"] = token(server, "customer", "Beta")
        path = f"/api/v1/devices/{IMEI_A}/commands"

        # who may do what, over real HTTP
        for role in ("customer", "stranger", "customer_office", "it"):
            assert call(port, "POST", path, tokens[role], {"text": "getstatus"})[0] in (403, 404), role
        assert call(port, "GET", path, tokens["customer_office"])[0] == 403
        assert call(port, "GET", path, tokens["stranger"])[0] == 404
        assert call(port, "GET", f"/api/v1/devices/{IMEI_OTHER}/commands", tokens["customer"])[0] == 404
        status, refused = call(port, "POST", path, tokens["technical"], {"text": "", "expires_in_s": 10 ** 9, "x": 1})
        assert status == 400 and refused["error"]["code"] == "invalid_command"
        assert len(refused["error"]["details"]) == 3, refused

        # queued while the tracker is away, delivered when it connects, its answer recorded
        status, queued = call(port, "POST", path, tokens["technical"], {"text": "getstatus", "expires_in_s": 300})
        assert status == 201 and queued["state"] == "queued" and queued["created_by"].startswith("technical")
        device = TeltonikaDevice(IMEI_A, server.ports["teltonika"])
        try:
            device.send_record()
            device.serve(until="getstatus")
            answered = wait_for("the answer recorded", lambda: next(
                (c for c in call(port, "GET", path, tokens["customer"])[1]["commands"]
                 if c["id"] == queued["id"] and c["state"] == "answered"), None), server)
            assert answered["channel"] == "tcp" and answered["answer"].startswith("Data Link: 1")
            # and a command sent while it is connected goes out at once, after the first
            status, second = call(port, "POST", path, tokens["admin"], {"text": "getparam 2001"})
            device.serve(until="getparam 2001")
            wait_for("the second answer", lambda: call(port, "GET", path, tokens["it"])[1]["commands"][0]["answer"],
                     server)
        finally:
            device.close()
        listed = run_cli(["commands", "list", IMEI_A, "--format", "jsonl", "--data-dir", str(server.data_dir)])
        assert [json.loads(line)["state"] for line in listed.stdout.splitlines()] == ["answered", "answered"]

        # never connected, no SIM number: expired
        status, lapsing = call(port, "POST", f"/api/v1/devices/{IMEI_B}/commands", tokens["technical"],
                               {"text": "getinfo", "expires_in_s": 1})
        assert status == 201
        expired = wait_for("expiry", lambda: next(
            (c for c in call(port, "GET", f"/api/v1/devices/{IMEI_B}/commands", tokens["technical"])[1]["commands"]
             if c["state"] == "expired"), None), server)
        assert expired["id"] == lapsing["id"] and expired["sent_at"] is None

        # away with a SIM number: the gateway gets it as JSON with the token header
        status, texted = call(port, "POST", f"/api/v1/devices/{IMEI_S}/commands", tokens["technical"],
                              {"text": "getver", "expires_in_s": 600})
        assert status == 201
        received = wait_for("the SMS POST", lambda: gateway.received, server)  # type: ignore[attr-defined]
        assert received == [{"path": "/send", "token": "gw-secret", "type": "application/json",
                             "body": {"msisdn": MSISDN, "text": "getver"}}]
        sent = wait_for("the SMS recorded", lambda: next(
            (c for c in call(port, "GET", f"/api/v1/devices/{IMEI_S}/commands", tokens["admin"])[1]["commands"]
             if c["state"] == "sent" and c["sent_at"]), None), server)
        assert sent["channel"] == "sms" and sent["id"] == texted["id"]
        technical_view = call(port, "GET", f"/api/v1/devices/{IMEI_S}/commands", tokens["technical"])[1]
        assert MSISDN not in json.dumps(technical_view)
    finally:
        assert server.stop() == 0


def apn_ticket(server: ServerProcess, port: int, technical: str, imei: str, iccid: str) -> dict[str, Any]:
    """Network rejects of the SIM's data sessions (SM cause 27): APN_MISCONFIGURED and its ticket."""
    now = time.time()
    events = [{"iccid": iccid, "imei": imei, "at": iso_utc(now - 20 + i), "type": "pdp_reject", "cause": cause,
               "apn": "wrong.apn", "mcc": 260, "mnc": 1, "rat": "4G"} for i, cause in enumerate((33, 27))]
    assert call(port, "POST", "/api/v1/connectivity/events", technical, events)[0] in (200, 201)
    return wait_for("the APN ticket", lambda: next(
        (t for t in call(port, "GET", f"/api/v1/tickets?imei={imei}", technical)[1]["tickets"]
         if "APN_MISCONFIGURED" in {f["code"] for f in t["findings"]}), None), server)


def test_a_fix_sent_from_the_ticket_resolves_it_with_proof_or_raises_its_priority(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=(
        "[commands]\npoll_interval_s = 0.2\nproof_interval_s = 0.3\nproof_window_s = 8\n")).start()
    try:
        register(server, tmp_path, [
            f"{IMEI_FIX},teltonika,Acme,WX 5,8948000000000000052,fleet.example,true,domestic,PL,"
            "2026-01-01T00:00:00Z,60",
            f"{IMEI_LOST},teltonika,Acme,WX 6,8948000000000000060,fleet.example,true,domestic,PL,"
            "2026-01-01T00:00:00Z,60",
        ])
        port = server.api_port
        technical, customer = token(server, "technical"), token(server, "customer", "Acme")
        ticket = apn_ticket(server, port, technical, IMEI_FIX, "8948000000000000052")
        assert call(port, "POST", f"/api/v1/tickets/{ticket['id']}/fix", customer, {})[0] == 403
        status, fix = call(port, "POST", f"/api/v1/tickets/{ticket['id']}/fix", technical, {})
        assert status == 201, fix
        assert fix["text"] == "setparam 2001:fleet.example" and fix["ticket_id"] == ticket["id"]
        assert fix["proof"] == "waiting"
        assert call(port, "POST", f"/api/v1/tickets/{ticket['id']}/fix", technical, {})[0] == 409

        device = TeltonikaDevice(IMEI_FIX, server.ports["teltonika"], apn="wrong.apn")
        try:
            device.send_record()
            device.serve(until="setparam 2001:")
            assert device.apn == "fleet.example"
            # the network now accepts its data session, and it reports
            events = [{"iccid": "8948000000000000052", "imei": IMEI_FIX, "at": iso_utc(time.time()),
                       "type": "pdp_create", "apn": "fleet.example", "mcc": 260, "mnc": 1, "rat": "4G"}]
            assert call(port, "POST", "/api/v1/connectivity/events", technical, events)[0] in (200, 201)
            device.send_record()
            resolved = wait_for("the ticket resolved", lambda: (lambda t: t if t["state"] == "resolved" else None)(
                call(port, "GET", f"/api/v1/tickets/{ticket['id']}", technical)[1]), server)
        finally:
            device.close()
        kinds = [entry["kind"] for entry in resolved["timeline"]]
        assert "fix_sent" in kinds and "fix_proven" in kinds, resolved["timeline"]
        proof = next(entry["text"] for entry in resolved["timeline"] if entry["kind"] == "fix_proven")
        assert "setparam 2001:fleet.example" in proof and "took" in proof
        commands = call(port, "GET", f"/api/v1/devices/{IMEI_FIX}/commands", customer)[1]["commands"]
        mine = next(c for c in commands if c["id"] == fix["id"])
        assert mine["state"] == "answered" and mine["answer"] == "New value 2001:fleet.example"
        assert mine["proof"] == "proven"

        # a fix that never reaches its tracker: the ticket says so and is raised one step
        lost = apn_ticket(server, port, technical, IMEI_LOST, "8948000000000000060")
        assert call(port, "POST", f"/api/v1/tickets/{lost['id']}/fix", technical, {})[0] == 201
        raised = wait_for("the fix judged", lambda: (lambda t: t if any(
            e["kind"] == "fix_not_taken" for e in t["timeline"]) else None)(
            call(port, "GET", f"/api/v1/tickets/{lost['id']}", technical)[1]), server)
        order = ["P1", "P2", "P3", "P4"]
        assert order.index(raised["priority"]) == max(order.index(lost["priority"]) - 1, 0)
        assert raised["state"] != "resolved"
        note = next(e["text"] for e in raised["timeline"] if e["kind"] == "fix_not_taken")
        assert "did not take" in note and "never took the command" in note
    finally:
        assert server.stop() == 0


def test_with_ingest_workers_the_worker_holding_the_connection_delivers_the_command(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml=(
        "[ingest]\nworkers = 2\n[commands]\npoll_interval_s = 0.2\n")).start()
    try:
        register(server, tmp_path, [f"{IMEI_A},teltonika,Acme,WX 1,,,,domestic,PL,2026-01-01T00:00:00Z,60"])
        port, technical = server.api_port, token(server, "technical")
        path = f"/api/v1/devices/{IMEI_A}/commands"
        ids = [call(port, "POST", path, technical, {"text": text})[1]["id"] for text in ("getstatus", "getimei")]
        device = TeltonikaDevice(IMEI_A, server.ports["teltonika"])
        try:
            device.send_record()
            device.serve(until="getimei")
            answered = wait_for("both answers recorded", lambda: (lambda found: found if all(
                c["state"] == "answered" for c in found) else None)(
                [c for c in call(port, "GET", path, technical)[1]["commands"] if c["id"] in ids]), server)
        finally:
            device.close()
        assert [c for c in device.commands if c in ("getstatus", "getimei")] == ["getstatus", "getimei"]
        assert {c["answer"] for c in answered} == {"Data Link: 1 GPRS: 1 Phone: 0 SIM: 0 OpCode: 26001 Signal: 5",
                                                   "Unknown command: getimei"}
    finally:
        assert server.stop() == 0
