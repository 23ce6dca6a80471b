"""The GPS103 sentence layouts, as Traccar's ``Gps103ProtocolDecoder`` reads them.

* regular: ``imei:<imei>,<keyword>,<yymmddhhmm local>,<phone/rfid>,F,<hhmmss.sss UTC>,A,<ddmm.mmmm>,N,
  <dddmm.mmmm>,E,<knots>,<course>,<altitude>,<ignition>,<door>,<fuel1 %>,<fuel2 %>,<temperature>;``,
  or ``...,L,,,<lac hex>,,<cid hex>,,,`` when the device has no GPS fix (cell only);
* OBD: ``imei:<imei>,OBD,<yymmddhhmmss>,<odometer>,<fuel inst>,<fuel avg>,<hours>,<speed>,<load %>,
  <coolant>,<throttle %>,<rpm>,<battery V>,<DTCs>;``;
* alternative (``*`` terminated): ``imei:<imei>,<name>,<event>,<sensor>,<sensor V>,<hhmmss>,<ddmmyy>,
  <rssi>,<gps>,<lat>,<lon>,<km/h>,<course>,<altitude>,<hdop>,<satellites>,<ignition>,<charge>,<error>*``.

Each function takes the sentence text and the session's known time-zone offset and returns the
fields, or None when the sentence does not have that layout.
"""

from __future__ import annotations

import re

from protocols.dates import ImpossibleDate, utc_seconds
from protocols.gps103.fields import KNOT_KMH, Fields, csq_percent, keyword_event

REGULAR = re.compile(
    r"""
    imei:(\d{6,20}),                              # 1 imei
    ([^,]*),                                      # 2 keyword
    (?:(\d{2})/?(\d{2})/?(\d{2})\ ?(\d{2}):?(\d{2})(?:\d{2})?,|\d*,)   # 3-7 local yymmdd hhmm
    ([^,]+)?,                                     # 8 phone number or RFID
    (?:
      L,(?:,,([0-9a-fA-F]+),,([0-9a-fA-F]+),,,)?  # 9 lac, 10 cid
     |
      F,(?:(\d{2})(\d{2})(\d{2})(\.\d+)?|(?:\d{1,5}\.\d+)?),   # 11-14 UTC hhmmss.sss
      ([AV]),                                     # 15 validity
      (?:([NS]),)?                                # 16 hemisphere before
      (\d+)(\d{2}\.\d+),                          # 17, 18 latitude ddmm.mmmm
      (?:([NS]),)?                                # 19 hemisphere after
      (?:([EW]),)?                                # 20
      (\d+)(\d{2}\.\d+),                          # 21, 22 longitude dddmm.mmmm
      (?:([EW])?,)?                               # 23
      (\d+\.?\d*)?                                # 24 speed (knots)
      (?:,(\d+\.?\d*)?)?                          # 25 course
      (?:,(-?\d+\.?\d*)?)?                        # 26 altitude
      (?:,([01])?)?                               # 27 ignition
      (?:,([01])?)?                               # 28 door
      (?:,(?:(\d+\.\d+)%)?,(?:(\d+\.\d+)%|\d+)?)? # 29, 30 fuel 1 and 2
      (?:,([-+]?\d+)?)?                           # 31 temperature
    )
    .*""",
    re.X | re.S | re.A,
)

OBD = re.compile(
    r"""
    imei:(\d{6,20}),OBD,
    (\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2}),   # 2-7 local yymmddhhmmss
    (\d+)?,                                       # 8 odometer
    (\d+\.\d+)?,                                  # 9 fuel instant
    (\d+\.\d+)?,                                  # 10 fuel average
    (\d+)?,                                       # 11 hours
    (\d+),                                        # 12 speed
    (\d+\.?\d*)%,                                 # 13 engine load
    (?:([-+]?\d+)|[-+]?),                         # 14 coolant temperature
    (\d+\.?\d*)%,                                 # 15 throttle
    (\d+),                                        # 16 rpm
    (\d+\.\d+),                                   # 17 battery
    ([^;]*)                                       # 18 DTCs
    .*""",
    re.X | re.S | re.A,
)

ALTERNATIVE = re.compile(
    r"""
    imei:(\d{6,20}),
    [^,]+,                                        # name
    (?:-+|([^,]+)),                               # 2 event
    (?:-+|([^,]+)),                               # 3 sensor id
    (?:-+|([^,]+)),                               # 4 sensor voltage
    (\d{2})(\d{2})(\d{2}),                        # 5-7 hhmmss
    (\d{2})(\d{2})(\d{2}),                        # 8-10 ddmmyy
    (\d+),                                        # 11 rssi
    (\d),                                         # 12 gps status
    (-?\d+\.\d+),                                 # 13 latitude
    (-?\d+\.\d+),                                 # 14 longitude
    (\d+),                                        # 15 speed km/h
    (\d+),                                        # 16 course
    (-?\d+),                                      # 17 altitude
    (\d+\.\d+),                                   # 18 hdop
    (\d+),                                        # 19 satellites
    ([01]),                                       # 20 ignition
    ([01]),                                       # 21 charge
    (?:-+|([^,*]+))                               # 22 error
    .*""",
    re.X | re.S | re.A,
)

IMEI_PREFIX = re.compile(r"imei:(\d{6,20}),", re.A)
"""An IMEI as GPS103 writes it (6-20 digits: short runs are noise, not devices)."""


def _float(text: str | None) -> float | None:
    return float(text) if text else None


def _coordinate(hem_before: str | None, deg: str, minutes: str, hem_after: str | None) -> float:
    value = int(deg) + float(minutes) / 60
    hemisphere = hem_after or hem_before
    return -value if hemisphere in ("S", "W") else value


def _local_time(rec: Fields, local: float | None, raw: str, tz_min: int | None) -> None:
    """Place a local-only time with the known offset; without one keep it raw and leave fix_time None."""
    rec.a["device_local_time"] = raw
    if local is not None and tz_min is not None:
        rec.f["fix_time"] = local - tz_min * 60


def decode_keyword(rec: Fields, keyword: str, info: str | None) -> None:
    """The event a keyword carries, plus the values some keywords hold (T:+28.0, oil 51.67, rfid)."""
    if keyword not in ("", "tracker"):
        rec.a["keyword"] = keyword
    event = keyword_event(keyword)
    if event is not None:
        rec.f["event"] = event
    if keyword == "acc on":
        rec.f["ignition"] = True
    elif keyword == "acc off":
        rec.f["ignition"] = False
    elif keyword.startswith("T:"):
        try:
            rec.a["temperature_c"] = float(keyword[2:])
        except ValueError:
            pass
    elif keyword.startswith("oil "):
        try:
            rec.a["fuel_level"] = float(keyword[4:])
        except ValueError:
            pass
    elif keyword.startswith("vt") and keyword[2:].isdigit():
        rec.a["photo_packets"] = int(keyword[2:])
    if info:
        if keyword == "rfid":
            rec.a["driver_id"] = info
        else:
            rec.a["phone"] = info


def regular(text: str, tz_min: int | None) -> tuple[str, Fields, int | None] | None:
    """(imei, fields, time-zone offset in minutes learnt from this sentence) or None."""
    m = REGULAR.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    rec = Fields()
    decode_keyword(rec, g[1], g[7])
    local = None
    impossible: ImpossibleDate | None = None
    if g[2] is not None:
        yy, mo, dd, hh, mi = (int(v) for v in g[2:7])
        local_raw = "".join(g[2:7])
        try:
            local = utc_seconds(2000 + yy, mo, dd, hh, mi)
        except ImpossibleDate as error:
            impossible = error
    if g[14] is None:  # cell only (L)
        rec.f["valid"] = False
        if g[8] is not None:
            rec.a["lac"] = int(g[8], 16)
            rec.a["cell_id"] = int(g[9], 16)
        if g[2] is not None:
            _local_time(rec, local, local_raw, tz_min)
        if impossible is not None:
            rec.impossible_time(impossible.raw)
        return g[0], rec, None
    learnt = None
    if g[2] is not None and local is not None:
        if g[10] is not None:
            uh, um, us = int(g[10]), int(g[11]), int(g[12])
            delta = (hh - uh) * 60 + mi - um
            if delta <= -12 * 60:
                delta += 24 * 60
            elif delta > 12 * 60:
                delta -= 24 * 60
            learnt = delta
            try:  # the UTC clock must name a time of that day too (the date helper's rule)
                utc_seconds(2000 + yy, mo, dd, uh, um, us)
            except ImpossibleDate as error:
                rec.impossible_time(error.raw)
            else:
                frac = float(g[13]) if g[13] else 0.0
                rec.f["fix_time"] = local + us + frac - delta * 60
        else:
            # no usable UTC field (some firmware): the local minute is all there is
            rec.f["fix_time"] = local if tz_min is None else local - tz_min * 60
    elif impossible is not None:
        rec.impossible_time(impossible.raw)
    rec.f["valid"] = g[14] == "A"
    lat = _coordinate(g[15], g[16], g[17], g[18])
    lon = _coordinate(g[19], g[20], g[21], g[22])
    if lat or lon or rec.f["valid"]:
        rec.f["lat"] = lat
        rec.f["lon"] = lon
    if g[23]:
        rec.f["speed_kmh"] = float(g[23]) * KNOT_KMH
    rec.f["course_deg"] = _float(g[24])
    rec.f["altitude_m"] = _float(g[25])
    if g[26]:
        rec.f["ignition"] = g[26] == "1"
    if g[27]:
        rec.a["door"] = g[27] == "1"
    if g[28]:
        rec.a["fuel1_pct"] = float(g[28])
    if g[29]:
        rec.a["fuel2_pct"] = float(g[29])
    if g[30]:
        rec.a["temperature_c"] = int(g[30])
    return g[0], rec, learnt


def obd(text: str, tz_min: int | None) -> tuple[str, Fields] | None:
    """OBD engine data: no position; the time is the device's local time."""
    m = OBD.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    rec = Fields()
    yy, mo, dd, hh, mi, ss = (int(v) for v in g[1:7])
    try:
        local: float | None = utc_seconds(2000 + yy, mo, dd, hh, mi, ss)
    except ImpossibleDate as error:
        local = None
        rec.impossible_time(error.raw)
    _local_time(rec, local, "".join(g[1:7]), tz_min)
    a = rec.a
    if g[7]:
        a["obd_odometer"] = int(g[7])  # unit not documented (Traccar stores it as metres)
    if g[9]:
        a["fuel_consumption"] = float(g[9])
    if g[10]:
        a["engine_hours_s"] = int(g[10]) * 3600
    a["obd_speed_kmh"] = int(g[11])
    a["engine_load"] = g[12] + "%"
    if g[13]:
        a["coolant_temp_c"] = int(g[13])
    a["throttle"] = g[14] + "%"
    a["rpm"] = int(g[15])
    battery = float(g[16])
    a["obd_battery_v"] = battery
    if battery > 0:  # 0.00 is what the OBD reader sends when it has no reading
        rec.f["ext_voltage_v"] = battery
    dtcs = g[17].replace(",", " ").strip()
    if dtcs:
        a["dtcs"] = dtcs
        rec.f["event"] = "fault"
    return g[0], rec


def alternative(text: str) -> tuple[str, Fields] | None:
    """The ``*``-terminated layout: decimal degrees, km/h, date and time in UTC."""
    m = ALTERNATIVE.fullmatch(text)
    if m is None:
        return None
    g = m.groups()
    rec = Fields()
    f, a = rec.f, rec.a
    if g[1]:
        a["keyword"] = g[1]
        f["event"] = keyword_event(g[1])
    if g[2]:
        a["sensor_id"] = g[2]
    if g[3]:
        try:
            a["sensor_voltage_v"] = float(g[3])
        except ValueError:
            a["sensor_voltage"] = g[3]
    hh, mi, ss, dd, mo, yy = (int(v) for v in g[4:10])
    rec.set_time_parts(2000 + yy, mo, dd, hh, mi, ss)
    rssi = int(g[10])
    a["rssi"] = rssi
    f["gsm_signal_pct"] = csq_percent(rssi)
    f["valid"] = int(g[11]) > 0
    lat, lon = float(g[12]), float(g[13])
    if lat or lon or f["valid"]:
        f["lat"], f["lon"] = lat, lon
    f["speed_kmh"] = float(int(g[14]))
    f["course_deg"] = float(int(g[15]))
    f["altitude_m"] = float(int(g[16]))
    f["hdop"] = float(g[17])
    f["satellites"] = int(g[18])
    f["ignition"] = g[19] == "1"
    a["charging"] = g[20] == "1"
    if g[21]:
        a["error"] = g[21]
    return g[0], rec
