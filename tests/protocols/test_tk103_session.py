"""What a TK103 server answers, and how the session treats identity and bad input."""

from __future__ import annotations

import pytest

from protocols.core import CommandResponse, Login, ProtocolError, Report
from protocols.record import Record
from protocols.tk103 import DEFAULT_PORT, DeviceCodec, ServerSession

DEVICE = "088047365460"
BR00 = b"(088047365460BR00151024A2555.3531S02855.3329E004.7055148276.1701000000L00009AA3)"


def test_default_port_and_device_codec_contract() -> None:
    assert DEFAULT_PORT == 5002
    codec = DeviceCodec(DEVICE)
    assert (codec.protocol, codec.acks_positions) == ("tk103", False)
    assert codec.login() == b"(088047365460BP05000088047365460)"
    assert codec.handshake() == b"(088047365460BP00088047365460HSO)"
    assert codec.acks(b"(088047365460AP05)(088047365460AS012)") == 0
    assert DeviceCodec("BALLESTEROS3").login() == b"(BALLESTEROS3BP05)"
    with pytest.raises(ValueError):
        DeviceCodec("123")


def test_handshake_login_alarm_answers_and_no_position_ack() -> None:
    session = ServerSession()
    assert session.feed(b"(088047365460BP00088047365460HSO)") == [
        Login(DEVICE, accept=b"(088047365460AP01HSO)", reject=None)
    ]
    assert session.feed(b"(088047365460BP00HSO)") == [Report("handshake", (), b"(088047365460AP01HSO)")]
    assert session.feed(b"(088047365460BP05000088047365460)") == [Report("login", (), b"(088047365460AP05)")]
    (report,) = session.feed(BR00)
    assert report.ack is None and report.records[0].odometer_m == 0x9AA3
    (alarm,) = session.feed(b"(088047365460BO012110925A1234.5678N01234.5678W000.0025948118.7200000000L000024DE)")
    assert alarm.ack == b"(088047365460AS012)" and alarm.records[0].event == "sos"


def test_login_with_a_position_is_answered_after_its_commit() -> None:
    session = ServerSession()
    login, report = session.feed(
        b"(088047365460BP05354188047365460150929A3258.1754S02755.4323E009.4193927301.9000000000L00000000)"
    )
    assert login == Login(DEVICE, accept=b"(088047365460AP05)", reject=None)
    assert report.ack is None and report.records[0].attributes["device_imei"] == "354188047365460"
    (again,) = session.feed(
        b"(088047365460BP05354188047365460150929A3258.1754S02755.4323E009.4193927301.9000000000L00000000)"
    )
    assert again.ack == b"(088047365460AP05)"


def test_first_position_identifies_the_device_without_an_answer() -> None:
    login, report = ServerSession().feed(BR00)
    assert login == Login(DEVICE, accept=None, reject=None)
    assert report.records[0].imei == DEVICE


def test_device_ids_that_are_not_twelve_digits() -> None:
    login, _ = ServerSession().feed(b"(01602009983BR00160830V1855.7022S4817.8731W000.0002729000.0010000000L00000000)")
    assert login.imei == "01602009983"
    login, report = ServerSession().feed(b"(357593060760397BP02,G,2,170304A6015.7466N01101.8460E001.609445591.048,7)")
    assert login.imei == "357593060760397" and report.records[0].attributes["command"] == "BP02"
    assert report.records[0].fix_time == 1488620695.0  # 2017-03-04 09:44:55: yymmdd, not the comma layout's ddmmyy
    login, _ = ServerSession().feed(
        b"(864768011069660,ZC17,250517,A,3211.7118N,03452.8086E,0.68,115525,208.19,64.50,9)")
    assert login == Login("864768011069660", accept=None, reject=None)  # comma layout: no answers


def test_command_answer_is_a_command_response() -> None:
    _, answer = ServerSession().feed(b"(864555555555555,ZC03,191117,234207,$Notice: (1) Device version: 1.0$)")
    assert isinstance(answer, CommandResponse) and answer.text == "Notice: (1) Device version: 1.0"


def test_unknown_command_is_kept_raw_without_a_fix() -> None:
    frame = b"(027028258309BQ86,0,05550c21b10d1d0f431008bd114c0ea5078400010007a100423932,161117005322,01000001)"
    session = ServerSession()
    login, report = session.feed(frame)
    assert login == Login("027028258309", accept=None, reject=None)
    (rec,) = report.records
    assert report.kind == "unsupported_BQ86" and report.ack is None
    assert rec.attributes == {"message_type": "BQ86", "raw_message": frame.decode()}
    assert (rec.fix_time, rec.lat, rec.valid) == (None, None, None)
    assert [m.kind for m in session.feed(frame)] == ["unsupported_BQ86"]


def test_another_device_on_the_connection_yields_a_second_login() -> None:
    session = ServerSession()
    session.feed(BR00)
    login, _ = session.feed(BR00.replace(DEVICE.encode(), b"012345678901"))
    assert login == Login("012345678901", accept=None, reject=None)


def test_junk_and_malformed_frames_are_reported_and_the_stream_goes_on() -> None:
    session = ServerSession()
    assert session.feed(b"\r\n  \n") == []  # line ends between frames are normal
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"garbage" + BR00)
    assert caught.value.close is False and caught.value.excerpt == b"garbage"
    login, _ = session.feed(b"")
    assert login.imei == DEVICE
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"(088047365460BR00151024A2555.3531S0)")
    assert caught.value.close is False and caught.value.excerpt.startswith(b"(088047365460BR00")
    with pytest.raises(ProtocolError):
        session.feed(b"(hello)")
    (report,) = session.feed(BR00)
    assert report.kind == "position"


def test_a_frame_without_end_over_max_frame_closes() -> None:
    session = ServerSession(max_frame=64)
    assert session.feed(b"(" + b"1" * 60) == []
    with pytest.raises(ProtocolError) as caught:
        session.feed(b"2" * 10)
    assert caught.value.close is True
    assert session.buffered == 0


def test_unknown_values_are_none_not_zero() -> None:
    _, report = ServerSession().feed(b"(352606090042050,BP05,240414,V,0000.0000N,00000.0000E,000.0,193133,000.0)")
    rec = report.records[0]
    assert (rec.lat, rec.lon, rec.valid, rec.ignition, rec.odometer_m) == (None, None, False, None, None)
    _, battery = ServerSession().feed(b"(864768010159785,ZC20,291015,030413,3,362,65535,255)")
    rec = battery.records[0]
    assert rec.battery_voltage_v == 3.62 and rec.ext_voltage_v is None


def test_trackers_that_use_their_imei_as_id() -> None:
    codec = DeviceCodec("359710049092324")
    assert codec.login() == b"(359710049092324BP05359710049092324)"
    rec = Record(imei="359710049092324", protocol="tk103", fix_time=1445665908.0, valid=True, lat=-25.9, lon=28.9,
                 speed_kmh=4.7, course_deg=276.17, event="sos")
    session = ServerSession()
    login, alarm = session.feed(codec.login() + codec.encode([rec]))
    assert login == Login("359710049092324", accept=b"(359710049092324AP05)", reject=None)
    assert alarm.ack == b"(359710049092324AS012)"
    got = alarm.records[0]
    assert (got.imei, got.fix_time, got.event) == ("359710049092324", 1445665908.0, "sos")
    assert (round(got.lat, 6), round(got.lon, 6)) == (-25.9, 28.9)
