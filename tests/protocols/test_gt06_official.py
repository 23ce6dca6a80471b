"""GT06 against the vendor examples of ``official_examples.md`` section 2 (read from ../shared).

Every good sample must decode to exactly the documented values and ACK, however the bytes are
cut; the two corrupted samples must be rejected without losing the frame that follows.
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from protocols.core import Login, Message, ProtocolError, Report, crc16_x25
from protocols.gt06 import ServerSession, build_frame, encode_location
from protocols.gt06.fields import COORD_SCALE
from protocols.record import Record, operator_code

IMEI = "123456789012345"


def _sections(md: str) -> dict[str, str]:
    """``### 2.x`` sections of the markdown, keyed by their number."""
    out = {}
    for chunk in re.split(r"^### ", md, flags=re.M)[1:]:
        number = chunk.split(" ", 1)[0]
        out[number] = chunk
    return out


def _blocks(section: str) -> list[str]:
    return re.findall(r"```\n([0-9A-Fa-f]+)\n```", section)


def _inline(section: str) -> list[str]:
    return re.findall(r"`([0-9A-Fa-f]{10,})`", section)


@pytest.fixture(scope="module")
def samples(vectors_dir: Path) -> dict[str, bytes]:
    """The GT06 sample frames, by the key their decoded values have in the JSON."""
    sec = _sections((vectors_dir / "official_examples.md").read_text(encoding="utf-8"))
    location_cf = _blocks(sec["2.2"])[0]
    # The document says the circulating copy differs only in the GPS-info byte (CC for CF).
    assert "2E10CC027A" in sec["2.2"].replace("…", "")
    location_cc = location_cf.replace("2E10CF027A", "2E10CC027A")
    assert location_cc != location_cf
    status_inline = _inline(sec["2.3"])
    return {
        "gt06_login": bytes.fromhex(_blocks(sec["2.1"])[0]),
        "gt06_location_CF": bytes.fromhex(location_cf),
        "gt06_location": bytes.fromhex(location_cc),
        "gt06_status": bytes.fromhex(next(h for h in status_inline if h.upper().startswith("787808134B"))),
        "gt06_traccar_status": bytes.fromhex(next(h for h in status_inline if h.startswith("78780a13"))),
        "gt06_alarm": bytes.fromhex(_blocks(sec["2.4"])[0]),
        "gt06_traccar_loc": bytes.fromhex(_blocks(sec["2.5"])[0]),
    }


GOOD = ["gt06_login", "gt06_location_CF", "gt06_traccar_status", "gt06_alarm", "gt06_traccar_loc"]
BAD = ["gt06_location", "gt06_status"]


def feed_chunks(session: ServerSession, chunks: list[bytes]) -> list[Message]:
    out: list[Message] = []
    for chunk in chunks:
        out.extend(session.feed(chunk))
    return out


def logged_in() -> ServerSession:
    session = ServerSession()
    (login,) = session.feed(build_frame(0x01, bytes.fromhex("0" + IMEI), 1))
    assert isinstance(login, Login)
    return session


def _utc(text: str) -> float:
    return float(calendar.timegm(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timetuple()))


def _bits(text: str) -> int:
    return int(text, 0)


def check_record(rec: Record, exp: dict[str, Any]) -> None:
    """Every documented field of one sample, in the normalised record's terms."""
    a = rec.attributes
    assert rec.protocol == "gt06"
    if "datetime" in exp:
        assert rec.fix_time == _utc(exp["datetime"])
        assert rec.satellites == exp["satellites"]
        assert rec.lat is not None and rec.lon is not None
        assert round(abs(rec.lat), 6) == exp["lat_abs"]
        assert round(abs(rec.lon), 6) == exp["lon_abs"]
        assert (rec.lat > 0) == (exp["north_south"] == "N")
        assert (rec.lon > 0) == (exp["east_west"] == "E")
        assert round(rec.lat * COORD_SCALE) == exp["lat_raw"]
        assert round(rec.lon * COORD_SCALE) == exp["lon_raw"]
        assert rec.speed_kmh == exp["speed_kmh"]
        assert rec.course_deg == exp["course"]
        assert rec.valid is exp["gps_positioned"]
        assert a["course_status"] == int(exp["course_status_raw"], 16)
    if "mcc" in exp:
        assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"]) == (exp["mcc"], exp["mnc"], exp["lac"], exp["cell_id"])
        assert rec.operator == operator_code(exp["mcc"], exp["mnc"])
    if "terminal_info" in exp:
        assert a["terminal_info"] == _bits(exp["terminal_info"])
        assert rec.ignition is exp["acc_on"]
        assert a["charging"] is exp["charging"]
        assert a["gps_tracking"] is exp["gps_tracking_on"]
        assert a["voltage_level"] == exp["voltage_level"]
        assert a["gsm_level"] == exp["gsm_signal"]
        assert rec.gsm_signal_pct == exp["gsm_signal"] * 25
        assert rec.battery_voltage_v is None and rec.ext_voltage_v is None  # levels are not volts
    if "alarm_bits" in exp:
        assert a["terminal_alarm"] == exp["alarm_bits"]
        assert a["armed"] is exp["defense_activated"]
        assert a["oil_electricity_disconnected"] is exp["oil_electricity_disconnected"]
    if "alarm_language" in exp:
        word = int(exp["alarm_language"], 16)
        assert (a["alarm_code"], a["language"]) == (word >> 8, word & 0xFF)
        assert rec.event is None
    if "alarm" in exp:
        assert a["alarm_code"] == int(exp["alarm"], 16)
        assert a["language"] == int(exp["language"], 16)
        assert rec.event == "sos"  # alarm 0x01 and terminal alarm bits 4 both say SOS


def check_messages(key: str, messages: list[Message], exp: dict[str, Any], imei: str | None) -> None:
    assert len(messages) == 1
    (message,) = messages
    ack = bytes.fromhex(exp["ack"])
    if key == "gt06_login":
        assert message == Login(IMEI, accept=ack, reject=None)
        return
    assert isinstance(message, Report)
    assert message.ack == ack
    assert int.from_bytes(ack[4:6], "big") == exp["serial"]
    (rec,) = message.records
    assert rec.imei == imei
    check_record(rec, exp)


@pytest.mark.parametrize("key", GOOD)
def test_sample_whole(key: str, samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    exp = official_decoded[key]
    assert exp["crc_ok"] is True
    check_messages(key, ServerSession().feed(samples[key]), exp, None)
    check_messages(key, logged_in().feed(samples[key]), exp, IMEI)


@pytest.mark.parametrize("key", GOOD)
def test_sample_byte_by_byte(key: str, samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    data = samples[key]
    session = logged_in()
    out = []
    for i in range(len(data)):
        got = session.feed(data[i : i + 1])
        if i < len(data) - 1:
            assert got == []
        out.extend(got)
    check_messages(key, out, official_decoded[key], IMEI)


@pytest.mark.parametrize("key", GOOD)
def test_sample_split_everywhere(key: str, samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    data = samples[key]
    for cut in range(len(data) + 1):
        out = feed_chunks(logged_in(), [data[:cut], data[cut:]])
        check_messages(key, out, official_decoded[key], IMEI)


@pytest.mark.parametrize("key", GOOD)
def test_sample_with_trailing_bytes(key: str, samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    data = samples[key]
    nxt = samples["gt06_traccar_loc"]
    for keep in (1, 2, 3, 5, len(nxt) - 1):
        session = logged_in()
        check_messages(key, session.feed(data + nxt[:keep]), official_decoded[key], IMEI)
        # the start of the next frame stayed buffered and completes it
        rest = session.feed(nxt[keep:])
        check_messages("gt06_traccar_loc", rest, official_decoded["gt06_traccar_loc"], IMEI)


@pytest.mark.parametrize("key", GOOD)
def test_two_frames_in_one_chunk(key: str, samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    out = logged_in().feed(samples[key] + samples["gt06_alarm"])
    check_messages(key, out[:1], official_decoded[key], IMEI)
    check_messages("gt06_alarm", out[1:], official_decoded["gt06_alarm"], IMEI)


@pytest.mark.parametrize("key", BAD)
def test_corrupted_samples_rejected(key: str, samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    bad = samples[key]
    good = samples["gt06_alarm"]
    assert official_decoded[key]["crc_ok"] is False
    # the CRC really is bad under the frame's own length reading
    assert crc16_x25(bad[2:-4]) != int.from_bytes(bad[-4:-2], "big")
    for chunks in ([bad + good], [bad, good], [bad[:7], bad[7:] + good]):
        session = logged_in()
        out: list[Message] = []
        errors = []
        for chunk in chunks + [b""]:
            try:
                out.extend(session.feed(chunk))
            except ProtocolError as exc:
                errors.append(exc)
        assert len(errors) == 1, errors
        assert errors[0].close is False and errors[0].reply is None
        assert errors[0].excerpt  # something to log
        check_messages("gt06_alarm", out, official_decoded["gt06_alarm"], IMEI)


def test_error_after_good_frame_is_raised_next_call(
    samples: dict[str, bytes], official_decoded: dict[str, Any],
) -> None:
    session = logged_in()
    out = session.feed(samples["gt06_alarm"] + samples["gt06_location"] + samples["gt06_traccar_loc"])
    check_messages("gt06_alarm", out, official_decoded["gt06_alarm"], IMEI)
    assert session.pending
    with pytest.raises(ProtocolError):
        session.feed(b"")
    assert not session.pending and session.buffered == len(samples["gt06_traccar_loc"])
    rest = session.feed(b"")
    check_messages("gt06_traccar_loc", rest, official_decoded["gt06_traccar_loc"], IMEI)


def test_status_ack_and_document_reply(samples: dict[str, bytes], vectors_dir: Path) -> None:
    """The document's own heartbeat reply (serial 0x11) is what our ACK builder makes."""
    sec = _sections((vectors_dir / "official_examples.md").read_text(encoding="utf-8"))
    reply = next(h for h in _inline(sec["2.3"]) if h.startswith("787805130011"))
    assert build_frame(0x13, b"", 0x0011) == bytes.fromhex(reply)


def test_content_with_0d0a_is_framed_on_length() -> None:
    lat = 0x020D0A0D / COORD_SCALE  # latitude bytes 02 0D 0A 0D
    rec = Record(
        imei=None, protocol="gt06", fix_time=1_600_000_000.0, valid=True, lat=lat, lon=13.0,
        speed_kmh=13.0, course_deg=10.0, satellites=7, ignition=True,
        attributes={"mcc": 262, "mnc": 1, "lac": 0x0D0A, "cell_id": 0x0D0A0D},
    )
    frame = encode_location(rec, 0x0D0A, type_id=0x12)
    assert frame.count(b"\r\n") >= 4
    for chunks in ([frame], [frame[i : i + 1] for i in range(len(frame))], [frame + frame]):
        out = feed_chunks(logged_in(), chunks)
        assert 1 <= len(out) <= 2
        for message in out:
            assert isinstance(message, Report)
            (got,) = message.records
            assert got.lat == pytest.approx(lat, abs=1e-9)
            assert got.attributes["lac"] == 0x0D0A and got.attributes["cell_id"] == 0x0D0A0D
            assert message.ack == build_frame(0x12, b"", 0x0D0A)


def test_garbage_is_skipped_to_next_frame(samples: dict[str, bytes], official_decoded: dict[str, Any]) -> None:
    session = logged_in()
    with pytest.raises(ProtocolError) as info:
        session.feed(b"GET / HTTP/1.1\r\n\r\n" + samples["gt06_alarm"])
    assert info.value.close is False
    check_messages("gt06_alarm", session.feed(b""), official_decoded["gt06_alarm"], IMEI)


def test_oversized_frame_closes() -> None:
    session = ServerSession(max_frame=64)
    with pytest.raises(ProtocolError) as info:
        session.feed(b"\x79\x79\x01\x00\x21" + bytes(20))
    assert info.value.close is True


def test_registry_builds_sessions() -> None:
    from protocols import registry

    spec = registry.get("gt06")
    assert spec.transports == ("tcp",) and spec.default_port == 5023
    session = spec.new_session(max_frame=4096)
    assert isinstance(session, ServerSession) and session.imei is None and session.max_frame == 4096


def test_decoded_json_is_what_the_tests_read(official_decoded: dict[str, Any]) -> None:
    """Guard: the JSON still has the keys these tests rely on."""
    assert set(GOOD + BAD) <= set(official_decoded)
    json.dumps(official_decoded)
