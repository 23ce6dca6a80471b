"""JT808 against the payloads of Traccar's ``Jt808ProtocolDecoderTest`` and ``Jt808FrameDecoderTest``.

Traccar's decoder tests hand the decoder a frame *after* its frame decoder has run: delimiters kept,
but ``7D`` escapes already resolved. A device sends the escaped form, so every payload is first
turned back into wire bytes (:func:`wire`: the inner bytes escaped); for the few payloads whose
data happen to contain ``7E``/``7D`` this is what makes them a single frame at all.

Traccar never checks the BCC, and some of its test frames are hand-edited or cut (the length field
then disagrees with the data, the BCC with both). Two rates are measured over the payloads Traccar
decodes to positions:

* **strict**: the wire bytes, BCC enforced; a frame whose only fault is its BCC must fail with a
  ProtocolError that says so and keeps the connection.
* **content** (asserted >= 90 %): the same, but such a frame is re-sealed with the right BCC
  first. This measures decoding Traccar's message layouts apart from the checksum policy.

Each payload goes to a fresh session, as each Traccar test has its own device: the session
identifies the terminal from the frame itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protocols.core import Login
from protocols.jt808 import ServerSession
from protocols.jt808.framing import Corrupt, bcc, escape, next_frame, unescape
from protocols.record import Record, iso_utc
from tests.protocols import traccar_vectors as traccar

entries = traccar.vectors("jt808", count=116)


def wire(payload: bytes) -> bytes:
    """A Traccar decoder-test payload as a terminal sends it: the bytes between the flags escaped."""
    if len(payload) >= 2 and payload[0] == 0x7E and payload[-1] == 0x7E:
        return b"\x7e" + escape(payload[1:-1]) + b"\x7e"
    return payload


def reseal(payload: bytes) -> bytes | None:
    """The (unescaped) payload with a correct BCC, or None when it is no binary frame."""
    if len(payload) < 3 or payload[0] != 0x7E or payload[-1] != 0x7E:
        return None
    content = payload[1:-2]
    return b"\x7e" + content + bytes((bcc(content),)) + b"\x7e"


def decode(entry: traccar.Entry, data: bytes) -> traccar.Fed:
    """The wire form of ``data`` fed to a fresh session, then a drain call; errors collected."""
    return traccar.feed(ServerSession(model=traccar.model_override(entry)), wire(data))


def decoded(entry: traccar.Entry) -> traccar.Fed:
    """As captured (strict), or re-sealed if only the BCC failed."""
    return traccar.strict_or_resealed(entry, traccar.payload(entry), lambda data: decode(entry, data), reseal, "BCC")


def _fixes(entry: traccar.Entry, fed: traccar.Fed) -> list[str]:
    """Every record's coordinates in range, and a fix time where Traccar checks the location."""
    problems = traccar.all_in_range(entry, fed)
    if entry["expect"].get("check_location") and fed.decoded[0].fix_time is None:
        problems.append(f"line {entry['line']}: no fix time")
    return problems


def test_position_rate(entries: list[traccar.Entry]) -> None:
    rate = traccar.measure_positions(
        "jt808", entries, decoded, also=_fixes,
        what=traccar.OF_TRACCAR_POSITIONS + " (content; BCC re-sealed where only the BCC was wrong)",
        strict_what=" (wire bytes as captured, BCC enforced)")
    rate.require(0.90, strict_at_least=0.85)


# Worked out by hand from the standard for a few frames of different kinds (status bits for the
# hemispheres, BCD time in GMT+8, 1e-6 degrees; DDMM.MMMM and UTC for the JT701 lock form).
ANCHORS: dict[int, tuple[str, float, float, bool]] = {
    313: ("2017-01-17T02:05:42.000Z", -6.152508, 106.720475, True),
    337: ("2013-04-12T08:49:52.000Z", 50.871735, -1.255923, True),
    340: ("2015-01-01T11:42:57.000Z", -19.591535, -46.912186, True),
    328: ("2014-07-23T09:20:15.000Z", 22.51488, 113.916508, True),
    274: ("2010-06-27T08:04:53.000Z", 22 + 33.2880 / 60, 113 + 55.5602 / 60, False),
    26: ("2020-08-07T10:07:22.000Z", 22.64483, 114.02938, True),
}


def test_exact_time_and_position(entries: list[traccar.Entry]) -> None:
    lines = traccar.by_line(entries)
    for line, (when, lat, lon, valid) in ANCHORS.items():
        recs = decoded(lines[line]).decoded
        assert recs, line
        rec = recs[0]
        assert iso_utc(rec.fix_time) == when, line
        assert rec.lat == pytest.approx(lat, abs=1e-9) and rec.lon == pytest.approx(lon, abs=1e-9), line
        assert rec.valid is valid, line
        assert rec.imei is not None and rec.protocol == "jt808"


ALARMS = {
    "removing": "removing", "vibration": "vibration", "lowBattery": "low_battery", "tampering": "tamper",
    "hardAcceleration": "hard_acceleration", "door": "door", "movement": "movement", "sos": "sos",
}


def _alarm(rec: Record) -> list[Any]:
    names = (rec.attributes.get("alarms") or rec.event or "").split(",")
    return [names]


def _attr(name: str) -> Callable[[Record], list[Any]]:
    return lambda rec: [rec.attributes.get(name)]


def _field(name: str) -> Callable[[Record], list[Any]]:
    return lambda rec: [getattr(rec, name)]


MAPPING: dict[str, Callable[[Record], list[Any]]] = {
    "sat": _field("satellites"),
    "power": _field("ext_voltage_v"),
    "battery": _field("battery_voltage_v"),
    "motion": _field("motion"),
    "batteryLevel": _attr("battery_pct"),
    "alarm": _alarm,
    "result": _attr("result"),
    "temp1": _attr("temp1_c"),
    "temp3": _attr("temp3_c"),
    "iccid": _attr("iccid"),
    "dtcs": _attr("dtcs"),
    "driverUniqueId": _attr("driver_id"),
    "charge": _attr("charge"),
    "videoAlarm": _attr("video_alarm"),
    "unlockResult": _attr("unlock_result"),
    "tire1Pressure": _attr("tire1_pressure"),
    "timezone": _attr("timezone"),
    "tilt": lambda rec: [str(rec.attributes.get("tilt")).replace(" ", "")],
    "tag1Mac": _attr("tag1_mac"),
    "steps": _attr("steps"),
    "rpm": _attr("rpm"),
    "lock2Battery": _attr("lock2_battery_v"),
    "lock1Locked": _attr("lock1_locked"),
    "imei": _attr("imei"),
    "fuelUsed": _attr("fuel_used"),
    "fuel1": _attr("fuel1"),
    "fuel2": _attr("fuel2"),
    "event": _attr("event_code"),
    "driver": _attr("driver"),
    "door": _attr("door"),
    "deviceTemp": _attr("device_temp_c"),
    "cardCode": _attr("card_code"),
    "alarmLabel": _attr("alarm_label"),
}


def _want(entry: traccar.Entry) -> Any:
    if entry["expect"]["attribute"] == "alarm":
        return [ALARMS[name] for name in traccar.value(entry).split(",")]
    return traccar.value(entry)


def test_attributes(entries: list[traccar.Entry]) -> None:
    traccar.compare_attributes("jt808", entries, decoded, MAPPING, want=_want,
                               match=traccar.one_of(traccar.close), skip_undecoded=True).require(at_least=60)


def test_no_records_where_traccar_has_none(entries: list[traccar.Entry]) -> None:
    traccar.no_positions(entries, lambda e: decode(e, traccar.payload(e)), errors=False)


def test_registration_and_auth_are_logins(entries: list[traccar.Entry]) -> None:
    """Traccar answers 0x0100 with 0x8100 and 0x0102 with 0x8001: here those are Login accepts."""
    seen = 0
    for entry in traccar.with_result(entries, "null"):
        raw = traccar.payload(entry)
        if raw[:1] != b"\x7e" or raw[1:3] not in (b"\x01\x00", b"\x01\x02"):
            continue
        (login,) = decode(entry, raw).messages
        assert isinstance(login, Login) and login.accept and login.reject
        answer = unescape(login.accept[1:-1])
        assert answer[:2] == (b"\x81\x00" if raw[1:3] == b"\x01\x00" else b"\x80\x01")
        assert login.imei == login.imei.lstrip("0")
        seen += 1
    assert seen == 9


def test_not_null_payloads(entries: list[traccar.Entry]) -> None:
    for entry in traccar.with_result(entries, "not_null"):
        fed = decoded(entry)
        assert fed.decoded, (entry["line"], fed.errors)


def test_frames(entries: list[traccar.Entry]) -> None:
    """Traccar's frame tests: a text frame, an escaped frame, and one behind stray bytes."""
    framed = 0
    for entry in traccar.with_result(entries, "frame"):
        data = traccar.payload(entry)
        buf = traccar.buffered(data)
        item, size = next_frame(buf, 1 << 16)
        if isinstance(item, Corrupt) and item.frame is None and data[:1] not in (b"\x7e", b"("):
            buf.skip(size)  # the stray "$$" before the frame
            item, size = next_frame(buf, 1 << 16)
        frame_bytes = buf.peek(size)
        assert frame_bytes is not None
        if frame_bytes[:1] == b"\x7e":
            assert b"\x7e" + unescape(frame_bytes[1:-1]) + b"\x7e" == traccar.expected_frame(entry), entry["line"]
        else:
            assert frame_bytes == traccar.expected_frame(entry), entry["line"]
        framed += 1
    assert framed == 3
