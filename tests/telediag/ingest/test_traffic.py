"""The traffic log alone: its limits (frames per device, bytes per frame, devices, detections), the
least recently active device dropped first, the order of frames in and out, and what a frame reads as."""

from __future__ import annotations

import pytest

from protocols.core import CommandResponse, Login, ProtocolError, Report
from protocols.record import Record
from protocols.sniff import Detection
from telediag.ingest.traffic import IN, OUT, TrafficLog, is_address, summary

IMEI = "356307042441013"
OTHER = "356307042441014"
T0 = 1_760_000_000.0


def test_a_device_keeps_its_newest_frames_in_order() -> None:
    log = TrafficLog(frames_per_device=3)
    for n in range(5):
        log.add(IMEI, T0 + n, IN if n % 2 == 0 else OUT, "tcp", "10.0.0.1:5000", bytes([n]))
    frames = log.frames(IMEI)
    assert [f["hex"] for f in frames] == ["02", "03", "04"]
    assert [f["direction"] for f in frames] == [IN, OUT, IN]
    assert frames[0]["at"] == "2025-10-09T08:53:22.000Z"
    assert [f["hex"] for f in log.frames(IMEI, limit=2)] == ["03", "04"]
    assert log.frames(IMEI, limit=0) == []


def test_a_frame_keeps_its_excerpt_and_its_length() -> None:
    log = TrafficLog(excerpt_bytes=4)
    log.add(IMEI, T0, IN, "tcp", None, bytes(range(10)))
    (frame,) = log.frames(IMEI)
    assert (frame["hex"], frame["size"], frame["truncated"]) == ("00010203", 10, True)


def test_the_device_silent_longest_is_dropped_first() -> None:
    log = TrafficLog(devices=2)
    log.add("1", T0, IN, "tcp", None, b"a")
    log.add("2", T0, IN, "tcp", None, b"b")
    log.add("1", T0 + 1, IN, "tcp", None, b"c")  # 1 is active again: 2 is now the oldest
    log.add("3", T0 + 2, IN, "tcp", None, b"d")
    assert log.keys() == ["1", "3"]
    assert log.frames("2") == []


def test_frames_of_an_address_move_to_the_imei_it_turns_out_to_be() -> None:
    log = TrafficLog()
    log.add(IMEI, T0, IN, "tcp", "10.0.0.1:5000", b"old")
    log.add("10.0.0.1:6000", T0 + 1, IN, "tcp", "10.0.0.1:6000", b"login")
    log.add("10.0.0.1:6000", T0 + 2, OUT, "tcp", "10.0.0.1:6000", b"\x01", "reply")
    log.rekey("10.0.0.1:6000", IMEI)
    assert [f["hex"] for f in log.frames(IMEI)] == [b"old".hex(), b"login".hex(), "01"]
    assert log.keys() == [IMEI]
    log.rekey("10.0.0.9:1", IMEI)  # nothing kept for it: nothing changes
    assert len(log.frames(IMEI)) == 3


def test_what_each_frame_decoded_to() -> None:
    record = Record(imei=IMEI, protocol="gt06", fix_time=T0)
    assert summary([Login(IMEI, b"", None), Report("location", (record, record), b"")]) == (
        f"login {IMEI}; location: 2 records")
    assert summary([CommandResponse("ok", ())]) == "command answer 'ok'"
    assert summary([]) == "incomplete frame"
    assert summary("reply") == "reply"
    assert summary([record]) == "telemetry: 1 record"
    log = TrafficLog()
    log.add(IMEI, T0, IN, "udp", "10.0.0.1:5000", b"\xff", ProtocolError("bad preamble"))
    (frame,) = log.frames(IMEI)
    assert (frame["summary"], frame["error"], frame["transport"]) == (None, "bad preamble", "udp")


def test_the_entry_takes_what_the_bytes_decoded_to_after_it_was_appended() -> None:
    log = TrafficLog()
    entry = log.add(IMEI, T0, IN, "tcp", None, b"x")
    entry[6] = [Login(IMEI, None, None)]
    assert log.frames(IMEI)[0]["summary"] == f"login {IMEI}"


def test_unknown_senders_are_addresses_and_imeis_the_registry_does_not_know() -> None:
    log = TrafficLog()
    log.add(IMEI, T0, IN, "tcp", "10.0.0.1:5000", b"a")
    log.add(OTHER, T0 + 1, IN, "tcp", "10.0.0.2:5000", b"b", ProtocolError("IMEI length 30840 is not 15-17"))
    log.add("10.0.0.3:5000", T0 + 2, IN, "udp", "10.0.0.3:5000", b"c")
    senders = log.senders(lambda imeis: {i for i in imeis if i == OTHER})
    assert [(s["key"], s["kind"]) for s in senders] == [("10.0.0.3:5000", "address"), (OTHER, "imei")]
    assert senders[1]["last_error"] == "IMEI length 30840 is not 15-17"
    assert [s["key"] for s in log.senders()] == ["10.0.0.3:5000"]
    assert len(log.senders(limit=0 + 1)) == 1


def test_detections_are_bounded_and_found_by_device_or_address() -> None:
    log = TrafficLog(detections=2)
    for n in range(3):
        log.detected(T0 + n, "teltonika", "tcp", f"10.0.0.{n}:5000", Detection("gt06", 5023, IMEI if n else None),
                     b"\x78\x78")
    found = log.detections()
    assert [d["remote"] for d in found] == ["10.0.0.1:5000", "10.0.0.2:5000"]
    assert found[0]["hex"] == "7878" and found[0]["default_port"] == 5023
    assert len(log.detections(IMEI)) == 2
    assert [d["remote"] for d in log.detections("10.0.0.2:5000")] == ["10.0.0.2:5000"]


def test_a_query_answers_in_builtins() -> None:
    log = TrafficLog()
    log.add(IMEI, T0, IN, "tcp", "10.0.0.1:5000", b"a", [Login(IMEI, None, None)])
    answer = log.query({"device": IMEI, "limit": 5})
    assert answer["frames"][0]["summary"] == f"login {IMEI}" and answer["detections"] == []
    assert log.query({"senders": 10}, registered={IMEI})["senders"] == []  # a registered device is known
    assert [s["key"] for s in log.query({"senders": 10})["senders"]] == [IMEI]


def test_limits_are_at_least_one() -> None:
    with pytest.raises(ValueError):
        TrafficLog(frames_per_device=0)


def test_keys() -> None:
    assert not is_address(IMEI)
    assert is_address("10.0.0.1:5000") and is_address("[::1]:5000") and is_address("telediag/x/telemetry")
