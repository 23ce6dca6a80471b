"""Every stream codec: bytes that are consumed give records, an answer, or a ProtocolError, never nothing.

A frame a decoder consumes and turns into neither a record, an answer (a heartbeat echo, a login
accept, an ACK) nor an error leaves no trace anywhere: not in the store, not in the ingest errors, not
in a log line. The exceptions are named here: padding between frames, a Teltonika keep-alive byte,
and a time request a session without a clock cannot answer.
"""

from __future__ import annotations

import importlib
import time

import pytest
from hypothesis import HealthCheck, given, settings

from protocols import registry
from protocols.core import Login
from protocols.record import Record
from tests.protocols.outcomes import damaged, stream_outcome

IMEI = "356307040000019"


def fix() -> Record:
    return Record(imei=IMEI, protocol="x", fix_time=time.time() - 60, valid=True, lat=52.2297, lon=21.0122,
                  speed_kmh=42.0, course_deg=90.0, satellites=9, ignition=True)


def frames(protocol: str) -> tuple[bytes, bytes]:
    """(login, one position frame) as the protocol's device encoder writes them."""
    if protocol == "gt06":
        from protocols.gt06.device import encode_location, encode_login

        return encode_login(IMEI, 1), encode_location(fix(), serial=2)
    if protocol == "teltonika":
        from protocols.teltonika import encode_avl, encode_imei

        return encode_imei(IMEI), encode_avl([fix()])
    codec = importlib.import_module(f"protocols.{protocol}").DeviceCodec(IMEI)
    return codec.login(), codec.encode([fix()])


STREAM = [name for name in registry.names() if registry.get(name).stream_session is not None]


@pytest.mark.parametrize("protocol", STREAM)
def test_a_valid_frame_gives_records(protocol: str) -> None:
    login, frame = frames(protocol)
    found = stream_outcome(protocol, (login, frame) if login else (frame,))
    assert (found.records, found.errors, found.silent, found.buffered) == (1, 0, 0, 0)


@pytest.mark.parametrize("protocol", STREAM)
def test_damaged_frames_are_never_swallowed(protocol: str) -> None:
    login, frame = frames(protocol)

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=damaged(frame))
    def run(data: bytes) -> None:
        result = stream_outcome(protocol, (login, data) if login else (data,))
        assert result.silent == 0, (data, result)

    run()


@pytest.mark.parametrize("text, kind", [
    (b"(027028258309BQ86,0,05550c21b10d1d0f431008bd114c0ea5078400010007a1,161117005322,01000001)", "tk103"),
    (b"$$D28,353358017784062,D03,OK*F3\r\n", "meitrack"),
    (b"[3G*8308406279*0008*rcapture]", "watch"),
    (bytes.fromhex("787805120099abec0d0a"), "gt06"),
    (b"imei:864180034124375,vr,0c00fa011ea05a03d726977103ad0034c98ef49e6d303fffd1c8361303f2dbb0;", "gps103"),
])
def test_a_message_no_layout_decodes_is_kept_raw_without_a_fix(text: bytes, kind: str) -> None:
    session = registry.get(kind).new_session()
    if kind == "gt06":
        from protocols.gt06.device import encode_login

        session.feed(encode_login(IMEI, 1))
    messages = session.feed(text) + session.feed(b"")
    kept = [r for m in messages if not isinstance(m, Login) for r in m.records]
    assert kept and all("raw_message" in r.attributes and "message_type" in r.attributes for r in kept)
    assert all((r.lat, r.fix_time, r.valid) == (None, None, None) for r in kept)


def test_a_gl200_block_count_from_a_hostile_device_does_not_loop() -> None:
    """A GTERI whose peripheral block count reads as 20,240,817,131,358 used to loop for minutes."""
    sentence = (b"+BUFF:GTERI,358803,862364030181926,gv200,00000011,,51,1,1,21.0,98,30.2,38.249517,24.008269,"
                b"20240817131401,0420,0004,75A0,412C,00,84795.4,,,,,01,00,0,,20240817131358,F$")
    found = stream_outcome("gl200", (sentence,))  # before the fix, this call did not return for minutes
    assert found.records + found.errors and not found.silent


def test_a_gps103_line_that_starts_with_a_non_ascii_digit_is_an_error() -> None:
    """'²' is a digit to str.isdigit(); the heartbeat check then met no ASCII digits and asserted."""
    line = b"\xb2mei:356307040023201,tracker,2612050237,,F,023703.836,A,5213.78200,N,02100.73200,E,22.678,90.00,,1;"
    found = stream_outcome("gps103", (line,))
    assert (found.records, found.errors) == (0, 1)
