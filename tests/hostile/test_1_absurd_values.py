"""Every absurd value the attack run found, over real sockets: stored with ``valid = false`` and the raw
value kept, or refused as an ingest error; never stored as a valid fix, never dropped in silence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hostile import tally
from tests.hostile.payloads import Payload, catalogue, every_protocol
from tests.hostile.server import POISONED, HostileServer, wait_for
from tests.hostile.wire import send_datagram, send_stream

pytestmark = pytest.mark.slow

PAYLOADS = catalogue(POISONED) + every_protocol()


def outcome(hostile: HostileServer, payload: Payload, local_port: int) -> dict[str, Any] | None:
    """What the server kept of a payload: its records and ingest errors (None while nothing is there)."""
    records = hostile.query("SELECT valid, lat, lon, speed_kmh, fix_time, attributes FROM records WHERE imei = ?",
                            payload.imei)
    errors = hostile.query("SELECT message FROM ingest_errors WHERE imei = ? OR remote = ?",
                           payload.imei, f"127.0.0.1:{local_port}")
    if not records and not errors:
        return None
    return {"records": [dict(zip(("valid", "lat", "lon", "speed_kmh", "fix_time", "attributes"), r, strict=True))
                        for r in records], "errors": [e[0] for e in errors]}


def problems(payload: Payload, found: dict[str, Any]) -> list[str]:
    """Everything wrong with what was stored for ``payload``."""
    wrong = []
    for record in found["records"]:
        attributes = json.loads(record["attributes"])
        lat, lon = record["lat"], record["lon"]
        if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
            wrong.append(f"impossible position stored: {lat}, {lon}")
        if record["speed_kmh"] is not None and not 0 <= record["speed_kmh"] <= 500:
            wrong.append(f"impossible speed stored: {record['speed_kmh']}")
        if record["fix_time"] is not None and not 946_684_800 <= record["fix_time"] <= 4_102_444_800:
            wrong.append(f"impossible time stored: {record['fix_time']}")
        for name in payload.invalid:
            if f"raw_{name}" not in attributes or record["valid"] != 0 or "invalid_reason" not in attributes:
                wrong.append(f"{name} not kept raw with valid = false: {record}")
    if payload.invalid and not found["records"] and not found["errors"]:
        wrong.append("nothing stored")
    return wrong


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.name for p in PAYLOADS])
def test_absurd_input_is_kept_raw_or_refused_never_valid_never_silent(hostile: HostileServer, payload: Payload) -> None:
    port = hostile.port(payload.protocol)
    if payload.transport == "udp":
        local, _ = send_datagram(port, payload.chunks[0])
    else:
        local, _ = send_stream(port, payload.chunks)
    try:
        found = wait_for(lambda: outcome(hostile, payload, local), timeout=10)
    except AssertionError:
        tally.count("bad ingest input", failures=1)
        raise AssertionError(f"{payload.name}: neither a record nor an ingest error (a silent drop)") from None
    wrong = problems(payload, found)
    tally.count("bad ingest input", failures=1 if wrong else 0)
    assert not wrong, f"{payload.name}: {wrong}"


def implausible_counts(hostile: HostileServer) -> dict[str, float]:
    """``telediag_implausible_records_total`` per protocol, as ``/metrics`` shows it now."""
    import re
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{hostile.api}/metrics", timeout=10).read().decode()
    return {protocol: float(value) for protocol, value in
            re.findall(r'^telediag_implausible_records_total\{protocol="([a-z0-9]+)"\} ([0-9.e+]+)$', text, re.M)}


def test_records_kept_raw_are_counted_on_metrics(hostile: HostileServer) -> None:
    """The payloads are sent again here: the server this test process shares with the tests above saw
    only those of them it ran (the tests are spread over several processes)."""
    before = implausible_counts(hostile)
    for payload in PAYLOADS:
        if payload.invalid and payload.protocol in ("teltonika", "gt06"):
            if payload.transport == "udp":
                send_datagram(hostile.port(payload.protocol), payload.chunks[0])
            else:
                send_stream(hostile.port(payload.protocol), payload.chunks)

    def counted() -> dict[str, float] | None:
        now = implausible_counts(hostile)
        added = {protocol: now[protocol] - before.get(protocol, 0) for protocol in now}
        # teltonika: 0xFFFF... ms, lat 200/lon 214, lat -214.7, 1970, 2100, speed 65535 (TCP) and lat 200 (UDP);
        # gt06: lat/lon 999. Month 13 is refused by the codec's date helper, before the pipeline.
        return added if added.get("teltonika", 0) >= 7 and added.get("gt06", 0) >= 1 else None

    wait_for(counted, timeout=10)
