"""The connection ladder through a real ``telediag serve``: the operator's feed, posted over HTTP, says
two trackers have an open data session; the one that never connects gets the verdict "tcp" with the
server address and port to set (not the APN) in the API's self-check and the CLI's, the one that
connects and sends fixes climbs past it."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from protocols.record import iso_utc
from tests.browser.console import import_devices, send_fixes
from tests.integration.harness import ServerProcess, run_cli

pytestmark = pytest.mark.slow
ELSEWHERE = "356307042441013"
"""Its data session is up, but it sends to another server: nothing reaches us."""
HERE = "356307042441021"
"""The same data session, and its fixes reach us."""
ICCIDS = {ELSEWHERE: "8948000000000000077", HERE: "8948000000000000085"}


def call(port: int, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def rungs(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rung["id"]: rung for rung in result["ladder"]["rungs"]}


def test_a_data_session_without_any_tcp_connection_is_told_the_server_address_not_the_apn(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        import_devices(server, "imei,protocol,account,iccid,apn,roaming,coverage,home_country,activated_at\n" + "".join(
            f"{imei},teltonika,Acme,{iccid},fleet.example,true,domestic,PL,2026-01-01T00:00:00Z\n"
            for imei, iccid in ICCIDS.items()))
        token = run_cli(["tokens", "create", "--role", "technical", "--data-dir", str(server.data_dir)]).stdout.strip()
        now = time.time()
        events = [{"iccid": iccid, "imei": imei, "at": iso_utc(now - 900 + offset), "type": kind, "apn": apn,
                   "mcc": 260, "mnc": 1, "rat": "LTE-M"}
                  for imei, iccid in ICCIDS.items()
                  for offset, kind, apn in ((0, "attach", None), (5, "pdp_create", "fleet.example"))]
        status, stored = call(server.api_port, "/api/v1/connectivity/events", token, events)
        assert status in (200, 201) and stored["stored"] == 4
        send_fixes(server, HERE)

        _, result = call(server.api_port, f"/api/v1/devices/{ELSEWHERE}/selfcheck", token)
        assert result["ladder"]["verdict"] == "tcp" and result["overall"] == "problem"
        ladder = rungs(result)
        assert [ladder[r]["status"] for r in ("sim", "attach", "data", "tcp")] == ["ok", "ok", "ok", "fail"]
        tcp = ladder["tcp"]
        assert "(so its APN is right), but nothing from it has reached the server" in tcp["detail"]
        assert "wrong server address or port" in tcp["detail"]
        assert "Set the tracker's server address to this service's address" in tcp["hint"]
        # the port the service listens on for the tracker's protocol ([listen]), not the protocol's default
        assert f'"  setparam 2004:<server address>;2005:{server.ports["teltonika"]};2006:0"' in tcp["hint"], tcp["hint"]
        assert "APN" not in tcp["hint"]
        [connection] = [c for c in result["checks"] if c["id"] == "connection"]
        assert connection["status"] == "fail" and connection["hint"] == tcp["hint"]

        _, polish = call(server.api_port, f"/api/v1/devices/{ELSEWHERE}/selfcheck?lang=pl", token)
        assert rungs(polish)["tcp"]["title"] == "Wiadomości docierają do serwera"
        assert "2004:<adres serwera>;2005:" in rungs(polish)["tcp"]["hint"]

        deadline = time.monotonic() + 10  # the fixes are committed within a second
        while True:
            _, reached = call(server.api_port, f"/api/v1/devices/{HERE}/selfcheck", token)
            if rungs(reached)["decoded"]["status"] == "ok" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [rungs(reached)[r]["status"] for r in ("data", "tcp", "identified", "decoded")] == ["ok"] * 4
        assert reached["ladder"]["verdict"] != "tcp"

        printed = run_cli(["selfcheck", ELSEWHERE, "--data-dir", str(server.data_dir)])
        assert printed.returncode == 0, printed.stderr
        assert "Connection ladder: the data stops at the step marked >>." in printed.stdout
        [marked] = [line for line in printed.stdout.splitlines() if line.startswith(">>")]
        assert marked.startswith(">> 4. [FAIL] Messages reach the server:")
        assert "setparam 2004:<server address>" in printed.stdout
        as_json = json.loads(run_cli(["selfcheck", ELSEWHERE, "--json", "--data-dir", str(server.data_dir)]).stdout)
        assert as_json["ladder"]["verdict"] == "tcp"
    finally:
        assert server.stop() == 0
