"""Per-device rolling state, updated from the records as they are committed: which devices' verdicts
can change, without reading the store.

A healthy tracker sends a packet a minute for years, and each one used to cost a snapshot from SQL
and every check. Here each committed record is folded into a few numbers per device: a bit per
record of the checks' window (``recent_records``) saying whether the record is *remarkable* (it
could make some record check say something: no fix, few satellites, a bad or jumping clock, a late
arrival, low voltage, weak signal, a position outside the plan's coverage, an impossible jump), the
last fix, and the latest fix time. A device whose window holds no remarkable record and which has
no active finding cannot change any record verdict (every check finds nothing, and nothing is there
to clear), so it is not evaluated; any other device is, from the store, as before.

The rule is deliberately wider than the checks: a record it calls remarkable only costs an
evaluation. ``tests/telediag/diagnostics/test_rolling.py`` feeds fleets with every fault through
both ways and finds the same findings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocols.record import Record
from telediag.config import Thresholds
from telediag.diagnostics import geography
from telediag.diagnostics.geodesy import EARTH_RADIUS_M

JUMP_MIN_M = 500.0
"""Consecutive fixes closer than this never count as an impossible jump (``checks._impossible_jumps``)."""
MARGIN = 0.99
"""Distances and speeds are compared a percent short of the checks' limits: the scalar haversine here
and the checks' numpy one may differ in the last bits, and the rule must never be the narrower."""
Fields = tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any]
"""(fix_time, valid, lat, lon, satellites, hdop, ext_voltage_v, battery_voltage_v, gsm_signal_pct)."""


def _record_fields(record: Record) -> Fields:
    r = record
    return (r.fix_time, r.valid, r.lat, r.lon, r.satellites, r.hdop, r.ext_voltage_v, r.battery_voltage_v,
            r.gsm_signal_pct)


def _row_fields(row: Mapping[str, Any]) -> Fields:
    return (row["fix_time"], row["valid"], row["lat"], row["lon"], row["satellites"], row["hdop"],
            row["ext_voltage_v"], row["battery_voltage_v"], row["gsm_signal_pct"])


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance of two points (the scalar twin of ``geodesy.haversine_m``)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((phi2 - phi1) / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(
        math.radians(lon2 - lon1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


@dataclass(frozen=True, slots=True)
class Plan:
    """What the coverage rule needs of a device's registry entry."""

    home_country: str | None
    coverage: str | None


NO_PLAN = Plan(None, None)


class DeviceTrack:
    """One device's rolling figures (about 150 bytes)."""

    __slots__ = ("flags", "count", "fix_time", "lat", "lon", "latest_fix", "arrived", "extra", "fixes")

    def __init__(self) -> None:
        self.flags = 0
        """Bit ``i`` set: the ``i``-th newest record of the window is remarkable."""
        self.count = 0
        """Records folded, up to the window's length."""
        self.fix_time: float | None = None
        self.lat: float | None = None
        self.lon: float | None = None
        """The last valid fix folded."""
        self.latest_fix: float | None = None
        """The latest fix time folded (a clock jumping back lies below it)."""
        self.arrived = -math.inf
        """Server time of the latest batch folded (or read from the store by a rebuild): a batch that
        arrived no later is in the window already."""
        self.fixes = 0
        """Valid fixes folded: every ``abroad_min_positions``-th one has its country looked up."""
        self.extra = False
        """The last evaluation from the store saw inputs records do not carry (connectivity events,
        bad frames, unusable times): evaluate again until one sees none."""

    @property
    def quiet(self) -> bool:
        """Nothing in the window or beside it that a record check could speak of."""
        return not self.flags and not self.extra


@dataclass
class FoldResult:
    """What folding a batch of committed records found."""

    evaluate: set[str]
    """Devices whose verdicts may change."""
    skipped: int
    """Devices with new records whose verdicts cannot change."""


class RollingState:
    """Every reporting device's :class:`DeviceTrack`, and the active findings of every device."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.tracks: dict[str, DeviceTrack] = {}
        self.active: dict[str, frozenset[str]] = {}
        """Active finding codes by device (only devices that have some)."""
        self.plans: dict[str, Plan] = {}
        """Coverage plans by device (only devices with a plan that can leave something uncovered)."""
        self._mask = (1 << max(1, thresholds.recent_records)) - 1
        self._plans: dict[tuple[str | None, str], Plan] = {}
        self._every = max(1, thresholds.abroad_min_positions)

    # -- what is known from the store ----------------------------------------------------------------------

    def load_active(self, rows: Iterable[tuple[str, str]]) -> None:
        """(imei, code) of every active finding, read once at start."""
        active: dict[str, set[str]] = {}
        for imei, code in rows:
            active.setdefault(imei, set()).add(code)
        self.active = {imei: frozenset(codes) for imei, codes in active.items()}

    def set_active(self, imei: str, codes: Iterable[str]) -> None:
        """The device's active findings after an evaluation."""
        found = frozenset(codes)
        if found:
            self.active[imei] = found
        else:
            self.active.pop(imei, None)

    def set_plan(self, imei: str, home_country: str | None, coverage: str | None) -> None:
        """The device's coverage plan, from the registry (a world plan covers everything)."""
        plan = coverage.strip().lower() if isinstance(coverage, str) else None
        if plan is None or plan == "world":
            self.plans.pop(imei, None)
        else:  # one Plan object per distinct plan: a fleet has few
            self.plans[imei] = self._plans.setdefault((home_country, plan), Plan(home_country, plan))

    def forget(self, imei: str) -> None:
        """Nothing is known of the device's window (records committed elsewhere): evaluate it from the store."""
        self.tracks.pop(imei, None)

    def rebuild(self, imei: str, recent: list[dict[str, Any]], extra: bool) -> None:
        """The device's track from a snapshot read from the store (its window, newest first).

        The snapshot may already hold records of batches still waiting to be folded (committed after
        the run began): the track remembers the latest arrival it saw, and :meth:`fold` passes over
        batches that arrived no later. Folded again, their fix times would lie under the newest
        one and look like a clock jumping back: a device reporting faster than the debounce would
        be evaluated from the store at every run.
        """
        track = DeviceTrack()
        self.tracks[imei] = track
        plan = self.plans.get(imei, NO_PLAN)
        for record in reversed(recent):
            self._fold(track, _row_fields(record), record["server_time"], plan)
        track.extra = extra

    def arrived(self, imei: str) -> float | None:
        """The latest arrival folded for the device; None while its window is not known here."""
        track = self.tracks.get(imei)
        return None if track is None else track.arrived

    def catch_up(self, imei: str, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Fold records committed elsewhere (ingest workers, other nodes), read back from the store in
        order of arrival, all of them arrived after :meth:`arrived`; whether the device needs an
        evaluation, by the same rule as :meth:`fold`."""
        track = self.tracks.get(imei)
        if track is None:
            return True
        plan = self.plans.get(imei, NO_PLAN)
        for row in rows:
            self._fold(track, _row_fields(row), row["server_time"], plan)
        return not (track.quiet and imei not in self.active)

    # -- commits -----------------------------------------------------------------------------------------------

    def fold(self, batches: Iterable[tuple[str, float, Iterable[Record]]]) -> FoldResult:
        """Fold committed (imei, server_time, records) in; which devices need an evaluation."""
        evaluate: set[str] = set()
        quiet: set[str] = set()
        for imei, server_time, records in batches:
            track = self.tracks.get(imei)
            if track is None:  # unknown window: the evaluation from the store rebuilds it
                evaluate.add(imei)
                continue
            plan = self.plans.get(imei, NO_PLAN)
            if server_time > track.arrived:  # not already in the snapshot the track was rebuilt from
                for record in records:
                    self._fold(track, _record_fields(record), server_time, plan)
            if track.quiet and imei not in self.active:
                quiet.add(imei)
            else:
                evaluate.add(imei)
        quiet -= evaluate
        return FoldResult(evaluate, len(quiet))

    def _fold(self, track: DeviceTrack, fields: Fields, server_time: float, plan: Plan) -> None:
        remarkable = self._remarkable(track, fields, server_time, plan)
        track.flags = ((track.flags << 1) | remarkable) & self._mask
        track.count = min(track.count + 1, self._mask.bit_length())
        if server_time > track.arrived:
            track.arrived = server_time

    def _remarkable(self, track: DeviceTrack, fields: Fields, server_time: float, plan: Plan) -> bool:
        """Whether a record could make a record check speak (see the module docstring); updates the
        track's last fix and latest fix time.

        Coverage is looked up for every ``abroad_min_positions``-th valid fix only: a run of that many
        positions outside the plan (what EU_COVERAGE_INACTIVE needs) always holds one, and its bit keeps
        the device evaluated for the whole window, until the run is long enough to be judged.
        """
        t = self.thresholds
        fix_time, valid, lat, lon, satellites, hdop, ext, battery, signal = fields
        if fix_time is None:
            return True
        offset = fix_time - server_time
        odd = (
            offset > t.clock_future_tolerance_s
            or -offset > min(t.clock_past_limit_s, t.delay_threshold_s)
            or (track.latest_fix is not None and fix_time < track.latest_fix)
        )
        if track.latest_fix is None or fix_time > track.latest_fix:
            track.latest_fix = fix_time
        if not valid or lat is None or lon is None:
            return True
        odd = odd or (
            (satellites is not None and satellites < t.min_satellites)
            or (hdop is not None and hdop > t.max_hdop)
            or (ext is not None and ext <= t.power_lost_voltage_v)
            or (battery is not None and battery <= t.battery_low_voltage_v)
            or (signal is not None and signal <= t.low_signal_pct)
        )
        if track.fix_time is not None and track.lat is not None and track.lon is not None:
            metres = _metres(track.lat, track.lon, lat, lon)
            elapsed = fix_time - track.fix_time
            if metres > JUMP_MIN_M * MARGIN and (
                elapsed <= 0 or metres / elapsed * 3.6 > t.max_plausible_speed_kmh * MARGIN
            ):
                odd = True
        track.fix_time, track.lat, track.lon = fix_time, lat, lon
        track.fixes += 1
        if plan.coverage is not None and not odd and track.fixes % self._every == 0:
            odd = geography.covered(geography.country_at(lat, lon), plan.home_country, plan.coverage) is not True
        return bool(odd)

    def memory_rows(self) -> Mapping[str, int]:
        """How many devices each part holds (the benchmark weighs them)."""
        return {"tracks": len(self.tracks), "active": len(self.active), "plans": len(self.plans)}
