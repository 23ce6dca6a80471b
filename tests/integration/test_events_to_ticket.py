"""Connectivity events posted over HTTP to a real ``telediag serve`` become a finding and its ticket
within seconds, without any record from the device: the event-driven diagnosis end to end."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from protocols.record import iso_utc
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
IMEI = "356307042441013"
ICCID = "8948000000000000077"
WITHIN_S = 5.0


def call(port: int, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_pdp_rejects_posted_over_http_give_apn_misconfigured_and_its_ticket_within_seconds(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()  # the default debounce and change feed
    try:
        registry = tmp_path / "devices.csv"
        registry.write_text(
            "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at,"
            "report_interval_s\n"
            f"{IMEI},teltonika,Acme,WX 1234,{ICCID},fleet.example,true,domestic,PL,2026-01-01T00:00:00Z,60\n"
        )
        imported = run_cli(["devices", "import", str(registry), "--data-dir", str(server.data_dir)])
        assert imported.returncode == 0, imported.stderr
        created = run_cli(["tokens", "create", "--role", "technical", "--data-dir", str(server.data_dir)])
        token = created.stdout.strip()
        port = server.api_port

        now = time.time()
        events = [{"iccid": ICCID, "imei": IMEI, "at": iso_utc(now - 20 + i), "type": "pdp_reject", "cause": cause,
                   "apn": "internet", "mcc": 260, "mnc": 1, "rat": "4G"} for i, cause in enumerate((33, 27))]
        status, stored = call(port, "/api/v1/connectivity/events", token, events)
        assert status in (200, 201) and stored["stored"] == 2
        posted = time.monotonic()

        finding: dict[str, Any] | None = None
        ticket: dict[str, Any] | None = None
        while time.monotonic() - posted < WITHIN_S and ticket is None:  # a bounded poll of the API
            _, findings = call(port, "/api/v1/findings?code=APN_MISCONFIGURED", token)
            finding = next((f for f in findings["findings"] if f["imei"] == IMEI), None)
            if finding is not None:
                _, tickets = call(port, "/api/v1/tickets", token)
                ticket = next((t for t in tickets["tickets"] if IMEI in t["devices"]
                               and "APN_MISCONFIGURED" in {f["code"] for f in t["findings"]}), None)
            if ticket is None:
                time.sleep(0.1)
        assert finding is not None, f"no APN_MISCONFIGURED within {WITHIN_S} s:\n{server.log()[-3000:]}"
        assert finding["evidence"]["causes"] == [27, 33] and finding["evidence"]["expected_apn"] == "fleet.example"
        assert ticket is not None, f"no ticket for the finding within {WITHIN_S} s:\n{server.log()[-3000:]}"
        assert ticket["origin"] == "auto" and ticket["team"] == "technical"
    finally:
        assert server.stop() == 0
