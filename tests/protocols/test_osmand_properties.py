"""Property tests: no input breaks the OsmAnd session; requests decode the same however the bytes
arrive; Traccar Client requests built by the device side decode back to the same record."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.core import Login, Message, Report
from protocols.osmand import REJECT_QUERY, DeviceCodec, ServerSession
from protocols.record import Record
from tests.protocols.codec_properties import (
    arbitrary_bytes_test,
    arrival_test,
    bytewise,
    cut_points,
    decode_clean,
    examples,
    feed_all,
    mutated_frames_test,
    partial_frame_waits,
    split,
    two_pieces,
)

DEVICE = "phone-7f3a"
FAST = examples(80)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
OK_THEN_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
"""The ACK of a request that asked to close (a mutation can turn it into HTTP/1.0 or ``Connection: close``)."""

JSON_BODY = (
    b'{"location":{"timestamp":"2021-07-21T08:06:34.444Z","coords":{"latitude":-6.1148096,'
    b'"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"heading":63,"altitude":35.7},'
    b'"is_moving":true,"battery":{"level":0.79,"is_charging":false}},"device_id":"phone-7f3a"}'
)
FORM_BODY = b"id=phone-7f3a&timestamp=1377177267&lat=60.0&lon=30.0&speed=10.0&bearing=90.0"
STREAM = (
    b"GET /?id=phone-7f3a&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&speed=40 HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n\r\n"
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: " + str(len(FORM_BODY)).encode() + b"\r\n\r\n" + FORM_BODY
    + b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(JSON_BODY)).encode() + b"\r\n\r\n" + JSON_BODY
)


def client_error(reply: bytes | None) -> bool:
    """Bad requests are answered with a 4xx (or not at all)."""
    return reply is None or reply.startswith(b"HTTP/1.1 4")


def acked(message: Message) -> None:
    """A request decodes to its position and the 200 that acknowledges it, never to an empty report."""
    if isinstance(message, Report):
        assert message.ack in (OK, OK_THEN_CLOSE) and message.records


@pytest.fixture(scope="module")
def whole() -> list[Message]:
    messages = decode_clean(ServerSession(), [STREAM])
    assert messages[0] == Login(DEVICE, accept=None, reject=REJECT_QUERY)
    assert REJECT_QUERY.startswith(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n")
    assert [m.ack for m in messages[1:]] == [OK, OK, OK]
    return messages


test_byte_by_byte = arrival_test(ServerSession, STREAM, bytewise)
test_split_at_every_offset = arrival_test(ServerSession, STREAM, two_pieces)


def test_trailing_bytes_are_kept(whole: list[Message]) -> None:
    extra = b"GET /?id=phone-7f3a&lat=1.5&lon=2.5 HTTP/1.1\r\nHost: x\r\n\r\n"
    first, (report,) = partial_frame_waits(ServerSession(), STREAM, extra, 30)
    assert first == whole
    assert report.records[0].lat == 1.5 and report.ack == OK


test_arbitrary_bytes = arbitrary_bytes_test(lambda: ServerSession(max_frame=256), max_size=300, budget=FAST,
                                            replies=client_error, check=acked)


@FAST
@given(query=st.text(alphabet="abcdefghilnoprstuvw=&%.,-+0123456789T:Z", max_size=120),
       body=st.binary(max_size=80), json=st.booleans(), cuts=cut_points(4))
def test_well_framed_random_requests(query: str, body: bytes, json: bool, cuts: list[int]) -> None:
    """Valid HTTP carrying random parameters or bodies: a Report, or a 400 that keeps the connection."""
    kind = b"application/json" if json else b"application/x-www-form-urlencoded"
    request = (b"POST /?" + query.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: " + kind
               + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    session = ServerSession()
    feed_all(session, split(request + request, cuts), replies=client_error, check=acked, drain=False)
    assert session.feed(b"GET /?id=1&lat=1&lon=2 HTTP/1.1\r\nHost: x\r\n\r\n")[-1].ack == OK


test_mutated_stream = mutated_frames_test(ServerSession, [STREAM], max_edits=6, max_cuts=4, budget=FAST,
                                          replies=client_error, check=acked)


# --- round trips ---------------------------------------------------------------------------


@st.composite
def records(draw: st.DrawFn) -> Record:
    attributes = {}
    if draw(st.booleans()):
        attributes["battery_pct"] = draw(st.integers(0, 100))
        attributes["charging"] = draw(st.booleans())
    if draw(st.booleans()):
        attributes["accuracy_m"] = draw(st.floats(0, 5000))
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return Record(
        imei=DEVICE,
        protocol="osmand",
        fix_time=draw(maybe(st.integers(946_684_800_000, 4_102_444_799_000).map(lambda ms: ms / 1000))),
        valid=True,
        lat=draw(st.floats(-90, 90)),
        lon=draw(st.floats(-180, 180)),
        altitude_m=draw(maybe(st.floats(-500, 9000))),
        speed_kmh=draw(maybe(st.floats(0, 500))),
        course_deg=draw(maybe(st.floats(0, 359.99))),
        motion=draw(maybe(st.booleans())),
        odometer_m=draw(maybe(st.floats(0, 1e9))),
        event=draw(maybe(st.sampled_from(["sos", "motionchange", "geofence"]))),
        attributes=attributes,
    )


def round_trip(rec: Record, style: str) -> Record:
    codec = DeviceCodec(DEVICE, style=style)
    messages = decode_clean(ServerSession(), [codec.login() + codec.encode([rec])])
    login, report = messages
    assert login.imei == DEVICE and report.ack == OK
    assert codec.acks(report.ack) == 1
    (got,) = report.records
    return got


@FAST
@given(rec=records(), style=st.sampled_from(["query", "form", "json"]))
def test_round_trip(rec: Record, style: str) -> None:
    got = round_trip(rec, style)
    assert (got.imei, got.protocol, got.valid) == (DEVICE, "osmand", True)
    assert (got.lat, got.lon) == (rec.lat, rec.lon)
    if rec.fix_time is None:
        assert got.fix_time is None
    else:
        assert got.fix_time == pytest.approx(rec.fix_time, abs=1e-6)
    assert got.altitude_m == rec.altitude_m and got.course_deg == rec.course_deg
    if rec.speed_kmh is None:
        assert got.speed_kmh is None
    else:
        assert got.speed_kmh == pytest.approx(rec.speed_kmh, rel=1e-12, abs=1e-9)
    assert (got.motion, got.odometer_m, got.event) == (rec.motion, rec.odometer_m, rec.event)
    for key in ("battery_pct", "charging", "accuracy_m"):
        assert got.attributes.get(key) == rec.attributes.get(key), key


@FAST
@given(ignition=st.booleans(), sats=st.integers(0, 40), hdop=st.floats(0, 50),
       power=st.floats(0, 40), battery=st.floats(0, 5))
def test_query_carries_vehicle_fields(ignition: bool, sats: int, hdop: float, power: float, battery: float) -> None:
    rec = Record(imei=DEVICE, protocol="osmand", fix_time=1.7e9, valid=True, lat=1.0, lon=2.0, ignition=ignition,
                 satellites=sats, hdop=hdop, ext_voltage_v=power, battery_voltage_v=battery)
    got = round_trip(rec, "query")
    assert (got.ignition, got.satellites, got.hdop) == (ignition, sats, hdop)
    assert (got.ext_voltage_v, got.battery_voltage_v) == (power, battery)
