"""Injectable faults: one per diagnostic finding, each a real cause with a recognisable data signature.

A fault changes what a healthy simulated tracker does (:mod:`simulators.device_model` asks it at
every report): the records it makes, whether it is powered, the APN it asks for, how late its
records reach the server, garbage frames, its route and habits, and its registry row. Every value
a fault produces clearly crosses the default threshold of its check (``telediag.diagnostics.
thresholds``); a healthy device stays clearly inside all of them. ``FAULTS`` maps each name to its
class; its docstring says the real-world cause, the finding and how it shows in the data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from protocols.record import Record
from simulators.fault_base import DAY, HOUR, RTC_EPOCH, Fault
from simulators.geo import SLUBICE_CORRIDOR, in_germany, offset
from simulators.network import FACTORY_APN
from simulators.vehicle import CITY, TRUNK, Habits, Route, Vehicle

if TYPE_CHECKING:
    from simulators.device_model import DeviceModel

__all__ = ["DAY", "FAULTS", "HOUR", "RTC_EPOCH", "Fault", "assign_faults", "check_faults"]


class ActivationPending(Fault):
    """SIM activated 6 h ago, tracker not installed or powered yet: normal in the first 24 h.

    ACTIVATION_PENDING. Registry ``activated_at`` = start - 6 h; no records, no network events
    (evaluate before start + 18 h, or it becomes NO_DATA_AFTER_ACTIVATION).
    """

    name, finding, activated_ago_s, unpowered = "activation_pending", "ACTIVATION_PENDING", 6 * HOUR, True


class NoDataAfterActivation(Fault):
    """Activated 3 days ago and never heard from: not installed, no power, or SIM not inserted.

    NO_DATA_AFTER_ACTIVATION. Registry ``activated_at`` = start - 3 days; no records, no events.
    """

    name, finding, activated_ago_s, unpowered = "no_data_after_activation", "NO_DATA_AFTER_ACTIVATION", 3 * DAY, True


class Silent(Fault):
    """Tracker reported, then went dark (fuse, unplugged with a flat battery, firmware hang).

    DEVICE_SILENT. Healthy for the first quarter of the run (at least 3 reports, at most 2 h), then
    no records and no network events at all.
    """

    name, finding, unpowered = "silent", "DEVICE_SILENT", True

    def onset_s(self, duration_s: float, interval_s: float) -> float:
        return min(2 * HOUR, max(3 * interval_s, duration_s / 4))


class WrongApn(Fault):
    """Device still asks for the factory APN ``internet`` instead of the SIM profile's M2M APN.

    APN_MISCONFIGURED. Every ~5 min an ``attach`` then a ``pdp_reject`` with SM cause 27 and apn
    ``internet`` (home network, MCC 260); no data ever reaches the server (records are kept in the
    device and uploaded once the APN is fixed); ``getparam 2001`` answers ``internet``. Never
    having sent data, it is also NO_DATA_AFTER_ACTIVATION (activated 10+ days ago).
    """

    name, finding = "wrong_apn", "APN_MISCONFIGURED"

    def device_apn(self, sim_apn: str) -> str:
        return FACTORY_APN if sim_apn != FACTORY_APN else "internet.wrong"


class _Abroad(Fault):
    """Shared by the two trips to Germany: the Słubice corridor, a trunk-road truck, a domestic account.

    The truck crosses the Oder within the first half hour and then stays 10-55 km inside Germany
    while the fault lasts, so the device is abroad whenever it is looked at after that.
    """

    coverage, goes_abroad, plate = "domestic", True, "FSL"
    HOME_LIMIT_M: ClassVar[float] = 2_000.0
    """After the fault the truck stays on the first 2 km of its road: 8-10 km east of the Oder."""
    DEPTH_M: ClassVar[float] = 10_000.0

    def prepare(self, model: DeviceModel) -> None:
        route = Route.between(random.Random(model.seed), *SLUBICE_CORRIDOR)
        model.vehicle = Vehicle(model.imei, model.protocol, model.seed, model.start, route=route, habits=TRUNK)
        border = next(d for d, lat, lon in zip(route.distance_m, route.lat, route.lon, strict=True)
                      if in_germany(lat, lon))
        model.vehicle.floor_m = float(border) + self.DEPTH_M
        model.vehicle.driving = True  # leaves at once

    def end(self, model: DeviceModel, now: float) -> None:
        model.vehicle.floor_m = 0.0
        model.vehicle.limit_m = self.HOME_LIMIT_M


class RoamingRejected(_Abroad):
    """SIM plan without roaming: past the Oder the German network rejects the SIM.

    ROAMING_REJECTED. Account PL/domestic, SIM roaming=false. The truck starts ~10 km east of
    Słubice, crosses into Germany within ~30 min and stays 10-55 km past the Oder. Abroad:
    ``attach_reject`` EMM cause 13 on MCC 262 every ~5 min and no data at all (records made abroad
    are lost), so the device also looks silent. After ``fault_until`` the truck heads home; back
    in Poland an ``attach`` + ``pdp_create`` on MCC 260 and data flows again.
    """

    name, finding, sim_roaming, keeps_offline_records = "roaming_rejected", "ROAMING_REJECTED", False, False


class EuCoverage(_Abroad):
    """Account on domestic coverage drives abroad: the platform must not show foreign positions.

    EU_COVERAGE_INACTIVE. Account PL/domestic, SIM roaming allowed. The truck crosses the Oder at
    Słubice within ~30 min and stays 10-55 km inside Germany (lon 14.41 down to 13.75); abroad its
    records carry operator 26202 and roaming=true, and the network reports an attach +
    pdp_create on MCC 262. After ``fault_until`` the truck heads home and stays in Poland.
    """

    name, finding = "eu_coverage", "EU_COVERAGE_INACTIVE"


class GpsAntenna(Fault):
    """GNSS antenna cut, unplugged or covered by a metal panel: the tracker never gets a fix.

    GPS_NO_FIX. Every record: valid=false, satellites 0, speed 0, no HDOP, and the last known
    position (where the fix was lost); ignition and motion still follow the driving.
    """

    name, finding = "gps_antenna", "GPS_NO_FIX"
    last: tuple[float | None, float | None] | None = None

    def apply(self, record: Record, model: DeviceModel) -> Record:
        if self.last is None:
            self.last = (record.lat, record.lon)
        return replace(record, valid=False, satellites=0, lat=self.last[0], lon=self.last[1], speed_kmh=0.0,
                       course_deg=0.0, hdop=None, altitude_m=None)


class GpsPoor(Fault):
    """Antenna mounted under metal or damaged cable: fixes with few satellites, high HDOP, jumps.

    GPS_POOR_QUALITY. Every fix stays valid but has 3-4 satellites and HDOP 5.5-15, positions
    scattered ~80 m, and every 8th fix jumps 6-25 km away and back (~600 km/h at 60 s reports;
    at 5-minute reports the jumps are no longer impossible and only satellites/HDOP show).
    """

    name, finding = "gps_poor", "GPS_POOR_QUALITY"
    count = 0

    def apply(self, record: Record, model: DeviceModel) -> Record:
        rng, self.count = model.fault_rng, self.count + 1
        if record.lat is None or record.lon is None:
            return record
        north, east = rng.gauss(0.0, 80.0), rng.gauss(0.0, 80.0)
        if self.count % 8 == 0:
            jump = min(25_000.0, max(6_000.0, model.interval_s * 600 / 3.6))
            bearing = rng.uniform(0, 2 * math.pi)
            north, east = jump * math.cos(bearing), jump * math.sin(bearing)
        lat, lon = offset(record.lat, record.lon, north, east)
        return replace(record, lat=lat, lon=lon, satellites=3 if rng.random() < 0.7 else 4,
                       hdop=round(rng.uniform(5.5, 15.0), 1))


class IgnitionPermanent(Fault):
    """Ignition input wired to permanent +12 V instead of the switched ignition line.

    IGNITION_ALWAYS_ON. ignition=true on every record; every other park lasts 2.5-4 h (the first
    one included) at engine-off voltage 12.3-12.7 V with no motion. The first long park starts
    within ~20 min, so the 2 h park the check needs is in the data after ~2.5 h.
    """

    name, finding = "ignition_permanent", "IGNITION_ALWAYS_ON"
    habits: Habits = CITY

    def prepare(self, model: DeviceModel) -> None:
        self.habits = model.vehicle.habits
        model.vehicle.habits = replace(self.habits, long_park_s=(2.5 * HOUR, 4 * HOUR))
        model.vehicle.parks = 0

    def apply(self, record: Record, model: DeviceModel) -> Record:
        return replace(record, ignition=True)

    def end(self, model: DeviceModel, now: float) -> None:
        model.vehicle.habits = self.habits


class IgnitionUnwired(Fault):
    """Ignition input not connected (or on a dead wire): the tracker never sees the engine run.

    IGNITION_NOT_DETECTED. ignition=false on every record, also while driving 30-90 km/h with
    valid fixes; motion still follows the driving.
    """

    name, finding = "ignition_unwired", "IGNITION_NOT_DETECTED"

    def apply(self, record: Record, model: DeviceModel) -> Record:
        return replace(record, ignition=False)


class MotionSensitive(Fault):
    """Accelerometer too sensitive (or GNSS drift) while parked: trips start and go nowhere.

    JOURNEY_FALSE_STARTS. Parks last 40-90 min; in each, 2-5 bursts of 30-120 s (>= 7 min apart,
    >= 6 min from the drives) report motion=true, ignition=false, speed 1-6 km/h and a position
    5-40 m off the parking spot. A burst shows in every report overlapping it (1-3 at 60 s);
    four of them are in the data within ~1.5 h.
    """

    name, finding, protocols = "motion_sensitive", "JOURNEY_FALSE_STARTS", ("teltonika",)
    habits: Habits = CITY
    park_key: float | None = None
    bursts: tuple[tuple[float, float, float, float, float], ...] = ()
    previous: float = -math.inf

    def prepare(self, model: DeviceModel) -> None:
        self.habits = model.vehicle.habits
        model.vehicle.habits = replace(self.habits, park_s=(2400.0, 5400.0))

    def _schedule(self, rng: random.Random, begins: float, ends: float) -> None:
        bursts, at = [], begins + rng.uniform(360.0, 600.0)
        while True:
            length = rng.uniform(30.0, 120.0)
            if at + length > ends - 360.0:
                break
            bearing, metres = rng.uniform(0, 2 * math.pi), rng.uniform(5.0, 40.0)
            bursts.append((at, at + length, metres * math.cos(bearing), metres * math.sin(bearing),
                           float(rng.randint(1, 6))))
            at += length + rng.uniform(420.0, 900.0)
        self.bursts = tuple(bursts)

    def apply(self, record: Record, model: DeviceModel) -> Record:
        vehicle, fix, previous = model.vehicle, record.fix_time or 0.0, self.previous
        self.previous = fix
        if vehicle.driving or record.lat is None or record.lon is None:
            return record
        if self.park_key != vehicle.phase_started:
            self.park_key = vehicle.phase_started
            self._schedule(model.fault_rng, vehicle.phase_started, vehicle.phase_ends)
        for begins, ends, north, east, speed in self.bursts:
            if begins <= fix and ends > previous:
                lat, lon = offset(record.lat, record.lon, north + model.fault_rng.uniform(-2, 2), east)
                return replace(record, motion=True, ignition=False, speed_kmh=speed, lat=lat, lon=lon)
        return record

    def end(self, model: DeviceModel, now: float) -> None:
        model.vehicle.habits = self.habits


class PowerCut(Fault):
    """External supply lost: tracker unplugged, fuse blown, or the battery disconnected.

    EXTERNAL_POWER_LOST. ext_voltage_v 0.0-0.3 on every record (the first with event
    ``power_unplugged``); the internal battery sags slowly from ~4.1 V, never below 3.79 V.
    """

    name, finding, protocols = "power_cut", "EXTERNAL_POWER_LOST", ("teltonika",)

    def apply(self, record: Record, model: DeviceModel) -> Record:
        first = self.started is None
        if first:
            self.started = record.fix_time
        hours = ((record.fix_time or 0.0) - (self.started or 0.0)) / HOUR
        rng = model.fault_rng
        return replace(record, ext_voltage_v=round(rng.uniform(0.0, 0.3), 3),
                       battery_voltage_v=round(max(3.8, 4.12 - 0.015 * hours) + rng.uniform(-0.01, 0.01), 3),
                       event="power_unplugged" if first else record.event)


class BatteryDrain(Fault):
    """Running on the internal battery with no external supply reported, and it is nearly flat.

    BATTERY_LOW. ext_voltage_v unknown (null) on every record; battery_voltage_v 3.29-3.50 V,
    falling 0.01 V per hour to 3.30 V.
    """

    name, finding, protocols = "battery_drain", "BATTERY_LOW", ("teltonika",)

    def apply(self, record: Record, model: DeviceModel) -> Record:
        if self.started is None:
            self.started = record.fix_time
        hours = ((record.fix_time or 0.0) - (self.started or 0.0)) / HOUR
        battery = max(3.30, 3.50 - 0.01 * hours) + model.fault_rng.uniform(-0.01, 0.0)
        return replace(record, ext_voltage_v=None, battery_voltage_v=round(battery, 3))


class RtcReset(Fault):
    """Real-time clock lost its backup power and restarted at 2000-01-01 (no GNSS time applied).

    CLOCK_INVALID. fix_time = 2000-01-01T00:00:00Z + time since the fault began (all before 2001
    for any run under a year); positions and everything else are right. Delay checks see it too.
    """

    name, finding = "rtc_reset", "CLOCK_INVALID"

    def apply(self, record: Record, model: DeviceModel) -> Record:
        fix = record.fix_time or 0.0
        if self.started is None:
            self.started = fix
        return replace(record, fix_time=round(RTC_EPOCH + fix - self.started, 3))


class Backlog(Fault):
    """Device uploads its flash buffer hours late (poor coverage, upload throttled, wrong send period).

    DATA_DELAYED ("the data is outdated"). Records reach the server 1.25-5.25 h after their fix
    (the lag drifts slowly over the day); after ``fault_until`` the backlog is sent at once.
    """

    name, finding = "backlog", "DATA_DELAYED"
    phase, origin = 0.0, 0.0

    def prepare(self, model: DeviceModel) -> None:
        self.phase, self.origin = model.fault_rng.uniform(0, 2 * math.pi), model.start
        # the device starts with a backlog: its vehicle is that far behind (whole report intervals)
        lag = math.ceil(self.lag_s(model.start) / model.interval_s) * model.interval_s
        model.vehicle = Vehicle(model.imei, model.protocol, model.seed, model.start - lag)

    def lag_s(self, now: float) -> float:
        return HOUR * (3.25 + 2.0 * math.sin(2 * math.pi * (now - self.origin) / DAY + self.phase))


class WeakSignal(Fault):
    """Tracker mounted deep in metal (or an area at the edge of coverage): GSM signal at 0-20 %.

    LOW_GSM_SIGNAL. gsm_signal_pct 20 (3 records in 4) or 0 on every record; data still flows.
    """

    name, finding, protocols = "weak_signal", "LOW_GSM_SIGNAL", ("teltonika",)

    def apply(self, record: Record, model: DeviceModel) -> Record:
        return replace(record, gsm_signal_pct=20 if model.fault_rng.random() < 0.75 else 0)


class ProtocolGarbage(Fault):
    """Device on the wrong port, protocol or a broken firmware: some frames cannot be decoded.

    PROTOCOL_ERRORS. After every 3rd report an undecodable frame (Teltonika: an AVL frame with a bad
    CRC, answered with a zero count, or a GT06 frame, after which the server closes and the device
    reconnects; GT06: a bad-CRC frame or Teltonika bytes). 20 an hour at 60 s reports; records intact.
    """

    name, finding, garbage_every = "protocol_garbage", "PROTOCOL_ERRORS", 3


FAULTS: dict[str, type[Fault]] = {
    cls.name: cls
    for cls in (ActivationPending, NoDataAfterActivation, Silent, WrongApn, RoamingRejected, EuCoverage,
                GpsAntenna, GpsPoor, IgnitionPermanent, IgnitionUnwired, MotionSensitive, PowerCut,
                BatteryDrain, RtcReset, Backlog, WeakSignal, ProtocolGarbage)
}
"""Fault name -> its class (instantiate one per device: faults keep per-device state)."""


def check_faults(faults: Mapping[str, int]) -> None:
    """Raise ValueError naming an unknown fault (with the known ones) or a negative count."""
    for name, count in faults.items():
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if count < 0:
            raise ValueError(f"count for fault {name} must not be negative")


def assign_faults(protocols: Iterable[str], faults: Mapping[str, int] | None, seed: int) -> list[str | None]:
    """A fault name (or None: healthy) per device, spread over the fleet reproducibly.

    ``protocols`` gives each device's protocol; a fault goes only to devices whose protocol can show
    it. Raises ValueError for unknown names, or more faulty devices than the fleet (or protocol) has.
    """
    kinds = list(protocols)
    assigned: list[str | None] = [None] * len(kinds)
    faults = dict(faults or {})
    check_faults(faults)
    if sum(faults.values()) > len(kinds):
        raise ValueError(f"{sum(faults.values())} faulty devices asked for, but the fleet has only {len(kinds)}")
    order = list(range(len(kinds)))
    random.Random(seed).shuffle(order)
    for name in sorted(faults, key=lambda n: len(FAULTS[n].protocols)):  # the choosiest first
        wanted, able = faults[name], FAULTS[name].protocols
        free = [i for i in order if assigned[i] is None and kinds[i] in able]
        if len(free) < wanted:
            raise ValueError(f"fault {name} needs {wanted} {'/'.join(able)} devices; only {len(free)} are free")
        for index in free[:wanted]:
            assigned[index] = name
    return assigned
