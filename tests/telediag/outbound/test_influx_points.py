"""The record -> point mapping of the InfluxDB export: pure, no server."""

from __future__ import annotations

import math

import pytest

from telediag.outbound.influx_points import (
    FIELD_KEYS,
    MEASUREMENT,
    ROW_COLUMNS,
    TelemetryPoint,
    line_protocol,
    record_point,
    row_line,
    time_ns,
)

FIX = 1_790_000_000.125


def point(**values: object) -> TelemetryPoint:
    base: dict[str, object] = {"imei": "356307042441013", "protocol": "teltonika", "fix_time": FIX,
                               "server_time": FIX + 2}
    base.update(values)
    made = record_point(base)
    assert made is not None
    return made


def test_unknown_values_are_left_out_never_zero() -> None:
    made = point(lat=52.25, lon=None, speed_kmh=0.0, ignition=None, valid=False)
    assert made.fields == (("lat", 52.25), ("speed_kmh", 0.0), ("valid", False))
    assert b"lon" not in line_protocol(made) and b"ignition" not in line_protocol(made)


def test_numbers_are_floats_and_flags_booleans() -> None:
    made = point(satellites=7, gsm_signal_pct=80, odometer_m=12345, valid=1, ignition=0, motion=1, roaming=0)
    assert made.field("satellites") == 7.0 and isinstance(made.field("satellites"), float)
    assert made.field("gsm_signal_pct") == 80.0 and isinstance(made.field("odometer_m"), float)
    flags = [made.field(name) for name in ("valid", "ignition", "motion", "roaming")]
    assert flags == [True, False, True, False]
    line = line_protocol(made).decode()
    assert "satellites=7.0" in line and "gsm_signal_pct=80.0" in line
    assert "valid=true" in line and "ignition=false" in line and "roaming=false" in line


def test_every_field_in_schema_order() -> None:
    values = {name: 1.5 for name in FIELD_KEYS}
    values.update(valid=True, ignition=True, motion=False, roaming=True, event="sos")
    made = point(**values)
    assert [name for name, _ in made.fields] == list(FIELD_KEYS)
    assert made.field("event") == "sos"


def test_tags_sorted_and_account_absent_when_unknown() -> None:
    with_account = point(account="Acme Logistics", lat=1.0)
    assert with_account.tags == (("account", "Acme Logistics"), ("imei", "356307042441013"),
                                 ("protocol", "teltonika"))
    assert line_protocol(with_account).startswith(
        b"telemetry,account=Acme\\ Logistics,imei=356307042441013,protocol=teltonika lat=1.0 "
    )
    for missing in (None, ""):
        made = point(account=missing, lat=1.0)
        assert [key for key, _ in made.tags] == ["imei", "protocol"]
        assert line_protocol(made).startswith(b"telemetry,imei=356307042441013,protocol=teltonika lat=1.0 ")


def test_time_is_the_fix_time_else_the_server_time_in_ns() -> None:
    assert point(lat=1.0).time_ns == 1_790_000_000_125_000_000
    assert point(lat=1.0, fix_time=None).time_ns == 1_790_000_002_125_000_000
    assert line_protocol(point(lat=1.0)).endswith(b" 1790000000125000000")
    # a float of epoch seconds carries microseconds at best: rounded there, then exact in ns
    assert time_ns(1_790_000_000.1234567, None) == 1_790_000_000_123_457_000
    assert time_ns(946_684_800.5, None) == 946_684_800_500_000_000  # a clock reset to 2000 is kept
    assert time_ns(-86_400.0, None) == -86_400_000_000_000  # before 1970: InfluxDB takes it


def test_times_influxdb_cannot_hold_give_no_point() -> None:
    assert time_ns(None, None) is None
    assert time_ns(math.nan, 5.0) is None
    assert time_ns(math.inf, None) is None
    assert time_ns(1e10, None) is None  # year 2286, past int64 nanoseconds
    assert record_point({"imei": "1", "protocol": "gt06", "fix_time": 1e10, "lat": 1.0}) is None


def test_a_record_without_any_value_gives_no_point() -> None:
    assert record_point({"imei": "1", "protocol": "gt06", "fix_time": FIX, "server_time": FIX}) is None
    assert record_point({"imei": "1", "protocol": "gt06", "fix_time": FIX, "lat": math.nan}) is None


def test_values_line_protocol_cannot_carry_are_left_out() -> None:
    made = point(lat=math.nan, lon=math.inf, altitude_m="garbage", speed_kmh=-math.inf, hdop=0.9)
    assert made.fields == (("hdop", 0.9),)


def test_escaping_keeps_one_line_per_point() -> None:
    made = point(account='A, B=C \\ "D"\nE\tF', event='say "hi"\\ \r\nbye', lat=1.0)
    line = line_protocol(made)
    assert b"\n" not in line and b"\r" not in line
    text = line.decode()
    assert text.startswith('telemetry,account=A\\,\\ B\\=C\\ \\\\\\ "D"\\nE\\tF,imei=')
    assert 'event="say \\"hi\\"\\\\ \\r\\nbye"' in text


def test_floats_round_trip_exactly() -> None:
    for value in (52.229876543, -0.000012, 1e-7, 123456789.125, 0.1 + 0.2):
        made = point(lat=value)
        field = line_protocol(made).split(b" ")[1]
        assert float(field.split(b"=")[1]) == value


def test_row_line_reads_the_exporter_row_layout() -> None:
    row = [None] * len(ROW_COLUMNS)
    row[ROW_COLUMNS.index("imei")] = "860000000000001"
    row[ROW_COLUMNS.index("protocol")] = "gt06"
    row[ROW_COLUMNS.index("account")] = "fleet"
    row[ROW_COLUMNS.index("fix_time")] = 1_790_000_000.0
    row[ROW_COLUMNS.index("speed_kmh")] = 42
    row[ROW_COLUMNS.index("motion")] = 1
    assert row_line(row) == (
        b"telemetry,account=fleet,imei=860000000000001,protocol=gt06 speed_kmh=42.0,motion=true "
        b"1790000000000000000"
    )
    assert MEASUREMENT == "telemetry"


@pytest.mark.parametrize("imei", ["356307042441013", "with space", "x,y", "a=b"])
def test_tag_values_never_break_the_line(imei: str) -> None:
    line = line_protocol(point(imei=imei, lat=1.0)).decode()
    head, fields, stamp = line.rsplit(" ", 2)
    assert fields == "lat=1.0" and stamp == "1790000000125000000"
