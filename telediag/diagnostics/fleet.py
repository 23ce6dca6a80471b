"""The fleet-wide time checks, vectorised: silence and the activation window of every device at once.

They are the only checks whose verdict changes with nothing but time passing, so the periodic sweep
runs them over the whole fleet: one query for the columns they read, numpy for the decision. Only a
device whose time verdict differs from its active findings (raise or clear), or one whose finding
is renewed, gets a per-device verdict, and that verdict (its evidence) comes from
:func:`checks.check_activation` and :func:`checks.check_silence` themselves on a snapshot of those
columns, so the words and numbers are the checks'. ``tests/telediag/diagnostics/test_fleet.py``
proves the vectorised decision equal to the checks on a varied fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from telediag.config import Thresholds
from telediag.diagnostics import checks
from telediag.diagnostics.snapshot import DeviceSnapshot
from telediag.store.database import Connection

TIME_CODES = ("ACTIVATION_PENDING", "NO_DATA_AFTER_ACTIVATION", "DEVICE_SILENT")

_COLUMNS = """
SELECT d.imei, d.activated_at, d.registered_at, d.report_interval_s, a.home_country, a.coverage,
       s.first_seen, s.last_seen, s.connected, s.last_lat, s.last_lon
FROM devices d LEFT JOIN accounts a ON a.name = d.account LEFT JOIN device_state s ON s.imei = d.imei
UNION ALL
SELECT s.imei, NULL, NULL, NULL, NULL, NULL, s.first_seen, s.last_seen, s.connected, s.last_lat, s.last_lon
FROM device_state s WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.imei = s.imei)
"""
"""Every device the sweep knows: registered ones, and any that ever connected without being registered."""


@dataclass(frozen=True)
class FleetColumns:
    """The time checks' inputs for every device, one array per column (NaN for unknown)."""

    imei: list[str]
    activated_at: NDArray[np.float64]
    registered_at: NDArray[np.float64]
    report_interval_s: NDArray[np.float64]
    first_seen: NDArray[np.float64]
    last_seen: NDArray[np.float64]
    connected: NDArray[np.float64]
    last_lat: NDArray[np.float64]
    last_lon: NDArray[np.float64]
    home_country: list[str | None]
    coverage: list[str | None]

    def __len__(self) -> int:
        return len(self.imei)

    def snapshot(self, index: int, now: float) -> DeviceSnapshot:
        """The snapshot the time checks read, for one device (their evidence comes from it)."""
        def value(column: NDArray[np.float64]) -> float | None:
            number = float(column[index])
            return None if np.isnan(number) else number

        interval = value(self.report_interval_s)
        device = {"activated_at": value(self.activated_at), "registered_at": value(self.registered_at),
                  "report_interval_s": interval}
        heard = not (np.isnan(self.first_seen[index]) and np.isnan(self.last_seen[index]))
        connected = value(self.connected)
        state = None if not heard and connected is None else {
            "first_seen": value(self.first_seen), "last_seen": value(self.last_seen),
            "connected": None if connected is None else int(connected),
            "last_lat": value(self.last_lat), "last_lon": value(self.last_lon),
        }
        return DeviceSnapshot(imei=self.imei[index], now=now, device=device, state=state)


def load_columns(db: Connection) -> FleetColumns:
    """The columns of every device, in one query."""
    rows = db.execute(_COLUMNS).fetchall()
    transposed: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 11

    def numbers(index: int) -> NDArray[np.float64]:
        return np.array([np.nan if v is None else v for v in transposed[index]], dtype=np.float64)

    return FleetColumns(
        imei=list(transposed[0]), activated_at=numbers(1), registered_at=numbers(2), report_interval_s=numbers(3),
        home_country=list(transposed[4]), coverage=list(transposed[5]), first_seen=numbers(6),
        last_seen=numbers(7), connected=numbers(8), last_lat=numbers(9), last_lon=numbers(10),
    )


@dataclass(frozen=True)
class TimeVerdicts:
    """Per device (aligned with the columns): which time codes are present, which are judged absent.

    ``present[code]`` true: the check would give the code evidence. ``judged[code]`` true: the check
    gives the code a verdict at all (present or None); false: it leaves the code out (cannot judge).
    """

    present: dict[str, NDArray[np.bool_]]
    judged: dict[str, NDArray[np.bool_]]


def time_verdicts(columns: FleetColumns, now: float, t: Thresholds) -> TimeVerdicts:
    """:func:`checks.check_activation` and :func:`checks.check_silence` for every device at once."""
    size = len(columns)
    heard = ~(np.isnan(columns.first_seen) & np.isnan(columns.last_seen))
    activated = columns.activated_at
    waiting = ~heard & ~np.isnan(activated)
    registered = columns.registered_at
    start = np.where(np.isnan(registered), activated, np.fmax(activated, registered))
    with np.errstate(invalid="ignore"):
        pending = waiting & (now - start < t.activation_window_s)
    overdue = waiting & ~pending
    everywhere = np.ones(size, dtype=bool)

    interval = columns.report_interval_s
    interval = np.where(np.isnan(interval) | (interval == 0), t.default_report_interval_s, interval)
    limit = np.maximum(t.silence_min_s, t.silence_factor * interval)
    last_seen = columns.last_seen
    known = ~np.isnan(last_seen)
    with np.errstate(invalid="ignore"):
        silent = known & (now - last_seen > limit)
    return TimeVerdicts(
        present={"ACTIVATION_PENDING": pending, "NO_DATA_AFTER_ACTIVATION": overdue, "DEVICE_SILENT": silent},
        judged={"ACTIVATION_PENDING": everywhere, "NO_DATA_AFTER_ACTIVATION": everywhere,
                "DEVICE_SILENT": known | ~heard},
    )


def device_time_verdicts(columns: FleetColumns, index: int, now: float, t: Thresholds) -> checks.Verdicts:
    """The time checks' own verdicts for one device (with their evidence)."""
    snapshot = columns.snapshot(index, now)
    verdicts = checks.check_activation(snapshot, t)
    verdicts.update(checks.check_silence(snapshot, t))
    return verdicts
