"""The hostile-input suite's real server: ``telediag serve`` with every protocol listening, a webhook
receiver and VictoriaMetrics as the InfluxDB export target, two accounts full of personal data, and a
token per role. Everything on 127.0.0.1, on free ports, stopped by the tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from protocols import registry
from telediag.store.database import Connection
from tests.integration.harness import ServerProcess, run_cli, with_store_section
from tests.stores import database_at
from tests.telediag.outbound.vmserver import VmServer

ACME, BETA = "Acme Logistics", "Beta Transport"
CONTACTS = {
    ACME: ("Jan Kowalski", "jan.kowalski@acme.example", "+48 600 100 200"),
    BETA: ("Anna Nowak", "anna@beta.example", "+48 600 300 400"),
}
POISONED = "356307042441013"
"""The device whose Teltonika record carries a timestamp of 0xFFFFFFFFFFFFFFFF ms."""
HEALTHY = "356307042441021"
"""A device of the same account that reports normally and loses its power feed."""
BETA_DEVICE = "356307042441039"
PLATES = {POISONED: "GD 49668", HEALTHY: "WX 1234A", BETA_DEVICE: "KR 9876B"}
MSISDNS = {POISONED: "48600111222", HEALTHY: "48600111333", BETA_DEVICE: "48600333444"}
PERSONAL_VALUES = (
    ACME, BETA, *[v for contact in CONTACTS.values() for v in contact], *PLATES.values(), *MSISDNS.values(),
)
ROLES = ("customer", "customer_b", "customer_office", "technical", "it", "admin")
HEADER_TIMEOUT_S = 1.5
FRAME_TIMEOUT_S = 1.5
API_CONNECTIONS_PER_ADDRESS = 40


class WebhookReceiver:
    """A plain HTTP server that keeps every webhook POST (body parsed) and answers 204."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/hooks"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def wait_for(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.1) -> Any:
    """Poll until ``check()`` is truthy; its value, or AssertionError naming what was waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {getattr(check, '__name__', check)}")
        time.sleep(every)


@dataclass
class HostileServer:
    """The running service and everything around it."""

    root: Path
    server: ServerProcess
    vm: VmServer
    webhooks: WebhookReceiver
    tokens: dict[str, str] = field(default_factory=dict)
    customer_ticket: int = 0

    @property
    def api(self) -> int:
        return self.server.api_port

    def port(self, protocol: str) -> int:
        return self.server.ports[protocol]

    def db(self) -> Connection:
        return database_at(self.server.database).connect(readonly=True)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = self.db()
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def stop(self) -> None:
        try:
            assert self.server.stop() == 0, self.server.log()
        finally:
            self.vm.stop()
            self.webhooks.stop()


def _config(server: ServerProcess, vm: VmServer, webhooks: WebhookReceiver) -> str:
    listen = "".join(
        f'{name} = ["tcp:{server.ports[name]}:interface=127.0.0.1"'
        + (f', "udp:{server.ports[name]}:interface=127.0.0.1"' if name == "teltonika" else "") + "]\n"
        for name in sorted(server.ports)
    )
    return (
        "[listen]\n" + listen
        + f'[api]\nlisten = "tcp:0:interface=127.0.0.1"\nheader_timeout_s = {HEADER_TIMEOUT_S}\n'
        f"body_timeout_s = {HEADER_TIMEOUT_S}\nmax_connections_per_address = {API_CONNECTIONS_PER_ADDRESS}\n"
        f"[ingest]\nframe_timeout_s = {FRAME_TIMEOUT_S}\nidle_timeout_s = 30\n"
        "[diagnostics]\nsweep_interval_s = 1\nbatch_check_min_interval_s = 1\n"
        "[tickets]\nsweep_interval_s = 1\n"
        f'[webhooks]\nurls = ["{webhooks.url}"]\nsecret = "hostile-suite"\n'
        f'[influxdb]\nurl = "{vm.url}"\norg = "telediag"\nbucket = "telemetry"\ntoken = "t"\n'
    )


def _registry(server: ServerProcess, root: Path) -> None:
    """Two accounts with contacts, plates and SIM numbers: the personal data no role may leak."""
    csv = root / "fleet.csv"
    rows = ["imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at,"
            "report_interval_s"]
    for imei, account, iccid in ((POISONED, ACME, "8948011234567890123"), (HEALTHY, ACME, "8948011234567890131"),
                                 (BETA_DEVICE, BETA, "8948011234567890149")):
        rows.append(f"{imei},teltonika,{account},{PLATES[imei]},{iccid},internet,false,domestic,PL,"
                    f"2026-01-01T00:00:00Z,30")
    csv.write_text("\n".join(rows) + "\n")
    done = run_cli(["devices", "import", str(csv), "--data-dir", str(server.data_dir)])
    assert done.returncode == 0, done.stderr
    db = database_at(server.database).connect()
    try:
        for account, (name, email, phone) in CONTACTS.items():
            db.execute("UPDATE accounts SET contact_name = ?, email = ?, phone = ? WHERE name = ?",
                       (name, email, phone, account))
        for imei, msisdn in MSISDNS.items():
            db.execute("UPDATE sim_profiles SET msisdn = ? WHERE iccid = "
                       "(SELECT iccid FROM devices WHERE imei = ?)", (msisdn, imei))
        db.commit()
    finally:
        db.close()


def start_hostile_server(root: Path) -> HostileServer:
    """Registry, tokens, integrations, then ``telediag serve``."""
    vm = VmServer(root / "vm").start()
    webhooks = WebhookReceiver()
    others = tuple(n for n in registry.names() if n not in ("teltonika", "gt06"))
    server = ServerProcess(root / "data", also_listen=others)
    server.data_dir.mkdir(parents=True)
    server.config_path.write_text(with_store_section(server.data_dir, _config(server, vm, webhooks)))
    _registry(server, root)
    hostile = HostileServer(root, server, vm, webhooks)
    for role in ROLES:
        account = {"customer": ACME, "customer_b": BETA}.get(role)
        args = ["tokens", "create", "--role", "customer" if account else role, "--data-dir", str(server.data_dir)]
        made = run_cli(args + (["--account", account] if account else []))
        assert made.returncode == 0, made.stderr
        hostile.tokens[role] = made.stdout.strip()
    server.start()
    return hostile
