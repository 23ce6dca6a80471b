"""Everything the checks need to know about one device at one moment, read from the store at once.

The checks are pure functions of a :class:`DeviceSnapshot`, so they are tested with hand-built
snapshots and no database; this module is the only place that knows the SQL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from telediag.config import Thresholds
from telediag.store.database import Connection

_DEVICE = """
SELECT d.imei, d.protocol, d.account, d.vehicle_plate, d.iccid, d.activated_at, d.report_interval_s,
       d.install_profile, d.registered_at, d.source, s.apn, s.roaming_allowed, a.coverage, a.home_country
FROM devices d LEFT JOIN accounts a ON a.name = d.account LEFT JOIN sim_profiles s ON s.iccid = d.iccid
WHERE d.imei = ?
"""
RECENT_COLUMNS = (
    "fix_time", "server_time", "valid", "lat", "lon", "speed_kmh", "satellites", "hdop", "ignition",
    "motion", "ext_voltage_v", "battery_voltage_v", "gsm_signal_pct", "operator", "roaming",
)
_RECENT = (
    f"SELECT {', '.join(RECENT_COLUMNS)} FROM records WHERE imei = ? AND fix_time IS NOT NULL "
    "ORDER BY server_time DESC, id DESC LIMIT ?"
)
"""By arrival (the ``records_by_arrival`` index), not by fix time: a clock that jumps back sends records
whose fix times sort them under older ones, and by fix time they would never be the latest."""
_ARRIVED_SINCE = (
    f"SELECT {', '.join(RECENT_COLUMNS)} FROM records WHERE imei = ? AND server_time > ? "
    "ORDER BY server_time, id LIMIT ?"
)
_FUTURE = "SELECT count(*) FROM records WHERE imei = ? AND fix_time > ? AND server_time >= ?"
_UNUSABLE = """FROM records WHERE imei = ? AND fix_time IS NULL AND server_time >= ?
AND attributes LIKE '%"raw_fix_time":%' """
_UNUSABLE_TIMES = f"SELECT count(*) {_UNUSABLE}"
"""Records whose fix time was too absurd to keep (``telediag.plausibility``): clock evidence too. (The
attributes are orjson's: the key is matched as text, which SQL of every store backend can do.)"""
_LATEST_UNUSABLE = f"SELECT attributes, server_time {_UNUSABLE} ORDER BY server_time DESC, id DESC LIMIT 1"
_EVENTS = (
    "SELECT at, type, cause, apn, mcc, mnc, rat FROM connectivity_events "
    "WHERE (imei = ? OR iccid = ?) AND at >= ? ORDER BY at, id"
)
_ERRORS = "SELECT count(*), min(at) FROM ingest_errors WHERE imei = ? AND at >= ?"
_LAST_ERROR = "SELECT message, excerpt FROM ingest_errors WHERE imei = ? ORDER BY id DESC LIMIT 1"


@dataclass(frozen=True)
class DeviceSnapshot:
    """One device as the checks see it. Times are epoch seconds; unknown values are None."""

    imei: str
    now: float
    device: dict[str, Any] | None = None
    """Registry row joined with its SIM profile and account (raw values)."""
    state: dict[str, Any] | None = None
    """``device_state`` row: connection, first/last seen, protocol error counters."""
    recent: list[dict[str, Any]] = field(default_factory=list)
    """Latest records with a fix time, by arrival (server time, then store order), newest first."""
    future_records: int = 0
    """Records received within the recent window whose fix time lies ahead of the server clock."""
    unusable_times: int = 0
    """Records received within the recent window whose fix time was impossible (kept only as raw)."""
    unusable_sample: tuple[Any, float] | None = None
    """The raw fix time and arrival of the latest of those."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Connectivity events within the window, oldest first."""
    errors_in_window: int = 0
    first_error_at: float | None = None
    """When the first undecodable frame of the window arrived (the onset of PROTOCOL_ERRORS)."""
    last_error: dict[str, Any] | None = None
    reports: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    """What the device itself answered to server commands: name -> (value, when)."""
    history: pd.DataFrame | None = None
    """Stored history for the installation and journey checks (None when not loaded)."""

    @property
    def protocol(self) -> str | None:
        """The device's protocol, from the registry or its last connection."""
        for source in (self.device, self.state):
            protocol = source.get("protocol") if source else None
            if protocol:
                return str(protocol)
        return None

    @property
    def heard(self) -> bool:
        """Whether the device ever sent anything (a connection or a record)."""
        return bool(self.state and (self.state.get("first_seen") or self.state.get("last_seen")))


def _row_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    return None if row is None else dict(zip((d[0] for d in cursor.description), row, strict=True))


def load_snapshot(
    db: Connection, imei: str, now: float, thresholds: Thresholds, with_history: bool = True
) -> DeviceSnapshot:
    """Read one device's snapshot; ``with_history`` adds the installation history (the costly part)."""
    cursor = db.execute(_DEVICE, (imei,))
    device = _row_dict(cursor, cursor.fetchone())
    cursor = db.execute("SELECT * FROM device_state WHERE imei = ?", (imei,))
    state = _row_dict(cursor, cursor.fetchone())
    recent = [
        dict(zip(RECENT_COLUMNS, row, strict=True))
        for row in db.execute(_RECENT, (imei, thresholds.recent_records))
    ]
    window_start = now - thresholds.protocol_error_window_s
    future = db.execute(
        _FUTURE, (imei, now + thresholds.clock_future_tolerance_s, window_start)
    ).fetchone()[0]
    (unusable,) = db.execute(_UNUSABLE_TIMES, (imei, window_start)).fetchone()
    sample = None
    if unusable:
        attributes, arrived = db.execute(_LATEST_UNUSABLE, (imei, window_start)).fetchone()
        sample = (orjson.loads(attributes).get("raw_fix_time"), arrived)
    iccid = device.get("iccid") if device else None
    events = [
        dict(zip(("at", "type", "cause", "apn", "mcc", "mnc", "rat"), row, strict=True))
        for row in db.execute(_EVENTS, (imei, iccid or "", now - thresholds.connectivity_window_s))
    ]
    errors, first_error_at = db.execute(_ERRORS, (imei, window_start)).fetchone()
    last_error = None
    if errors:
        message, excerpt = db.execute(_LAST_ERROR, (imei,)).fetchone()
        last_error = {"message": message, "excerpt": excerpt}
    reports = {
        name: (value, at)
        for name, value, at in db.execute("SELECT name, value, at FROM device_evidence WHERE imei = ?", (imei,))
    }
    history = None
    if with_history:
        from telediag.diagnostics.history import load_history

        history = load_history(db, imei, now - thresholds.history_s, now + thresholds.clock_future_tolerance_s)
    return DeviceSnapshot(
        imei=imei, now=now, device=device, state=state, recent=recent, future_records=future,
        unusable_times=unusable, unusable_sample=sample,
        events=events, errors_in_window=errors, first_error_at=first_error_at, last_error=last_error,
        reports=reports, history=history,
    )


def known_devices(db: Connection) -> list[str]:
    """Every device the sweep looks at: registered ones and any that ever connected."""
    return [
        row[0] for row in db.execute("SELECT imei FROM devices UNION SELECT imei FROM device_state ORDER BY 1")
    ]


def arrived_since(db: Connection, imei: str, since: float, limit: int) -> list[dict[str, Any]]:
    """The device's records that arrived after ``since``, oldest arrival first, at most ``limit``
    (the ``records_by_arrival`` index): what another process committed since the rolling figures
    last saw the device."""
    return [dict(zip(RECENT_COLUMNS, row, strict=True)) for row in db.execute(_ARRIVED_SINCE, (imei, since, limit))]
