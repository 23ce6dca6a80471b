"""What a GPS103 server answers, and how the session treats identity, time zones and bad input."""

from __future__ import annotations

import pytest

from protocols.core import Login, ProtocolError, Report
from protocols.gps103 import DEFAULT_PORT, DeviceCodec, ServerSession

IMEI = "359710049092324"
LOGIN = b"##,imei:359710049092324,A;"
POSITION = b"imei:359710049092324,tracker,151027025958,,F,235957.000,A,2429.5156,N,04424.5828,E,0.01,27.91,,0,0,,,;"


def test_default_port_and_device_codec_contract() -> None:
    assert DEFAULT_PORT == 5001
    codec = DeviceCodec(IMEI)
    assert (codec.protocol, codec.acks_positions) == ("gps103", False)
    assert codec.login() == LOGIN
    assert codec.heartbeat() == b"359710049092324;"
    assert codec.acks(b"LOADON**,imei:359710049092324,E;") == 0
    with pytest.raises(ValueError):
        DeviceCodec("12ab")


def test_login_load_heartbeat_on_and_no_position_ack() -> None:
    session = ServerSession()
    assert session.feed(LOGIN) == [Login(IMEI, accept=b"LOAD", reject=None)]
    assert session.imei == IMEI
    (report,) = session.feed(POSITION)
    assert report.kind == "position" and report.ack is None and len(report.records) == 1
    assert session.feed(b"359710049092324;") == [Report("heartbeat", (), b"ON")]
    assert session.feed(LOGIN) == [Login(IMEI, accept=b"LOAD", reject=None)]  # a re-login is answered again


def test_first_report_identifies_the_device_without_an_answer() -> None:
    login, report = ServerSession().feed(POSITION)
    assert login == Login(IMEI, accept=None, reject=None)
    assert report.records[0].imei == IMEI


def test_sos_is_acknowledged_after_commit() -> None:
    session = ServerSession()
    session.feed(LOGIN)
    (report,) = session.feed(
        b"imei:359710049092324,help me,1510270300,13554900601,F,000000.000,A,2429.5156,N,04424.5828,E,0.00,;"
    )
    assert report.ack == b"**,imei:359710049092324,E;"
    assert report.records[0].event == "sos"


def test_time_zone_learnt_from_a_gps_sentence_places_obd_and_cell_sentences() -> None:
    session = ServerSession()
    session.feed(POSITION)  # local 02:59 on the 27th, UTC 23:59:57 on the 26th: +180 min
    assert session.tz_offset_min == 180
    (obd,) = session.feed(
        b"imei:359710049092324,OBD,151027030200,195874,,370.8,808,066,30.0%,+87,13.0%,02444,14.3,,,,;"
    )
    rec = obd.records[0]
    assert rec.fix_time == 1445904120.0  # 2015-10-27 03:02:00 local = 00:02:00 UTC
    assert rec.ext_voltage_v == 14.3 and rec.attributes["rpm"] == 2444
    assert "dtcs" not in rec.attributes and rec.event is None
    fresh = ServerSession()
    fresh.feed(LOGIN)
    (alone,) = fresh.feed(
        b"imei:359710049092324,OBD,151027030200,195874,,370.8,808,066,30.0%,+87,13.0%,02444,14.3,,,,;"
    )
    assert alone.records[0].fix_time is None  # local time only, zone unknown: not guessed
    assert alone.records[0].attributes["device_local_time"] == "151027030200"


def test_acc_on_off_are_ignition_events() -> None:
    session = ServerSession()
    (_, on) = session.feed(
        b"imei:864180036029895,acc on,180508145653,,F,065645.000,A,4729.1497,N,01904.2342,E,0.00,0;"
    )
    assert (on.records[0].event, on.records[0].ignition) == ("ignition_on", True)
    (off,) = session.feed(
        b"imei:864180036029895,acc off,180508145653,,F,065645.000,A,4729.1497,N,01904.2342,E,0.00,0;"
    )
    assert (off.records[0].event, off.records[0].ignition) == ("ignition_off", False)


def test_unknown_values_are_none_not_zero() -> None:
    (_, report) = ServerSession().feed(
        b"imei:359587016817564,tracker,1301251602,,F,080251.000,A,3223.5832,N,11058.9449,W,,;"
    )
    rec = report.records[0]
    assert (rec.speed_kmh, rec.course_deg, rec.altitude_m, rec.ignition) == (None, None, None, None)
    (_, report) = ServerSession().feed(b"imei:359710041100000,tracker,000000000,,L,,,fa8,,c9af,,,;")
    rec = report.records[0]
    assert (rec.lat, rec.lon, rec.fix_time, rec.valid) == (None, None, None, False)


def test_another_imei_on_the_connection_yields_a_second_login() -> None:
    session = ServerSession()
    session.feed(POSITION)
    login, _ = session.feed(POSITION.replace(IMEI.encode(), b"123456789012345"))
    assert login == Login("123456789012345", accept=None, reject=None)


def test_malformed_sentence_is_reported_and_the_stream_goes_on() -> None:
    session = ServerSession()
    messages = session.feed(LOGIN + b"imei:359710049092324,OBD,garbage;" + POSITION)
    assert messages == [Login(IMEI, accept=b"LOAD", reject=None)]
    assert session.pending
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"")
    assert caught.value.close is False and b"OBD,garbage" in caught.value.excerpt
    (report,) = session.feed(b"")
    assert report.kind == "position"
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"\x00\xffjunk;")
    assert caught.value.close is False


def test_a_run_without_terminator_over_max_frame_closes() -> None:
    session = ServerSession(max_frame=64)
    assert session.feed(b"imei:" + b"1" * 55) == []
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"2" * 10)
    assert caught.value.close is True
    assert session.buffered == 0


def test_blank_lines_are_ignored_and_stray_terminators_are_errors() -> None:
    assert ServerSession().feed(b"\r\n\n  \r\n") == []
    session = ServerSession()
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"\r\n;\n")
    assert not caught.value.close and caught.value.excerpt == b";"
    assert session.feed(b"") == []
