"""What the hostile server is fed before it is examined: a poisoned device, a faulty one, a customer's
ticket full of personal data. The rest of the fleet must go on being diagnosed around the poison."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from protocols.teltonika.device import encode_imei
from tests.hostile.payloads import NOW, fix, teltonika_tcp
from tests.hostile.server import BETA_DEVICE, HEALTHY, PLATES, POISONED, HostileServer
from tests.hostile.wire import send_stream

CUSTOMER_TEXT = (f"Truck {PLATES[HEALTHY].replace(' ', '').lower()} shows nothing since Monday. Call Jan Kowalski on "
                 "+48 600 100 200 or write to jan.kowalski@acme.example; SIM 48600111333.")
BAD_CRC_FRAMES = 6


def api_call(hostile: HostileServer, method: str, path: str, role: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One API request; (status, parsed JSON body or the raw bytes when it is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{hostile.api}{path}", data=data, method=method)
    if role is not None:
        request.add_header("Authorization", f"Bearer {hostile.tokens[role]}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def seed(hostile: HostileServer) -> int:
    """Feed the fleet; returns the id of the customer's ticket."""
    port = hostile.port("teltonika")
    absurd = [0xFFFFFFFFFFFFFFFF, 1_000_000, 4_102_444_800_000, 0]  # ms: beyond any calendar, 1970, 2100, 0
    frames = [teltonika_tcp(POISONED, fix(POISONED, "teltonika"), ms) for ms in absurd]
    send_stream(port, (encode_imei(POISONED), *frames))
    powerless = [teltonika_tcp(HEALTHY, fix(HEALTHY, "teltonika", fix_time=NOW - 300 + 10 * i, ext_voltage_v=0.0,
                                            battery_voltage_v=4.0)) for i in range(12)]
    broken = teltonika_tcp(HEALTHY, fix(HEALTHY, "teltonika"))
    broken = broken[:-4] + bytes(4)  # a CRC that cannot match: a NAK, an ingest error with an excerpt
    send_stream(port, (encode_imei(HEALTHY), *powerless, *[broken] * BAD_CRC_FRAMES))
    send_stream(port, (encode_imei(BETA_DEVICE),
                       *[teltonika_tcp(BETA_DEVICE, fix(BETA_DEVICE, "teltonika", fix_time=NOW - 200 + 10 * i))
                         for i in range(3)]))
    status, ticket = api_call(hostile, "POST", "/api/v1/tickets", "customer",
                              {"devices": [HEALTHY], "description": CUSTOMER_TEXT})
    assert status == 201, ticket
    status, _ = api_call(hostile, "POST", f"/api/v1/tickets/{ticket['id']}/comments", "customer",
                         {"text": "Also: my colleague Anna is on +48 601 222 333."})
    assert status == 201
    return int(ticket["id"])
