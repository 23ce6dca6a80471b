"""The whole chain with real processes on 127.0.0.1: a simulated fleet with faults, the registry
import, connectivity events posted to the API, diagnostics, and self-checks read by each role."""

from __future__ import annotations

import csv
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from simulators.faults import assign_faults
from tests.integration.harness import ServerProcess, run_cli, start_simulator

pytestmark = pytest.mark.slow
FAULTS = {"power_cut": 1, "wrong_apn": 1, "eu_coverage": 1}
SEED = 5
DEVICES = 6


def get(port: int, path: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value)) if value else set()
    return set()


def token(server: ServerProcess, role: str, account: str | None = None) -> str:
    args = ["tokens", "create", "--role", role, "--data-dir", str(server.data_dir)]
    result = run_cli(args + (["--account", account] if account else []))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.longest
def test_fleet_with_faults_gives_findings_and_role_filtered_selfchecks(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_toml="[diagnostics]\nbatch_check_min_interval_s = 1\n").start()
    try:
        listeners = json.loads((server.data_dir / "listening.json").read_text())["listeners"]
        api = next(entry["port"] for entry in listeners if entry["protocol"] == "http-api")
        fleet = ["--mix", f"teltonika-tcp={DEVICES}", "--seed", str(SEED),
                 "--faults", ",".join(f"{name}:{count}" for name, count in FAULTS.items()),
                 "--teltonika-port", str(server.ports["teltonika"])]
        registry = tmp_path / "fleet.csv"
        simulator = start_simulator([*fleet, "--registry-only", "--registry-csv", str(registry)], tmp_path / "r.log")
        assert simulator.wait(30) == 0
        assert run_cli(["devices", "import", str(registry), "--data-dir", str(server.data_dir)]).returncode == 0
        rows = list(csv.DictReader(registry.open()))
        assigned = assign_faults(["teltonika"] * DEVICES, FAULTS, SEED)
        faults = dict(zip(assigned, (row["imei"] for row in rows), strict=True))
        accounts = {row["imei"]: row["account"] for row in rows}
        power_cut, wrong_apn = faults["power_cut"], faults["wrong_apn"]
        own = accounts[power_cut]
        stranger = next(imei for imei, account in accounts.items() if account != own)

        technical = token(server, "technical")
        customer = token(server, "customer", own)
        office = token(server, "customer_office")
        (tmp_path / "token").write_text(technical + "\n")
        sim = start_simulator([*fleet, "--interval", "1", "--duration", "16", "--drain-timeout", "10",
                               "--api", f"http://127.0.0.1:{api}", "--token-file", str(tmp_path / "token")],
                              tmp_path / "sim.log")
        assert sim.wait(60) == 0, (tmp_path / "sim.log").read_text()

        found: dict[str, set[str]] = {}
        for _ in range(100):  # the commit-triggered check runs at most once a second per device
            status, body = get(api, "/api/v1/findings", technical)
            assert status == 200
            found = {}
            for finding in body["findings"]:
                found.setdefault(finding["imei"], set()).add(finding["code"])
            if "EXTERNAL_POWER_LOST" in found.get(power_cut, set()):
                break
            time.sleep(0.2)
        assert "EXTERNAL_POWER_LOST" in found[power_cut]
        assert not keys_anywhere(body) & {"contact_name", "email", "phone", "msisdn"}
        assert own not in json.dumps(body)

        status, selfcheck = get(api, f"/api/v1/devices/{power_cut}/selfcheck", customer)
        assert status == 200 and selfcheck["overall"] == "problem"
        power = next(check for check in selfcheck["checks"] if check["id"] == "power")
        assert power["status"] == "fail" and power["finding"] == "EXTERNAL_POWER_LOST" and "fuse" in power["hint"]

        status, apn_check = get(api, f"/api/v1/devices/{wrong_apn}/selfcheck", technical)
        connectivity = next(check for check in apn_check["checks"] if check["id"] == "connectivity")
        assert connectivity["finding"] == "APN_MISCONFIGURED" and "setparam 2001:" in connectivity["hint"]

        for path in ("", "/selfcheck", "/records", "/journeys"):
            status, error = get(api, f"/api/v1/devices/{stranger}{path}", customer)
            assert status == 404 and error["error"]["code"], path

        status, office_view = get(api, f"/api/v1/devices/{power_cut}/selfcheck", office)
        assert status == 200 and not keys_anywhere(office_view) & {"lat", "lon", "last_lat", "last_lon"}

        cli = run_cli(["selfcheck", power_cut, "--json", "--data-dir", str(server.data_dir)])
        assert cli.returncode == 0 and json.loads(cli.stdout)["overall"] == "problem"
        text = run_cli(["selfcheck", power_cut, "--data-dir", str(server.data_dir)])
        assert "What to do:" in text.stdout and "PROBLEM" in text.stdout
        assert run_cli(["selfcheck", "000000000000000", "--data-dir", str(server.data_dir)]).returncode == 1
    finally:
        assert server.stop() == 0
