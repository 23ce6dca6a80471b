"""Codec 7, the GH3000 personal trackers' AVL format, decoded the way Traccar does.

Unlike codecs 8/8E/16 every part of a record is optional and announced by bit masks, the time is
seconds since 2007-01-01 with the priority in its two top bits, and coordinates are IEEE floats.
Records without a GPS element are status reports (no position).
"""

from __future__ import annotations

import struct
from typing import Any

from protocols.teltonika.avl import AvlRecord, MalformedData, group_struct

GH3000_EPOCH = 1167609600
"""2007-01-01T00:00:00Z, the zero of the codec 7 clock."""

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_LATLON = struct.Struct(">ff")
_LAC_CELL = struct.Struct(">HH")
_TIME_MASK = struct.Struct(">IB")


def decode_records(data: bytes, offset: int, end: int, count: int) -> tuple[list[AvlRecord], int]:
    """Decode ``count`` codec 7 records from ``data[offset:end]``; returns them and the new offset."""
    records: list[AvlRecord] = []
    for _ in range(count):
        _need(offset, 5, end)
        raw_time, global_mask = _TIME_MASK.unpack_from(data, offset)
        offset += 5
        record = AvlRecord(
            timestamp_ms=((raw_time & 0x3FFFFFFF) + GH3000_EPOCH) * 1000,
            priority=raw_time >> 30,
        )
        if global_mask & 0x01:
            offset = _decode_location(data, offset, end, record)
        io: dict[int, int | str] = {}
        for bit, value_fmt in ((0x02, "B"), (0x04, "H"), (0x08, "I")):
            if global_mask & bit:
                _need(offset, 1, end)
                n = data[offset]
                offset += 1
                if n:
                    group = group_struct("B", value_fmt, n)
                    _need(offset, group.size, end)
                    values = group.unpack_from(data, offset)
                    offset += group.size
                    io.update(zip(values[0::2], values[1::2], strict=True))
        record.io = io
        records.append(record)
    return records, offset


def _decode_location(data: bytes, offset: int, end: int, record: AvlRecord) -> int:
    """The optional GPS element: each bit of the location mask announces one field."""
    _need(offset, 1, end)
    mask = data[offset]
    offset += 1
    extra: dict[str, Any] = {}
    if mask & 0x01:
        _need(offset, 8, end)
        lat, lon = _LATLON.unpack_from(data, offset)
        offset += 8
        # float32 holds about 7 significant digits: 6 decimals keep all of it and drop the noise
        record.lat = round(lat, 6)
        record.lon = round(lon, 6)
    if mask & 0x02:
        _need(offset, 2, end)
        (record.altitude,) = _U16.unpack_from(data, offset)
        offset += 2
    if mask & 0x04:
        _need(offset, 1, end)
        record.angle = data[offset] * 360.0 / 256
        offset += 1
    if mask & 0x08:
        _need(offset, 1, end)
        record.speed = data[offset]
        offset += 1
    if mask & 0x10:
        _need(offset, 1, end)
        record.satellites = data[offset]
        offset += 1
    if mask & 0x20:
        _need(offset, 4, end)
        extra["lac"], extra["cell_id"] = _LAC_CELL.unpack_from(data, offset)
        offset += 4
    if mask & 0x40:
        _need(offset, 1, end)
        extra["gsm_signal"] = data[offset]
        offset += 1
    if mask & 0x80:
        _need(offset, 4, end)
        (extra["operator"],) = _U32.unpack_from(data, offset)
        offset += 4
    record.extra = extra or None
    return offset


def _need(offset: int, size: int, end: int) -> None:
    if offset + size > end:
        raise MalformedData("codec 7 record runs past the end of the data")
