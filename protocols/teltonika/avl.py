"""Wire format of Teltonika AVL records: Codec 8, 8 Extended and 16 (decode and encode).

This layer knows bytes only: timestamps, raw coordinates and IO elements by numeric id. What the ids
mean, and how a record becomes the normalised :class:`~protocols.record.Record`, lives in
:mod:`protocols.teltonika.io_mapping`. Decoding works on one already framed packet with
``struct.unpack_from`` and bound checks against ``end``, so a frame never reads into its neighbour.

Two decoders share the layouts: :func:`decode_fixed`, the per-packet path, reads each record whose
IO elements all have fixed widths with one precompiled struct (a device repeats its layout from
record to record, so the struct is built once per layout); :func:`decode_records` reads any record
(variable-length and 16-byte elements too) group by group into an :class:`AvlRecord`, and is what
the server falls back on when :func:`decode_fixed` declines a packet.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

CODEC_7 = 0x07
"""GH3000 (older personal trackers): bit masks instead of fixed fields, see ``gh3000.py``."""
CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_12 = 0x0C
CODEC_13 = 0x0D
CODEC_14 = 0x0E
CODEC_16 = 0x10

AVL_CODECS = frozenset({CODEC_7, CODEC_8, CODEC_8E, CODEC_16})
"""Codecs whose packets carry position records and get a record-count ACK."""
ENCODABLE_CODECS = frozenset({CODEC_8, CODEC_8E, CODEC_16})


class MalformedData(ValueError):
    """The bytes of a frame do not add up (counts, lengths); the server turns it into a ProtocolError."""


@dataclass(slots=True)
class AvlRecord:
    """One AVL record as it is on the wire, coordinates already in degrees.

    ``io`` maps an IO id to its raw unsigned value, or to a hex string for variable-length (NX) and
    16-byte elements. Fields a codec does not carry (GH3000 without a GPS element) stay None.
    """

    timestamp_ms: int
    priority: int = 0
    lon: float | None = None
    lat: float | None = None
    altitude: int | None = None
    angle: float | None = None
    satellites: int | None = None
    speed: int | None = None
    event_io: int | None = None
    generation_type: int | None = None
    io: dict[int, int | str] = field(default_factory=dict)
    extra: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where codecs 8, 8E and 16 differ: header fields, count width, id width, NX group."""

    header: struct.Struct
    count: struct.Struct
    id_fmt: str
    generation: bool
    nx: bool


_LAYOUTS: dict[int, _Layout] = {
    # timestamp, priority, lon, lat, altitude, angle, satellites, speed, event id, [gen type], total
    CODEC_8: _Layout(struct.Struct(">QBiihHBHBB"), struct.Struct(">B"), "B", False, False),
    CODEC_8E: _Layout(struct.Struct(">QBiihHBHHH"), struct.Struct(">H"), "H", False, True),
    CODEC_16: _Layout(struct.Struct(">QBiihHBHHBB"), struct.Struct(">B"), "H", True, False),
}

_VALUE_FMTS = ("B", "H", "I", "Q")
_VALUE_SIZES = {"B": 1, "H": 2, "I": 4, "Q": 8}
_WIDTH_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}
_U16 = struct.Struct(">H")
_U16_PAIR = struct.Struct(">HH")
_U8 = struct.Struct(">B")


@lru_cache(maxsize=4096)
def group_struct(id_fmt: str, value_fmt: str, count: int) -> struct.Struct:
    """One struct for a whole group of fixed-width IO elements: a single unpack per group."""
    return struct.Struct(">" + (id_fmt + value_fmt) * count)


def decode_records(
    data: bytes, offset: int, end: int, codec: int, count: int, *, extended: bool = False
) -> tuple[list[AvlRecord], int]:
    """Decode ``count`` records of codec 8/8E/16 from ``data[offset:end]``; returns them and the offset.

    ``extended`` reads the 16-byte IO group some firmware adds after the 8-byte one (Traccar's
    ``extended`` option). Raises :class:`MalformedData` when a record runs past ``end``.
    """
    layout = _LAYOUTS[codec]
    header = layout.header
    header_size = header.size
    count_struct = layout.count
    count_size = count_struct.size
    id_fmt = layout.id_fmt
    id_struct = _U16 if id_fmt == "H" else _U8
    id_size = id_struct.size
    generation = layout.generation
    records: list[AvlRecord] = []
    for _ in range(count):
        if offset + header_size > end:
            raise MalformedData("AVL record header runs past the end of the data")
        if generation:
            ts, prio, lon, lat, alt, angle, sats, speed, event, gen, _total = header.unpack_from(
                data, offset
            )
        else:
            ts, prio, lon, lat, alt, angle, sats, speed, event, _total = header.unpack_from(
                data, offset
            )
            gen = None
        offset += header_size
        io: dict[int, int | str] = {}
        for value_fmt in _VALUE_FMTS:
            if offset + count_size > end:
                raise MalformedData("IO group count runs past the end of the data")
            (n,) = count_struct.unpack_from(data, offset)
            offset += count_size
            if n:
                size = n * (id_size + _VALUE_SIZES[value_fmt])
                if offset + size > end:  # checked before building a struct for a bogus count
                    raise MalformedData("IO group runs past the end of the data")
                values = group_struct(id_fmt, value_fmt, n).unpack_from(data, offset)
                offset += size
                io.update(zip(values[0::2], values[1::2], strict=True))
        if extended:
            offset = _decode_blobs(data, offset, end, count_struct, id_struct, False, io)
        if layout.nx:
            offset = _decode_blobs(data, offset, end, _U16, _U16, True, io)
        records.append(
            AvlRecord(
                timestamp_ms=ts,
                priority=prio,
                lon=lon / 10_000_000,
                lat=lat / 10_000_000,
                altitude=alt,
                angle=float(angle),
                satellites=sats,
                speed=speed,
                event_io=event,
                generation_type=gen,
                io=io,
            )
        )
    return records, offset


FixedRecord = tuple[int, int, float, float, int, float, int, int, int, "int | None", tuple[int, ...], tuple[int, ...]]
"""A record read by :func:`decode_fixed`: timestamp (ms), priority, lon, lat (degrees), altitude,
angle, satellites, speed, event IO id, generation type (codec 16, else None), then the IO ids and
their values in wire order."""

MAX_FIXED_ELEMENTS = 255
"""Records with more IO elements than this are left to :func:`decode_records` (no struct per count)."""


@dataclass(frozen=True, slots=True)
class _Shape:
    """One record layout of codec 8/8E/16: so many elements of each width, no variable-length ones."""

    record: struct.Struct
    """The whole record, header to the last group count."""
    counts: tuple[int, ...]
    """The group counts (and the empty NX count of codec 8E) the record says it has."""
    counts_of: Callable[[tuple[Any, ...]], tuple[int, ...]]
    ids_of: Callable[[tuple[Any, ...]], tuple[int, ...]]
    values_of: Callable[[tuple[Any, ...]], tuple[int, ...]]
    generation: bool


def _picker(positions: Sequence[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """``itemgetter`` that always returns a tuple (itemgetter of one position returns the item)."""
    if not positions:
        return lambda values: ()
    if len(positions) == 1:
        (at,) = positions
        return lambda values: (values[at],)
    return itemgetter(*positions)


@lru_cache(maxsize=256)
def _shape(codec: int, counts: tuple[int, ...]) -> _Shape:
    """The struct and positions of a record with ``counts`` elements of 1, 2, 4 and 8 bytes."""
    layout = _LAYOUTS[codec]
    fmt = [layout.header.format]
    at = len(layout.header.unpack(bytes(layout.header.size)))
    count_at: list[int] = []
    id_at: list[int] = []
    for value_fmt, n in zip(_VALUE_FMTS, counts, strict=True):
        fmt.append(layout.count.format[1:] + (layout.id_fmt + value_fmt) * n)
        count_at.append(at)
        id_at.extend(range(at + 1, at + 1 + 2 * n, 2))
        at += 1 + 2 * n
    expected = counts
    if layout.nx:
        fmt.append("H")
        count_at.append(at)
        expected = counts + (0,)
    return _Shape(
        record=struct.Struct("".join(fmt)),
        counts=expected,
        counts_of=itemgetter(*count_at),
        ids_of=_picker(id_at),
        values_of=_picker([i + 1 for i in id_at]),
        generation=layout.generation,
    )


def _shape_at(data: bytes, offset: int, end: int, codec: int) -> _Shape | None:
    """The shape of the record at ``offset``, or None when it is not fixed or does not fit."""
    layout = _LAYOUTS[codec]
    count = layout.count
    id_size = 2 if layout.id_fmt == "H" else 1
    at = offset + layout.header.size
    counts = []
    for value_fmt in _VALUE_FMTS:
        if at + count.size > end:
            return None
        (n,) = count.unpack_from(data, at)
        counts.append(n)
        at += count.size + n * (id_size + _VALUE_SIZES[value_fmt])
    if layout.nx:
        if at + 2 > end or _U16.unpack_from(data, at)[0]:
            return None
        at += 2
    if at > end or sum(counts) > MAX_FIXED_ELEMENTS:
        return None
    return _shape(codec, tuple(counts))


_LAST_SHAPE: dict[int, _Shape] = {}
"""The layout of the last record read per codec: the next packet (of any device) is tried with it
first. Only a hint: a record whose counts differ is measured afresh, so results never depend on it."""


def decode_fixed(
    data: bytes, offset: int, end: int, codec: int, count: int
) -> tuple[list[FixedRecord], int] | None:
    """Decode ``count`` codec 8/8E/16 records as :data:`FixedRecord` tuples, or None.

    None when any record has a variable-length element, or does not fit before ``end``: the caller
    then decodes with :func:`decode_records`, which reads every layout and says what is wrong. A
    record is read with the struct of the previous one (of this packet or the last one) when its
    counts say it has the same layout.
    """
    records: list[FixedRecord] = []
    shape = _LAST_SHAPE.get(codec)
    for _ in range(count):
        values = None
        if shape is not None and offset + shape.record.size <= end:
            values = shape.record.unpack_from(data, offset)
            if shape.counts_of(values) != shape.counts:
                values = None
        if values is None:
            shape = _shape_at(data, offset, end, codec)
            if shape is None:
                return None
            values = shape.record.unpack_from(data, offset)
        assert shape is not None
        offset += shape.record.size
        records.append((
            values[0], values[1], values[2] / 10_000_000, values[3] / 10_000_000, values[4],
            float(values[5]), values[6], values[7], values[8],
            values[9] if shape.generation else None, shape.ids_of(values), shape.values_of(values),
        ))
    if shape is not None:
        _LAST_SHAPE[codec] = shape
    return records, offset


def _decode_blobs(
    data: bytes,
    offset: int,
    end: int,
    count_struct: struct.Struct,
    id_struct: struct.Struct,
    nx: bool,
    io: dict[int, int | str],
) -> int:
    """Read a group of byte-string IO elements (NX: id + 2-byte length; extended: 16 bytes each)."""
    if offset + count_struct.size > end:
        raise MalformedData("IO group count runs past the end of the data")
    (n,) = count_struct.unpack_from(data, offset)
    offset += count_struct.size
    for _ in range(n):
        if not nx:
            if offset + id_struct.size > end:
                raise MalformedData("16-byte IO element runs past the end of the data")
            (io_id,) = id_struct.unpack_from(data, offset)
            offset += id_struct.size
            length = 16
        else:
            if offset + 4 > end:
                raise MalformedData("NX IO element header runs past the end of the data")
            io_id, length = _U16_PAIR.unpack_from(data, offset)
            offset += 4
        if offset + length > end:
            raise MalformedData("variable-length IO element runs past the end of the data")
        io[io_id] = data[offset : offset + length].hex()
        offset += length
    return offset


# Widths the FMB firmware uses for common ids, so encoded packets look like a real device's
# (some servers read fixed widths per id). Other ids get the smallest width that holds the value.
_KNOWN_WIDTHS: dict[int, int] = {
    **dict.fromkeys(
        (1, 2, 3, 4, 21, 30, 32, 69, 80, 81, 82, 89, 113, 155, 156, 157, 158, 159, 175, 179, 180,
         200, 236, 237, 239, 240, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255, 263, 318),
        1,
    ),
    **dict.fromkeys(
        (6, 9, 10, 13, 17, 18, 19, 24, 25, 26, 27, 28, 66, 67, 68, 84, 85, 115, 181, 182, 205, 206),
        2,
    ),
    **dict.fromkeys((12, 16, 72, 73, 74, 75, 83, 87, 199, 241, 636), 4),
    **dict.fromkeys((11, 14, 78, 207, 238), 8),
}


def io_width(io_id: int, value: int) -> int:
    """Bytes used to send ``value`` for ``io_id``: the firmware's width if the value fits, else minimal."""
    known = _KNOWN_WIDTHS.get(io_id)
    if value < 0:
        bits = (-value - 1).bit_length() + 1
    else:
        bits = value.bit_length()
    if known is not None and bits <= known * 8:
        return known
    for width in (1, 2, 4, 8):
        if bits <= width * 8:
            return width
    raise ValueError(f"IO {io_id} value {value} does not fit in 8 bytes")


def encode_records(records: Sequence[AvlRecord], codec: int) -> bytes:
    """The AVL data field from codec id to N2 (no preamble, length or CRC) for codec 8/8E/16.

    Ids that the codec cannot carry (above 255 in codec 8), values wider than 8 bytes and hex-string
    elements outside codec 8E are left out; negative values are sent in two's complement.
    """
    if codec not in _LAYOUTS:
        raise ValueError(f"cannot encode codec {codec:#04x}; use one of 0x08, 0x8E, 0x10")
    if len(records) > 255:
        raise ValueError("one AVL packet carries at most 255 records")
    layout = _LAYOUTS[codec]
    parts = [bytes((codec, len(records)))]
    parts.extend(_encode_record(record, layout, codec) for record in records)
    parts.append(bytes((len(records),)))
    return b"".join(parts)


def _encode_record(record: AvlRecord, layout: _Layout, codec: int) -> bytes:
    max_id = 0xFF if layout.id_fmt == "B" else 0xFFFF
    max_count = 0xFF if layout.count.size == 1 else 0xFFFF
    groups: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 4: [], 8: []}
    blobs: list[tuple[int, bytes]] = []
    for io_id, value in record.io.items():
        if not 0 <= io_id <= max_id:
            continue
        if isinstance(value, str):
            if layout.nx:
                try:
                    blob = bytes.fromhex(value)
                except ValueError:
                    continue
                if len(blob) <= 0xFFFF:
                    blobs.append((io_id, blob))
            continue
        value = int(value)
        try:
            width = io_width(io_id, value)
        except ValueError:
            continue
        if len(groups[width]) < max_count:
            groups[width].append((io_id, value & ((1 << (8 * width)) - 1)))
    total = sum(len(g) for g in groups.values()) + len(blobs)
    event = record.event_io or 0
    if event > max_id:
        event = 0
    gen = record.generation_type
    if gen is None:
        gen = 5 if event else 7  # "on change" for an event, "periodical" otherwise
    header_values: list[int] = [
        int(record.timestamp_ms),
        int(record.priority) & 0xFF,
        round((record.lon or 0.0) * 10_000_000),
        round((record.lat or 0.0) * 10_000_000),
        max(-0x8000, min(0x7FFF, int(round(record.altitude or 0)))),
        int(round(record.angle or 0)) % 0x10000,
        max(0, min(0xFF, int(record.satellites or 0))),
        max(0, min(0xFFFF, int(round(record.speed or 0)))),
        event,
    ]
    if layout.generation:
        header_values.append(gen & 0xFF)
    header_values.append(min(total, max_count))
    try:
        parts = [layout.header.pack(*header_values)]
    except struct.error as exc:
        raise ValueError(f"AVL record out of range for the wire format: {exc}") from None
    count = layout.count
    for width, elements in groups.items():
        parts.append(count.pack(len(elements)))
        if elements:
            flat = [item for pair in elements for item in pair]
            parts.append(group_struct(layout.id_fmt, _WIDTH_FMT[width], len(elements)).pack(*flat))
    if layout.nx:
        parts.append(_U16.pack(len(blobs)))
        for io_id, blob in blobs:
            parts.append(_U16_PAIR.pack(io_id, len(blob)))
            parts.append(blob)
    return b"".join(parts)
