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
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Buffer, CommandResponse, Login, Message, ProtocolError, Report
from protocols.jt808 import ServerSession
from protocols.jt808.framing import Corrupt, bcc, escape, next_frame, unescape
from protocols.record import Record, iso_utc
from tests.conftest import report_rate, traccar_vectors
from tests.protocols.traccar_nulls import assert_no_position

POSITION = ("position", "positions")


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


def raw_payload(entry: dict[str, Any]) -> bytes:
    payload = entry["payload"]
    return bytes.fromhex(payload) if entry["payload_kind"] == "hex" else payload.encode("ascii")


def decode(entry: dict[str, Any], payload: bytes) -> tuple[list[Message], list[ProtocolError]]:
    """The wire form of ``payload`` fed to a fresh session, then a drain call; errors collected."""
    session = ServerSession(model=(entry["decoder_setup"] or {}).get("setModelOverride"))
    messages: list[Message] = []
    errors: list[ProtocolError] = []
    for chunk in (wire(payload), b""):
        try:
            messages.extend(session.feed(chunk))
        except ProtocolError as exc:
            errors.append(exc)
    return messages, errors


def records(messages: list[Message]) -> list[Record]:
    """Decoded records; one kept raw (a layout not decoded) does not count as decoding the payload."""
    return [r for m in messages if isinstance(m, (Report, CommandResponse)) for r in m.records
            if "raw_message" not in r.attributes]


@pytest.fixture(scope="module")
def entries(vectors_dir: Path) -> list[dict[str, Any]]:
    found = list(traccar_vectors(vectors_dir, "jt808"))
    assert len(found) == 116, f"expected the 116 jt808 entries, found {len(found)}"
    return found


def positions(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["method"] != "verifyFrame" and e["expect"]["result"] in POSITION]


def decoded(entry: dict[str, Any]) -> tuple[list[Record], list[ProtocolError], bool]:
    """Records (strict first, re-sealed if only the BCC failed), errors, and whether it was strict."""
    raw = raw_payload(entry)
    messages, errors = decode(entry, raw)
    recs = records(messages)
    if recs:
        return recs, errors, True
    sealed = reseal(raw)
    if sealed is not None and sealed != raw:
        assert errors and "BCC" in str(errors[0]), (entry["line"], errors)
        assert not errors[0].close, "a bad BCC costs the frame, not the connection"
        messages, errors = decode(entry, sealed)
        return records(messages), errors, False
    return recs, errors, False


def test_position_rate(entries: list[dict[str, Any]]) -> None:
    total = ok_strict = ok_content = 0
    failures: list[str] = []
    problems: list[str] = []
    for entry in positions(entries):
        total += 1
        recs, errors, strict = decoded(entry)
        if recs:
            ok_content += 1
            ok_strict += strict
            for rec in recs:
                if rec.lat is not None and not (-90 <= rec.lat <= 90 and -180 <= rec.lon <= 180):
                    problems.append(f"line {entry['line']}: coordinates out of range {rec.lat}, {rec.lon}")
            if entry["expect"].get("check_location") and recs[0].fix_time is None:
                problems.append(f"line {entry['line']}: no fix time")
        else:
            failures.append(f"{entry['line']}: {[str(e) for e in errors] or 'no record'}")
    report_rate(
        f"jt808: {ok_content}/{total} = {ok_content / total:.1%} of the payloads Traccar decodes to positions"
        " (content; BCC re-sealed where only the BCC was wrong)"
    )
    report_rate(f"jt808 strict: {ok_strict}/{total} = {ok_strict / total:.1%} (wire bytes as captured, BCC enforced)")
    print("jt808 not decoded:", "; ".join(failures) or "none")
    assert not problems, problems
    assert ok_content / total >= 0.90
    assert ok_strict / total >= 0.85


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


def test_exact_time_and_position(entries: list[dict[str, Any]]) -> None:
    by_line = {e["line"]: e for e in entries}
    for line, (when, lat, lon, valid) in ANCHORS.items():
        recs, _errors, _strict = decoded(by_line[line])
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


def _want(exp: dict[str, Any]) -> Any:
    if exp["attribute"] == "alarm":
        return [ALARMS[name] for name in exp["value"].split(",")]
    return exp["value"]


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(got, bool):
        return abs(got - want) < 1e-6
    return got == want


def test_attributes(entries: list[dict[str, Any]]) -> None:
    checked = 0
    mismatches = []
    for entry in entries:
        exp = entry["expect"]
        if entry["method"] != "verifyAttribute" or exp["result"] not in POSITION:
            continue
        recs, _errors, _strict = decoded(entry)
        assert exp["attribute"] in MAPPING, exp["attribute"]
        if not recs:
            continue
        checked += 1
        got = MAPPING[exp["attribute"]](recs[0])
        want = _want(exp)
        if not any(_same(g, want) for g in got):
            mismatches.append((entry["line"], exp["attribute"], want, got))
    print(f"jt808 attributes checked: {checked}")
    assert checked >= 60
    assert not mismatches, mismatches


def test_no_records_where_traccar_has_none(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"]["result"] != "null":
            continue
        messages, errors = decode(entry, raw_payload(entry))
        assert_no_position(messages, entry["line"])
        assert not errors, (entry["line"], errors)


def test_registration_and_auth_are_logins(entries: list[dict[str, Any]]) -> None:
    """Traccar answers 0x0100 with 0x8100 and 0x0102 with 0x8001: here those are Login accepts."""
    seen = 0
    for entry in entries:
        raw = raw_payload(entry)
        if entry["expect"]["result"] != "null" or raw[:1] != b"\x7e" or raw[1:3] not in (b"\x01\x00", b"\x01\x02"):
            continue
        messages, _ = decode(entry, raw)
        (login,) = messages
        assert isinstance(login, Login) and login.accept and login.reject
        answer = unescape(login.accept[1:-1])
        assert answer[:2] == (b"\x81\x00" if raw[1:3] == b"\x01\x00" else b"\x80\x01")
        assert login.imei == login.imei.lstrip("0")
        seen += 1
    assert seen == 9


def test_not_null_payloads(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        if entry["expect"]["result"] == "not_null":
            recs, errors, _ = decoded(entry)
            assert recs, (entry["line"], errors)


def test_frames(entries: list[dict[str, Any]]) -> None:
    """Traccar's frame tests: a text frame, an escaped frame, and one behind stray bytes."""
    framed = 0
    for entry in entries:
        if entry["method"] != "verifyFrame":
            continue
        payload = bytes.fromhex(entry["payload"])
        expected = bytes.fromhex(entry["expect"]["frame"])
        buf = Buffer()
        buf.feed(payload)
        item, size = next_frame(buf, 1 << 16)
        if isinstance(item, Corrupt) and item.frame is None and payload[:1] not in (b"\x7e", b"("):
            buf.skip(size)  # the stray "$$" before the frame
            item, size = next_frame(buf, 1 << 16)
        frame_bytes = buf.peek(size)
        assert frame_bytes is not None
        if frame_bytes[:1] == b"\x7e":
            assert b"\x7e" + unescape(frame_bytes[1:-1]) + b"\x7e" == expected, entry["line"]
        else:
            assert frame_bytes == expected, entry["line"]
        framed += 1
    assert framed == 3
