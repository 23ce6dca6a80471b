"""The plausibility rules every record passes in the pipeline, and the clean-up of rows stored before."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import orjson
import pytest

from protocols.record import Record, iso_utc
from telediag.config import ConfigError, parse_config
from telediag.plausibility import Bounds, checked, checked_all, raw_fix_seconds
from telediag.store.reader import Reader
from telediag.store.rows import ROW_COLUMNS, record_row
from telediag.store.sqlite import MIGRATIONS
from tests.stores import database_at

NOW = 1_780_000_000.0  # 2026-05-28
BOUNDS = Bounds.from_settings(500.0, 2000, 86_400.0)


def fix(**values: object) -> Record:
    base: dict[str, object] = dict(imei="356307042441013", protocol="teltonika", fix_time=NOW - 5, valid=True,
                                   lat=52.2, lon=21.0, speed_kmh=50.0, satellites=9)
    base.update(values)
    return Record(**base)  # type: ignore[arg-type]


def test_a_plausible_record_passes_unchanged() -> None:
    record = fix(attributes={"io66": 24079})
    assert checked(record, NOW, BOUNDS) is record
    records = [record, fix(fix_time=NOW - 10)]
    assert checked_all(records, NOW, BOUNDS) is records


@pytest.mark.parametrize("lat, lon", [(200.0, 21.0), (52.0, 214.0), (-214.7, 10.0), (math.nan, 21.0),
                                      (52.0, math.inf), (-math.inf, -math.inf), (999.0, 999.0)])
def test_impossible_coordinates_are_kept_raw_and_the_fix_is_invalid(lat: float, lon: float) -> None:
    out = checked(fix(lat=lat, lon=lon), NOW, BOUNDS)
    assert out.valid is False
    assert out.lat is None and out.lon is None
    assert "raw_lat" in out.attributes and "raw_lon" in out.attributes
    assert "lat" in out.attributes["invalid_reason"] or "lon" in out.attributes["invalid_reason"]
    orjson.dumps(out.attributes)  # NaN and infinity are kept as text, which JSON can carry


@pytest.mark.parametrize("speed", [65535.0, 501.0, -3.0, math.nan])
def test_impossible_speeds_are_kept_raw(speed: float) -> None:
    out = checked(fix(speed_kmh=speed), NOW, BOUNDS)
    assert out.valid is False and out.speed_kmh is None
    assert out.attributes["raw_speed_kmh"] == (speed if math.isfinite(speed) else str(speed))
    assert out.lat == 52.2  # the position itself stays where it was


@pytest.mark.parametrize("fix_time", [
    0xFFFFFFFFFFFFFFFF / 1000, 1e30, -1.0, 0.0, math.nan, math.inf,
    4_102_444_800.0,  # 2100-01-01
    NOW + 2 * 86_400,
])
def test_impossible_times_become_null_with_the_raw_value_as_clock_evidence(fix_time: float) -> None:
    out = checked(fix(fix_time=fix_time), NOW, BOUNDS)
    assert out.fix_time is None and out.valid is False
    assert out.attributes["raw_fix_time"] is not None
    assert "fix_time" in out.attributes["invalid_reason"]
    evidence = raw_fix_seconds(out.attributes)
    assert evidence is not None and abs(evidence - NOW) > 86_400


def test_times_within_the_bounds_are_kept_even_when_odd() -> None:
    week_rollover = NOW - 19.6 * 365 * 86_400  # 2006: a GPS week rollover, CLOCK_INVALID's own case
    assert checked(fix(fix_time=week_rollover), NOW, BOUNDS).fix_time == week_rollover
    assert checked(fix(fix_time=NOW + 3600), NOW, BOUNDS).fix_time == NOW + 3600


def test_measurements_out_of_their_unit_lose_the_column_but_not_the_fix() -> None:
    out = checked(fix(gsm_signal_pct=300, satellites=65535, ext_voltage_v=math.inf, operator=2**70), NOW, BOUNDS)
    assert out.valid is True
    assert (out.gsm_signal_pct, out.satellites, out.ext_voltage_v, out.operator) == (None, None, None, None)
    assert out.attributes["raw_satellites"] == 65535
    assert out.attributes["raw_operator"] == str(2**70)  # beyond 64 bits: text, which every store keeps


def test_an_earlier_reason_is_kept() -> None:
    out = checked(fix(lat=95.0, attributes={"invalid_reason": "fix time 2026-13-01 is not a date"}), NOW, BOUNDS)
    assert out.attributes["invalid_reason"].startswith("fix time 2026-13-01 is not a date; lat 95.0")


def test_bounds_come_from_the_ingest_section() -> None:
    config = parse_config({"ingest": {"max_speed_kmh": 300, "min_fix_year": 2010, "max_future_s": 600}})
    bounds = config.ingest.bounds
    assert bounds.max_speed_kmh == 300 and bounds.max_future_s == 600
    assert iso_utc(bounds.min_fix_time) == "2010-01-01T00:00:00.000Z"
    with pytest.raises(ConfigError, match="min_fix_year"):
        parse_config({"ingest": {"min_fix_year": 20000}})


def test_iso_utc_copes_with_any_stored_number() -> None:
    for value in (1.8e16, 1e30, math.nan, math.inf, -1e20):
        assert iso_utc(value) is None
    assert iso_utc(-1.0) == "1969-12-31T23:59:59.000Z"


def _poisoned_old_store(path: Path) -> None:
    """A store as the version before plausibility left it: its schema, absurd values in their columns."""
    before = next(m.version - 1 for m in MIGRATIONS if "records_time_unknown" in m.script)
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:before]:
        db.executescript(migration.script)
    db.execute(f"PRAGMA user_version = {before}")
    imei = "356307042441013"
    rows = [record_row(imei, r, NOW) for r in (
        fix(fix_time=0xFFFFFFFFFFFFFFFF / 1000), fix(lat=200.0, lon=214.0, fix_time=NOW - 60), fix(fix_time=NOW - 30))]
    db.executemany(f"INSERT INTO records ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})", rows)
    db.execute("INSERT INTO device_state (imei, protocol, first_seen, last_seen, last_fix_time, last_lat, last_lon) "
               "VALUES (?, 'teltonika', ?, ?, ?, 200, 21)", (imei, NOW, NOW, 0xFFFFFFFFFFFFFFFF / 1000))
    db.commit()
    db.close()


@pytest.mark.sqlite_only
def test_the_upgrade_moves_absurd_stored_values_out_of_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "telediag.sqlite3"
    _poisoned_old_store(path)
    database_at(path).connect().close()
    reader = Reader(database_at(path))
    try:
        rows = list(reader.records("356307042441013"))
        assert len(rows) == 3
        absurd = [r for r in rows if "raw_fix_time" in r["attributes"]]
        assert len(absurd) == 1 and absurd[0]["fix_time"] is None and absurd[0]["valid"] is False
        off_earth = [r for r in rows if "raw_lat" in r["attributes"]]
        assert off_earth[0]["lat"] is None and off_earth[0]["attributes"]["raw_lon"] == 214.0
        state = reader.device_state("356307042441013")
        assert state is not None and state["last_fix_time"] is None and state["last_lat"] is None
        plan = " ".join(str(row) for row in reader.connection.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM records WHERE imei = ? AND fix_time IS NULL "
            "AND server_time >= ?", ("x", 0.0)))
        assert "records_time_unknown" in plan  # clock evidence never walks a device's whole history
    finally:
        reader.close()
