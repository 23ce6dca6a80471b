"""Fleet page cost: ``GET /fleet`` over 10,000 devices, as a technical user sees it.

Builds a store in a temporary directory (registry entries over several accounts, protocols and SIMs,
records from several operators, device state, a mix of active findings over every device code and
cleared ones as history), serves it from a child process with the service's own HTTP API and console
(``ApiService`` with the diagnostics view ``telediag serve`` uses; no ingest listeners and no
diagnostics sweep, so the figures are the page's alone), signs in a technical user and times the first
page, each filter, a deep page and the live fragment over one kept-alive connection. Also times the
reader-thread work of the page (``telediag.web.fleet.fleet_view``) alone on the same file. Prints
figures; not part of the tests.

    .venv/bin/python bench/fleet_page_bench.py [--devices 10000] [--records 20] [--repeat 30]
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protocols.record import Record  # noqa: E402
from telediag.api.auth import Principal  # noqa: E402
from telediag.api.pseudonyms import Pseudonymiser, load_or_create_secret  # noqa: E402
from telediag.diagnostics.connectivity_events import parse_event  # noqa: E402
from telediag.diagnostics.findings import apply_verdicts  # noqa: E402
from telediag.registry.entries import parse_entry  # noqa: E402
from telediag.registry.repository import save  # noqa: E402
from telediag.store.connectivity import save_events  # noqa: E402
from telediag.store.reader import Reader  # noqa: E402
from telediag.store.sqlite import SQLiteDatabase  # noqa: E402
from telediag.store.writer import RecordBatch, Store  # noqa: E402
from telediag.web.fleet import FleetQuery, fleet_choices, fleet_view  # noqa: E402
from telediag.web.users import create_user  # noqa: E402

NOW = 1_795_000_000.0
PASSWORD = "fleet bench password"
PROTOCOLS = {"teltonika": 50, "gt06": 20, "h02": 10, "ruptela": 10, "osmand": 10}
"""Protocol mix; osmand reports no operator, so those devices take it from the SIM's events."""
OPERATORS = {26001: 35, 26002: 25, 26003: 20, 26006: 10, 24001: 5, 25001: 5}
ACCOUNTS = 60
CODE_WEIGHTS = {"DEVICE_SILENT": 20, "GPS_NO_FIX": 8, "GPS_POOR_QUALITY": 12, "LOW_GSM_SIGNAL": 15,
                "EXTERNAL_POWER_LOST": 6, "APN_MISCONFIGURED": 4, "DATA_DELAYED": 8, "IGNITION_ALWAYS_ON": 5,
                "JOURNEY_FALSE_STARTS": 4, "BATTERY_LOW": 5, "CLOCK_INVALID": 2, "PROTOCOL_ERRORS": 2,
                "ROAMING_REJECTED": 2, "EU_COVERAGE_INACTIVE": 2, "IGNITION_NOT_DETECTED": 3}


def pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), list(weights.values()))[0]


def build_store(data_dir: Path, devices: int, per_device: int, seed: int = 7) -> dict[str, int]:
    """The fleet in ``data_dir``'s store; returns what was stored."""
    rng = random.Random(seed)
    path = data_dir / "telediag.sqlite3"
    store = Store(SQLiteDatabase(path))
    fleet = []
    for n in range(devices):
        imei = f"35{n:013d}"
        protocol = pick(rng, PROTOCOLS)
        iccid = f"894801{n:013d}" if rng.random() < 0.9 else None
        fleet.append({"imei": imei, "protocol": protocol, "iccid": iccid, "operator": pick(rng, OPERATORS),
                      "account": f"Customer {rng.randrange(ACCOUNTS):02d} Sp. z o.o.",
                      "plate": f"WX {n:05d}", "seen": rng.random() > 0.03,
                      "last_seen": NOW - rng.expovariate(1 / 7200)})
    save(store._db, [parse_entry({
        "imei": d["imei"], "protocol": d["protocol"], "account": d["account"], "vehicle_plate": d["plate"],
        "iccid": d["iccid"], "apn": "iot.example" if d["iccid"] else None, "roaming": "true" if d["iccid"] else None,
        "coverage": "eu", "home_country": "PL", "activated_at": "2026-01-05T00:00:00Z", "report_interval_s": "60",
    }) for d in fleet], NOW - 90 * 86400, "import")
    seen = [d for d in fleet if d["seen"]]
    for start in range(0, len(seen), 250):
        batches = []
        for d in seen[start:start + 250]:
            operator = None if d["protocol"] == "osmand" else d["operator"]
            records = [Record(imei=d["imei"], protocol=d["protocol"], fix_time=d["last_seen"] - 60 * (per_device - i),
                              valid=True, lat=52.2 + i / 1e4, lon=21.0, speed_kmh=40.0, satellites=9, hdop=1.0,
                              ignition=True, ext_voltage_v=13.8, gsm_signal_pct=70, operator=operator)
                       for i in range(per_device)]
            batches.append(RecordBatch(d["imei"], d["protocol"], records, d["last_seen"]))
        store.commit(batches, flush_state=True)
    db = store._db
    save_events(db, [parse_event({"iccid": d["iccid"], "at": "2026-11-20T10:00:00Z", "type": "attach",
                                  "mcc": d["operator"] // 100, "mnc": d["operator"] % 100})
                     for d in fleet if d["iccid"]], NOW)
    for d in fleet:
        if not d["seen"]:
            apply_verdicts(db, d["imei"], {"NO_DATA_AFTER_ACTIVATION": {"bench": True}}, NOW - 3600)
            continue
        if rng.random() < 0.15:  # history: a finding raised and cleared again
            code = pick(rng, CODE_WEIGHTS)
            apply_verdicts(db, d["imei"], {code: {"bench": True}}, NOW - 86400)
            apply_verdicts(db, d["imei"], {code: None}, NOW - 80000)
        if rng.random() < 0.3:
            codes = {pick(rng, CODE_WEIGHTS) for _ in range(rng.choice((1, 1, 1, 2, 3)))}
            apply_verdicts(db, d["imei"], {code: {"bench": True} for code in codes}, NOW - rng.uniform(0, 86400))
    create_user(db, "tech", "technical", None, PASSWORD, NOW)
    counts = {"devices": len(fleet),
              "records": db.execute("SELECT count(*) FROM records").fetchone()[0],
              "active findings": db.execute("SELECT count(*) FROM findings WHERE active = 1").fetchone()[0],
              "findings rows": db.execute("SELECT count(*) FROM findings").fetchone()[0],
              "accounts": db.execute("SELECT count(*) FROM accounts").fetchone()[0]}
    store.close()
    return counts


def serve(data_dir: str) -> None:
    """Child process: the API and console on a free 127.0.0.1 port until stdin closes."""
    from twisted.internet import reactor, stdio
    from twisted.internet.protocol import Protocol

    from telediag.api.service import ApiService
    from telediag.config import ApiConfig, Config, StoreConfig
    from telediag.diagnostics.engine import DiagnosticsEngine, EngineView

    config = Config(store=StoreConfig(data_dir=Path(data_dir)), api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
                    listen={})
    engine = DiagnosticsEngine(SQLiteDatabase(config.database_path), config.diagnostics)
    service = ApiService(config, reactor, EngineView(engine, reactor))

    class Parent(Protocol):
        def connectionLost(self, reason: Any = None) -> None:
            service.stopService().addBoth(lambda _: reactor.stop())

    service.startService()
    service.ready.addCallback(lambda port: print(f"listening {port}", flush=True))
    stdio.StandardIO(Parent())
    reactor.run()


class Console:
    """One kept-alive connection to the console, signed in."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        began = time.perf_counter()
        self.http.request(method, path, data, headers)
        answer = self.http.getresponse()
        payload = answer.read()
        elapsed = time.perf_counter() - began
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return answer.status, payload, elapsed

    def sign_in(self, username: str) -> None:
        _, form, _ = self.request("GET", "/login")
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        status, _, _ = self.request("POST", "/login", {"username": username, "password": PASSWORD,
                                                        "csrf_token": csrf.group(1).decode()})
        assert status == 303, status


def figures(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {1000 * statistics.median(ordered):6.1f} ms  p95 {1000 * p95:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=20, help="records per device")
    parser.add_argument("--repeat", type=int, default=30, help="requests per measured URL")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir(mode=0o700)
        began = time.perf_counter()
        counts = build_store(data_dir, args.devices, args.records)
        print(f"store: {', '.join(f'{v:,} {k}' for k, v in counts.items())} "
              f"(built in {time.perf_counter() - began:.0f} s)")
        reader = Reader(SQLiteDatabase(data_dir / "telediag.sqlite3"))
        pseudonyms = Pseudonymiser(load_or_create_secret(data_dir))
        tech = Principal("technical")
        choices = fleet_choices()(reader)
        account = pseudonyms.account(choices["accounts"][0])
        pages, last = -(-args.devices // 50), -(-args.devices // 200)
        middle = pages // 2
        cases = {
            "first page": FleetQuery(),
            "code DEVICE_SILENT": FleetQuery(code="DEVICE_SILENT"),
            "code CLOCK_INVALID": FleetQuery(code="CLOCK_INVALID"),
            "protocol gt06": FleetQuery(protocol="gt06"),
            "operator 26002": FleetQuery(operator="26002"),
            "account (pseudonym)": FleetQuery(account=account),
            "all four filters": FleetQuery(code="LOW_GSM_SIGNAL", protocol="teltonika", operator="26001",
                                           account=account),
            f"deep page ({middle} of {pages}, 50 rows)": FleetQuery(page=middle),
            f"last page ({last}), 200 rows": FleetQuery(page=last, size=200),
        }
        print(f"\nreader-thread work alone (fleet_view), {args.repeat} runs each:")
        for name, wanted in cases.items():
            times = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                fleet_view(tech, pseudonyms, wanted)(reader)
                times.append(time.perf_counter() - began)
            print(f"  {name:34s} {figures(times)}")
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            fleet_choices()(reader)
            times.append(time.perf_counter() - began)
        print(f"  {'filter choices (fleet_choices)':34s} {figures(times)}")
        reader.close()

        child = subprocess.Popen([sys.executable, __file__, "--serve", str(data_dir)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, cwd=ROOT)
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline().split()[1])
            console = Console(port)
            console.sign_in("tech")
            print(f"\nGET over HTTP (server in a child process, one kept-alive connection), {args.repeat} each:")
            for name, wanted in cases.items():
                path = "/fleet?" + wanted.query_string()
                for live in (False, True):
                    url = path.replace("/fleet?", "/fleet/live?") if live else path
                    times, size, status = [], 0, 0
                    for _ in range(args.repeat):
                        status, body, elapsed = console.request("GET", url)
                        times.append(elapsed)
                        size = len(body)
                    assert status == 200, (status, url)
                    label = f"{name}{' (live fragment)' if live else ''}"
                    print(f"  {label:50s} {figures(times)}  {size / 1024:6.1f} KiB")
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(30)


if __name__ == "__main__":
    main()
