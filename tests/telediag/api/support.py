"""Shared set-up of the API tests: a populated store, tokens for every role, a fake diagnostics view,
the API service on a free 127.0.0.1 port, and HTTP clients (twisted.web Agent and raw sockets)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.trial import unittest
from twisted.web.client import Agent, FileBodyProducer, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers

from protocols.record import Record, iso_utc
from telediag.api.service import ApiService
from telediag.api.tokens import create_token
from telediag.app import build_desk
from telediag.config import ApiConfig, Config, StoreConfig
from telediag.registry import repository
from telediag.registry.entries import parse_entry
from telediag.store.database import Connection
from telediag.store.writer import ConnectionChange, RecordBatch, Store
from telediag.tickets.desk import TicketDesk
from tests.stores import database_at

ACME, BETA = "Acme Logistics", "Beta Transport"
IMEI_A, IMEI_A2, IMEI_B, IMEI_AUTO = "356307042441013", "356307042441021", "356307042441039", "356307042441047"
ICCID_A, ICCID_B = "8948011234567890123", "8948011234567890131"
LAT_A, LON_A, LAT_B, LON_B = 52.2297, 21.0122, 50.0647, 19.9450
PERSONAL_VALUES = (
    ACME, BETA, "Jan Kowalski", "jan.kowalski@acme.example", "+48 600 100 200", "48600111222",
    "Anna Nowak", "anna@beta.example", "+48 600 300 400", "48600333444", "WX 1234A", "KR 9876B",
)
T0 = 1_750_000_000.0
ROLE_TOKENS = ("customer", "customer_b", "customer_office", "technical", "it", "admin")


def record(imei: str, second: int, lat: float, lon: float) -> Record:
    return Record(imei=imei, protocol="teltonika", fix_time=T0 + second, valid=True, lat=lat, lon=lon,
                  altitude_m=100.0, speed_kmh=50.0, course_deg=90.0, satellites=9, hdop=1.0, ignition=True,
                  motion=True, ext_voltage_v=13.8, battery_voltage_v=4.1, gsm_signal_pct=80,
                  operator=26001, roaming=False, odometer_m=1000.0, attributes={"io66": 24079})


def populate(path: Path) -> dict[str, str]:
    """A store with two accounts (contacts, SIMs), four devices, records, state and events; tokens."""
    store = Store(database_at(path))
    store.commit([RecordBatch(IMEI_A, "teltonika", [record(IMEI_A, i, LAT_A + i / 1e4, LON_A) for i in range(5)],
                              T0 + 10),
                  RecordBatch(IMEI_B, "teltonika", [record(IMEI_B, i, LAT_B, LON_B) for i in range(3)], T0 + 10),
                  ConnectionChange(IMEI_A, "teltonika", True, "10.0.0.1:5000", T0 + 1)])
    store.close()
    db = database_at(path).connect()
    rows = [
        {"imei": IMEI_A, "protocol": "teltonika", "account": ACME, "vehicle_plate": "WX 1234A",
         "iccid": ICCID_A, "apn": "internet", "roaming": "true", "coverage": "eu", "home_country": "PL",
         "activated_at": "2025-06-01T00:00:00Z", "report_interval_s": "60"},
        {"imei": IMEI_A2, "protocol": "teltonika", "account": ACME},
        {"imei": IMEI_B, "protocol": "teltonika", "account": BETA, "vehicle_plate": "KR 9876B",
         "iccid": ICCID_B, "coverage": "domestic", "home_country": "PL"},
    ]
    repository.save(db, [parse_entry(r) for r in rows], T0, "import")
    repository.save(db, [parse_entry({"imei": IMEI_AUTO, "protocol": "gt06"})], T0, "auto")
    db.execute("UPDATE accounts SET contact_name = 'Jan Kowalski', email = 'jan.kowalski@acme.example', "
               "phone = '+48 600 100 200' WHERE name = ?", (ACME,))
    db.execute("UPDATE accounts SET contact_name = 'Anna Nowak', email = 'anna@beta.example', "
               "phone = '+48 600 300 400' WHERE name = ?", (BETA,))
    db.execute("UPDATE sim_profiles SET msisdn = '48600111222' WHERE iccid = ?", (ICCID_A,))
    db.execute("UPDATE sim_profiles SET msisdn = '48600333444' WHERE iccid = ?", (ICCID_B,))
    from telediag.diagnostics.connectivity_events import parse_event
    from telediag.store.connectivity import save_events

    save_events(db, [
        parse_event({"iccid": ICCID_A, "at": "2025-06-15T10:00:00Z", "type": "attach", "mcc": 260, "mnc": 1}),
        parse_event({"iccid": ICCID_A, "at": "2025-06-15T10:00:05Z", "type": "pdp_reject", "cause": 33,
                     "apn": "wrong.apn"}),
        parse_event({"imei": IMEI_B, "at": "2025-06-15T11:00:00Z", "type": "attach_reject", "cause": 11}),
    ], T0)
    tokens = {
        "customer": create_token(db, "customer", ACME, "acme portal", T0),
        "customer_b": create_token(db, "customer", BETA, None, T0),
        "customer_office": create_token(db, "customer_office", None, None, T0),
        "technical": create_token(db, "technical", None, None, T0),
        "it": create_token(db, "it", None, None, T0),
        "admin": create_token(db, "admin", None, None, T0),
    }
    db.close()
    return tokens


class FakeDiagnostics:
    """A stand-in for the real diagnostics view: fixed answers full of positions and personal data,
    so the tests see the policy remove them; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.failing: set[str] = set()

    def journeys(self, imei: str, since: float | None, until: float | None) -> list[dict[str, Any]]:
        self.calls.append(("journeys", imei, since, until))
        return [{"imei": imei, "start": iso_utc(T0), "end": iso_utc(T0 + 600), "start_lat": LAT_A,
                 "start_lon": LON_A, "end_lat": LAT_B, "end_lon": LON_B, "distance_m": 1200.0,
                 "max_speed_kmh": 90.0, "points": [[LAT_A, LON_A]]}]

    def close(self) -> None:
        """Holds no connections."""

    def selfcheck(self, imei: str) -> dict[str, Any]:
        self.calls.append(("selfcheck", imei))
        if imei in self.failing:
            raise RuntimeError("secret internal detail /var/lib/telediag")
        return {
            "imei": imei, "checked_at": iso_utc(T0 + 60), "overall": "attention",
            "checks": [
                {"id": "gnss", "status": "warn", "title": "GPS reception", "detail": "few satellites",
                 "hint": "check the antenna", "finding": "GPS_POOR_QUALITY",
                 "evidence": {"last_lat": LAT_A, "lastLon": LON_A, "satellites": 3, "hdop": 7.5,
                              "position": {"latitude": LAT_A, "longitude": LON_A}}},
                {"id": "coverage", "status": "ok", "title": "Coverage", "detail": "fine", "hint": None,
                 "finding": None,
                 "evidence": {"account": ACME, "contact_name": "Jan Kowalski",
                              "note": "write to jan.kowalski@acme.example", "msisdn": "48600111222"}},
            ],
        }

    def findings(self, imeis: set[str] | None, code: str | None, active: bool | None) -> list[dict[str, Any]]:
        self.calls.append(("findings", imeis, code, active))
        every = [
            {"imei": IMEI_A, "code": "GPS_POOR_QUALITY", "team": "technical", "severity": "warning",
             "active": True, "first_seen": iso_utc(T0), "last_seen": iso_utc(T0 + 60), "count": 2,
             "evidence": {"lat": LAT_A, "lon": LON_A, "hdop": 7.5, "positions": [[LAT_A, LON_A]],
                          "account": ACME, "email": "jan.kowalski@acme.example", "phone": "+48 600 100 200"},
             "hint": "check the antenna", "cleared_at": None},
            {"imei": IMEI_B, "code": "ROAMING_REJECTED", "team": "customer_office", "severity": "problem",
             "active": False, "first_seen": iso_utc(T0), "last_seen": iso_utc(T0 + 60), "count": 1,
             "evidence": {"accounts": [BETA], "contacts": {"name": "Anna Nowak"}, "msisdn": "48600333444",
                          "start_lat": LAT_B},
             "hint": "activate roaming", "cleared_at": iso_utc(T0 + 120)},
        ]
        return [f for f in every
                if (imeis is None or f["imei"] in imeis) and (code is None or f["code"] == code)
                and (active is None or f["active"] == active)]


@dataclass
class Answer:
    status: int
    headers: Headers
    data: bytes
    length: Any = None

    @property
    def json(self) -> Any:
        return orjson.loads(self.data)

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name.encode())
        return values[0].decode() if values else None


class BodyCollector(Protocol):
    """A response body, whole (twisted's readBody warns about finished transports)."""

    def __init__(self) -> None:
        self.data = b""
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any) -> None:
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(self.data)
        else:
            self.done.errback(reason)


class RawClient(Protocol):
    """A socket that sends bytes as given and keeps everything that comes back until closed."""

    def __init__(self) -> None:
        self.received = b""
        self.closed: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Any) -> None:
        self.closed.callback(self.received)


def walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """(path, key, value) of every dict entry and list item inside ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key, item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", None, item
            yield from walk(item, f"{path}[{index}]")


class ApiTestCase(unittest.TestCase):
    """Starts the API on a fresh populated store; ``call`` makes real HTTP requests."""

    with_desk = False
    """Whether the API runs with the ticket desk (``self.desk``), as ``telediag serve`` runs it."""

    def setUp(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="telediag-api-"))
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.config = Config(store=StoreConfig(data_dir=self.data_dir),
                             api=ApiConfig(listen="tcp:0:interface=127.0.0.1"))
        self.tokens = populate(self.config.database_path)
        self.diagnostics = FakeDiagnostics()
        self.agent = Agent(reactor)
        self.service: ApiService | None = None
        self.desk: TicketDesk | None = None

    @defer.inlineCallbacks
    def start(self, **api: Any) -> Any:
        config = dataclasses.replace(self.config, api=dataclasses.replace(self.config.api, **api))
        self.desk = build_desk(config) if self.with_desk else None
        self.service = ApiService(config, reactor, self.diagnostics, read_threads=2, desk=self.desk)
        self.service.startService()
        self.addCleanup(self.stop)
        port = yield self.service.ready
        return port

    def stop(self) -> Any:
        if self.service is not None and self.service.running:
            return self.service.stopService()
        return None

    @defer.inlineCallbacks
    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        """One request; ``token`` is a role name from ROLE_TOKENS or a literal token."""
        assert self.service is not None
        sent = Headers()
        if token is not None:
            sent.addRawHeader("Authorization", f"Bearer {self.tokens.get(token, token)}")
        if body is not None:
            raw = orjson.dumps(body)
            sent.addRawHeader("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            sent.setRawHeaders(name, [value])
        producer = FileBodyProducer(BytesIO(raw)) if raw is not None else None
        url = f"http://127.0.0.1:{self.service.port}{path.replace(' ', '%20')}"
        response = yield self.agent.request(method.encode(), url.encode(), sent, producer)
        collector = BodyCollector()
        response.deliverBody(collector)
        data = yield collector.done
        return Answer(response.code, response.headers, data, response.length)

    @defer.inlineCallbacks
    def raw(self, data: bytes) -> Any:
        """Send raw bytes on a new connection; everything received until the server closed it."""
        assert self.service is not None
        client = RawClient()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.service.port), client)
        client.transport.write(data)
        received = yield client.closed.addTimeout(10, reactor)
        return received

    def assertError(self, answer: Answer, status: int, code: str | None = None) -> dict[str, Any]:
        self.assertEqual(answer.status, status, answer.data)
        self.assertEqual(answer.header("Content-Type"), "application/json")
        error = answer.json["error"]
        self.assertEqual(set(error) - {"details"}, {"code", "message"})
        if code is not None:
            self.assertEqual(error["code"], code)
        return error

    def db(self) -> Connection:
        connection = database_at(self.config.database_path).connect()
        self.addCleanup(connection.close)
        return connection
