"""The fixed-layout AVL decoder gives exactly what the general one gives, or declines.

``avl.decode_fixed`` (one struct per record layout) is the per-packet path; ``avl.decode_records``
with ``avl_to_record`` is the reference that reads every layout. Whatever the bytes, decoding a
data field with the fast path on must give the same records, or the same error, as with it off.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.record import Record
from protocols.teltonika import avl, encode_avl, record_to_avl
from protocols.teltonika.io_mapping import avl_to_record, fixed_to_record
from protocols.teltonika.server import decode_data
from tests.conftest import traccar_vectors
from tests.protocols.test_teltonika_official import TCP_EXAMPLES, official_packets
from tests.protocols.test_teltonika_properties import FAST, IMEI, codecs, mutate, records

edits = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3
)


def outcome(decode: Callable[[], Any]) -> Any:
    try:
        return decode().records
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return type(error), str(error)


def both_ways(data: bytes, strict: bool = True) -> tuple[Any, Any]:
    """(fast path on, fast path off) for the AVL data field in ``data``."""
    fast = outcome(lambda: decode_data(data, 0, len(data), IMEI, strict=strict))
    with mock.patch.object(avl, "decode_fixed", return_value=None):
        reference = outcome(lambda: decode_data(data, 0, len(data), IMEI, strict=strict))
    return fast, reference


def assert_identical(fast: Any, reference: Any) -> None:
    assert fast == reference
    if isinstance(fast, list):
        for a, b in zip(fast, reference, strict=True):
            assert type(a) is Record
            assert list(a.attributes.items()) == list(b.attributes.items())  # order too


@FAST
@given(data=st.data(), codec=codecs)
def test_encoded_packets(data: st.DataObject, codec: int) -> None:
    originals = data.draw(st.lists(records(codec), min_size=1, max_size=5))
    field = avl.encode_records([_avl(r) for r in originals], codec)
    assert_identical(*both_ways(field))


@FAST
@given(data=st.data(), codec=codecs, changes=edits, strict=st.booleans())
def test_mutated_packets(data: st.DataObject, codec: int, changes: list, strict: bool) -> None:
    originals = data.draw(st.lists(records(codec), min_size=1, max_size=3))
    field = mutate(avl.encode_records([_avl(r) for r in originals], codec), changes)
    assert_identical(*both_ways(field, strict))


@FAST
@given(data=st.binary(min_size=3, max_size=200), codec=st.sampled_from([0x08, 0x8E, 0x10]))
def test_arbitrary_bytes(data: bytes, codec: int) -> None:
    assert_identical(*both_ways(bytes([codec]) + data))


def test_official_packets(vectors_dir: Path) -> None:
    packets = official_packets(vectors_dir)
    assert packets
    for name in TCP_EXAMPLES:
        frame = packets[name]
        data = frame[8:-4]
        assert_identical(*both_ways(data))


def test_traccar_captures(vectors_dir: Path) -> None:
    """Every captured TCP frame and UDP datagram of Traccar's suite: the AVL field read both ways."""
    fast_path = 0
    for entry in traccar_vectors(vectors_dir, "teltonika"):
        data = bytes.fromhex(entry["payload"])
        if entry["decoder_args"] == ["true"]:  # UDP: header, IMEI, then the field to the end
            if len(data) < 7:
                continue
            start = 7 + data[6]
            field = data[start:]
        elif len(data) >= 12 and data[:4] == bytes(4):
            field = data[8:-4]
        else:
            continue
        if len(field) < 3:
            continue
        for strict in (True, False):
            assert_identical(*both_ways(field, strict))
        if field[0] in (0x08, 0x8E, 0x10) and avl.decode_fixed(field, 2, len(field) - 1, field[0], field[1]):
            fast_path += 1
    assert fast_path >= 10


def test_layouts_change_within_a_packet() -> None:
    """Records of different layouts, repeated ids and an NX element: each read as the reference does."""
    first = avl.AvlRecord(timestamp_ms=1_700_000_000_000, lon=21.0, lat=52.0, satellites=7,
                          io={239: 1, 66: 12_800, 16: 5})
    second = avl.AvlRecord(timestamp_ms=1_700_000_001_000, lon=21.0, lat=52.0, satellites=7,
                           io={239: 0, 66: 12_700, 16: 6, 241: 26001, 11: 2**40})
    third = avl.AvlRecord(timestamp_ms=1_700_000_002_000, satellites=0, io={240: 1, 300: "0a0b"})
    for codec in (0x08, 0x8E, 0x10):
        field = avl.encode_records([first, second, first, second], codec)
        fast, reference = both_ways(field)
        assert len(fast) == 4
        assert_identical(fast, reference)
    field = avl.encode_records([first, third, second], 0x8E)
    assert avl.decode_fixed(field, 2, len(field) - 1, 0x8E, 3) is None  # the NX element: declined
    fast, reference = both_ways(field)
    assert fast[1].attributes["io300"] == "0a0b"
    assert_identical(fast, reference)


def test_repeated_id_keeps_the_last_value_at_the_first_place() -> None:
    """A record that sends one id twice (in two width groups) maps as a dict update would."""
    header = struct.pack(">QBiihHBHHH", 1_700_000_000_000, 0, 0, 0, 0, 0, 5, 0, 0, 3)
    groups = struct.pack(">H" "HB" "H" "HH" "HH" "H" "H" "H", 1, 66, 9, 2, 67, 4100, 66, 12_000, 0, 0, 0)
    field = bytes([0x8E, 1]) + header + groups + bytes([1])
    fast, reference = both_ways(field)
    assert_identical(fast, reference)
    assert fast[0].ext_voltage_v == 12.0
    assert list(fast[0].attributes)[2:4] == ["io66", "io67"]


def test_huge_counts_are_left_to_the_general_decoder() -> None:
    n = avl.MAX_FIXED_ELEMENTS + 1
    header = struct.pack(">QBiihHBHHH", 1_700_000_000_000, 0, 0, 0, 0, 0, 5, 0, 0, n)
    body = struct.pack(">H", n) + b"".join(struct.pack(">HB", 1000 + i, i % 256) for i in range(n))
    field = bytes([0x8E, 1]) + header + body + struct.pack(">HHHH", 0, 0, 0, 0) + bytes([1])
    assert avl.decode_fixed(field, 2, len(field) - 1, 0x8E, 1) is None
    fast, reference = both_ways(field)
    assert len(fast[0].attributes) == n + 2
    assert_identical(fast, reference)


@pytest.mark.parametrize("codec", [0x08, 0x8E, 0x10])
def test_fixed_to_record_matches_avl_to_record(codec: int) -> None:
    record = avl.AvlRecord(timestamp_ms=1_700_000_000_000, priority=1, lon=21.5, lat=52.25,
                           altitude=120, angle=90.0, satellites=9, speed=50, event_io=239,
                           generation_type=5 if codec == 0x10 else None,
                           io={239: 1, 240: 1, 21: 4, 66: 13_800, 67: 4_100, 69: 1, 80: 3, 181: 12,
                               182: 9, 16: 123_456, 241: 26001})
    field = avl.encode_records([record], codec)
    decoded = avl.decode_fixed(field, 2, len(field) - 1, codec, 1)
    assert decoded is not None
    [fixed], end = decoded
    assert end == len(field) - 1
    [general], _ = avl.decode_records(field, 2, len(field) - 1, codec, 1)
    assert fixed_to_record(fixed, IMEI) == avl_to_record(general, IMEI, codec)


def _avl(record: Record) -> avl.AvlRecord:
    return record_to_avl(record)


def test_encode_avl_still_frames() -> None:
    """The packets the load client sends decode on the fast path (a canary for the benchmark)."""
    rec = Record(imei=None, protocol="teltonika", fix_time=1_750_000_000.0, valid=True, lat=52.2,
                 lon=21.0, satellites=9, ignition=True, ext_voltage_v=13.8, odometer_m=1000.0)
    frame = encode_avl([rec] * 3, codec_id=0x8E)
    data = frame[8:-4]
    assert avl.decode_fixed(data, 2, len(data) - 1, 0x8E, 3) is not None
