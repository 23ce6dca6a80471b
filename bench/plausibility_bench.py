"""What the plausibility rules cost on the per-record path: a plausible record, and an impossible one."""

from __future__ import annotations

import argparse
import functools
import timeit

from protocols.record import Record
from telediag.plausibility import Bounds, checked

NOW = 1_780_000_000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timing rounds; the best one is printed")
    args = parser.parse_args()
    bounds = Bounds()
    plausible = Record(imei="356307042441013", protocol="teltonika", fix_time=NOW - 5, valid=True, lat=52.2,
                       lon=21.0, altitude_m=100.0, speed_kmh=40.0, course_deg=90.0, satellites=9, hdop=1.0,
                       ignition=True, motion=True, ext_voltage_v=13.8, battery_voltage_v=4.1, gsm_signal_pct=80,
                       operator=26001, roaming=False, odometer_m=1000.0, attributes={"io66": 13800})
    impossible = Record(imei="356307042441013", protocol="teltonika", fix_time=1.8e16, valid=True, lat=200.0,
                        lon=214.0, speed_kmh=65535.0)
    for name, record in (("plausible record", plausible), ("impossible record", impossible)):
        check = functools.partial(checked, record, NOW, bounds)
        loops, _ = timeit.Timer(check).autorange()
        best = min(timeit.repeat(check, number=loops, repeat=args.repeat))
        print(f"{name}: {best / loops * 1e6:.2f} us per check")


if __name__ == "__main__":
    main()
