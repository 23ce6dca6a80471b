"""Connection abuse and bad API input against the whole service: slow heads, malformed framing, too many
connections, absurd bodies, UDP bursts. Each gets a clear JSON answer or a close within its deadline,
nothing is stored from a refused request, and normal devices are answered all the while."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request

import pytest

from protocols.teltonika.device import encode_imei, encode_udp
from tests.hostile import tally
from tests.hostile.payloads import NOW, _imei, fix, teltonika_tcp
from tests.hostile.seed import api_call
from tests.hostile.server import (
    API_CONNECTIONS_PER_ADDRESS,
    FRAME_TIMEOUT_S,
    HEADER_TIMEOUT_S,
    HEALTHY,
    HostileServer,
    wait_for,
)
from tests.hostile.wire import http, parse_response, send_stream

pytestmark = pytest.mark.slow

GRACE_S = 3.0
"""How much later than its deadline a close may come on a loaded machine."""


def bearer(hostile: HostileServer, role: str = "admin") -> str:
    return f"Authorization: Bearer {hostile.tokens[role]}\r\n"


def bad_requests(hostile: HostileServer) -> list[tuple[str, bytes, set[int]]]:
    """(name, raw request, acceptable statuses): malformed framing and absurd bodies."""
    auth = bearer(hostile)
    device = json.dumps({"imei": _imei(7001), "account": "Acme Logistics"})

    def post(path: str, body: str, extra: str = "") -> bytes:
        data = body.encode()
        return (f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n{extra}"
                f"Content-Length: {len(data)}\r\n\r\n").encode() + data

    return [
        ("Content-Length abc",
         f"POST /api/v1/devices HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: abc\r\n\r\n".encode(), {400}),
        ("Content-Length -1", f"POST /api/v1/devices HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: -1\r\n\r\n".encode(),
         {400}),
        ("two Content-Lengths", (f"POST /api/v1/devices HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 2\r\n"
                                 "Content-Length: 2\r\n\r\n{}").encode(), {400}),
        ("Content-Length and chunked", (f"POST /api/v1/devices HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 2\r\n"
                                        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode(), {400, 411}),
        ("raw UTF-8 path", "GET /api/v1/devices/ąę HTTP/1.1\r\nHost: x\r\n\r\n".encode(), {400}),
        ("header of 64 KiB", f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 65536}\r\n\r\n".encode(), {431}),
        ("200 headers", ("GET /healthz HTTP/1.1\r\nHost: x\r\n"
                         + "".join(f"X-{i}: 1\r\n" for i in range(200)) + "\r\n").encode(), {431}),
        ("two Authorization headers", (f"GET /api/v1/devices HTTP/1.1\r\nHost: x\r\n{auth}{bearer(hostile, 'customer')}"
                                       "\r\n").encode(), {400}),
        ("Arabic-Indic digit in a ticket id", f"GET /api/v1/tickets/1%D9%A1 HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode(),
         {400, 404}),
        ("10,001 devices in one ticket", post("/api/v1/tickets", json.dumps(
            {"devices": [HEALTHY] * 10_001, "description": "many"})), {413}),
        ("10,000-character account name", post("/api/v1/devices", json.dumps(
            {"imei": _imei(7002), "account": "A" * 10_000})), {400}),
        ("IMEI as a JSON number", post("/api/v1/devices", json.dumps({"imei": int(_imei(7003))})), {400}),
        ("report_interval_s 1e308", post("/api/v1/devices", f'{{"imei": "{_imei(7004)}", "report_interval_s": 1e308}}'),
         {400}),
        ("report_interval_s NaN", post("/api/v1/devices", f'{{"imei": "{_imei(7005)}", "report_interval_s": NaN}}'),
         {400}),
        ("event cause 1e300", post("/api/v1/connectivity/events", json.dumps(
            {"imei": HEALTHY, "at": "2026-11-23T08:00:05Z", "type": "pdp_reject", "cause": 1e300})), {400}),
        ("body that is not JSON", post("/api/v1/devices", device[:-3]), {400}),
        ("declared body of 2 GiB", (f"POST /api/v1/devices HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json"
                                    "\r\nContent-Length: 2147483648\r\n\r\n").encode(), {413}),
        ("ticket comment of 1 MiB", post(f"/api/v1/tickets/{hostile.customer_ticket}/comments",
                                         json.dumps({"text": "x" * (1024 * 1024 - 100)})), {400, 413}),
    ]


def test_bad_api_input_gets_a_json_error_and_stores_nothing(hostile: HostileServer) -> None:
    before = hostile.query("SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM accounts), "
                           "(SELECT count(*) FROM connectivity_events), (SELECT count(*) FROM tickets)")
    failures = []
    for name, raw, statuses in bad_requests(hostile):
        status, headers, body = http(hostile.api, raw)
        try:
            error = json.loads(body)["error"]
            shaped = {"code", "message"} <= set(error) and headers.get("content-type") == "application/json"
        except (ValueError, KeyError, TypeError):
            shaped = False
        ok = status in statuses and shaped
        tally.count("bad API input", failures=0 if ok else 1)
        if not ok:
            failures.append(f"{name}: {status} {headers.get('content-type')} {body[:160]!r}")
    after = hostile.query("SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM accounts), "
                          "(SELECT count(*) FROM connectivity_events), (SELECT count(*) FROM tickets)")
    assert not failures, "\n".join(failures)
    assert after == before, "a refused request stored something"


def test_osmand_framing_errors_are_json(hostile: HostileServer) -> None:
    port = hostile.port("osmand")
    failures = []
    for name, raw in (
        ("Content-Length abc", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        ("header of 64 KiB", b"GET /?id=1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"),
        ("not HTTP", b"\x00\x01\x02 garbage\r\n\r\n"),
        ("no device id", b"GET /?lat=1&lon=2 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ):
        status, headers, body = http(port, raw)
        try:
            shaped = {"code", "message"} <= set(json.loads(body)["error"])
        except (ValueError, KeyError, TypeError):
            shaped = False
        ok = 400 <= status < 500 and shaped
        tally.count("bad ingest input", failures=0 if ok else 1)
        if not ok:
            failures.append(f"{name}: {status} {body[:160]!r}")
    assert not failures, "\n".join(failures)


def _trickle(port: int, start: bytes, results: list[float], stop: threading.Event) -> None:
    """Send ``start`` then one byte every 0.3 s; record how long the server let it go on."""
    began = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(start)
            while not stop.is_set() and time.monotonic() - began < 30:
                time.sleep(0.3)
                sock.sendall(b"X")
                sock.settimeout(0.01)
                try:
                    if sock.recv(65536) == b"":
                        break
                except TimeoutError:
                    pass
    except OSError:
        pass
    results.append(time.monotonic() - began)


def _served(hostile: HostileServer, n: int) -> bool:
    """A normal Teltonika device gets its login and record acknowledged; the API answers."""
    imei = _imei(8000 + n)
    _, answer = send_stream(hostile.port("teltonika"), (encode_imei(imei), teltonika_tcp(imei, fix(imei, "teltonika"))))
    healthy = urllib.request.urlopen(f"http://127.0.0.1:{hostile.api}/healthz", timeout=10).status == 200
    if answer != b"\x01\x00\x00\x00\x01":
        print(f"device {imei} was answered {answer.hex()} (login accept and one record expected)")
    return answer == b"\x01\x00\x00\x00\x01" and healthy


@pytest.mark.parametrize("target, start, deadline", [
    ("api", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", HEADER_TIMEOUT_S),
    ("osmand", b"GET /?id=356307040000001&lat=1 HTTP/1.1\r\nHost: x\r\nX-Slow: ", FRAME_TIMEOUT_S),
    ("teltonika", encode_imei("356307040000019") + b"\x00\x00\x00\x00\x00\x00\x01\x00", FRAME_TIMEOUT_S),
])
def test_slowloris_is_cut_off_at_its_deadline_while_devices_are_served(
        hostile: HostileServer, target: str, start: bytes, deadline: float) -> None:
    port = hostile.api if target == "api" else hostile.port(target)
    results: list[float] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_trickle, args=(port, start, results, stop)) for _ in range(20)]
    for thread in threads:
        thread.start()
    try:
        served = [_served(hostile, i) for i in range(5)]
    finally:
        for thread in threads:
            thread.join(deadline + GRACE_S + 5)
        stop.set()
    slow = [seconds for seconds in results if seconds > deadline + GRACE_S]
    tally.count("connection abuse", attempts=len(threads), failures=len(slow) + (len(threads) - len(results)))
    tally.count("connection abuse", attempts=len(served), failures=served.count(False))
    assert all(served), served
    assert len(results) == len(threads) and not slow, f"held open for {sorted(results)} s"


def test_too_many_api_connections_from_one_address_are_refused_with_json(hostile: HostileServer) -> None:
    held = []
    try:
        for _ in range(API_CONNECTIONS_PER_ADDRESS):
            held.append(socket.create_connection(("127.0.0.1", hostile.api), timeout=5))
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", hostile.api), timeout=5) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := extra.recv(65536):
                data += chunk
        status, headers, body = parse_response(data)
        ok = status == 503 and "code" in json.loads(body)["error"]
        tally.count("connection abuse", failures=0 if ok else 1)
        assert ok, data[:300]
    finally:
        for sock in held:
            sock.close()
    assert wait_for(lambda: api_call(hostile, "GET", "/healthz")[0] == 200, timeout=10)


_DROPS = re.compile(r'^telediag_udp_receive_drops(?:_total)?\{[^}]*protocol="teltonika"[^}]*\} ([0-9.e+]+)$', re.M)


def test_an_unpaced_udp_burst_is_stored_or_its_losses_are_counted(hostile: HostileServer) -> None:
    def drops() -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{hostile.api}/metrics", timeout=10).read().decode()
        return sum(float(v) for v in _DROPS.findall(text))

    imei = _imei(9500)
    datagrams = [encode_udp(imei, i, i & 0xFF, [fix(imei, "teltonika", fix_time=NOW - 5000 + i)]) for i in range(1000)]
    dropped_before = drops()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, ("127.0.0.1", hostile.port("teltonika")))

    def accounted() -> bool:
        stored = hostile.query("SELECT count(*) FROM records WHERE imei = ?", imei)[0][0]
        return stored + (drops() - dropped_before) == len(datagrams)

    ok = True
    try:
        wait_for(accounted, timeout=30, every=0.25)
    except AssertionError:
        ok = False
    stored = hostile.query("SELECT count(*) FROM records WHERE imei = ?", imei)[0][0]
    tally.count("connection abuse", attempts=len(datagrams), failures=len(datagrams) - stored)
    assert ok, f"{stored} stored, {drops() - dropped_before} counted as dropped, of {len(datagrams)}"
