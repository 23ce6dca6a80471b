"""Simulator building blocks without sockets: routes, vehicles, the outbox, the command line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from protocols.record import Record
from simulators.cli import parse_mix
from simulators.fleet import luhn_imei
from simulators.outbox import Outbox
from simulators.vehicle import Route, Vehicle


def test_route_is_smooth_and_positions_interpolate() -> None:
    route = Route.random(np.random.default_rng(3), (52.0, 21.0), 10_000.0)
    steps = np.hypot(np.diff(route.lat) * 111_000, np.diff(route.lon) * 111_000 * math.cos(math.radians(52)))
    assert steps.max() < 300 and route.distance_m[-1] > 8_000
    lat0, lon0, _ = route.position(0.0)
    assert (lat0, lon0) == (52.0, 21.0)
    end = route.position(1e12)
    assert end[:2] == (float(route.lat[-1]), float(route.lon[-1]))


def test_vehicle_is_reproducible_and_plausible() -> None:
    first = [Vehicle("351", "teltonika", 9, 0.0).report(float(t)) for t in range(0, 600, 10)]
    again = [Vehicle("351", "teltonika", 9, 0.0).report(float(t)) for t in range(0, 600, 10)]
    assert first == again
    other = [Vehicle("351", "teltonika", 10, 0.0).report(float(t)) for t in range(0, 600, 10)]
    assert first != other
    for report in first:
        assert 49 < report.lat < 55.5 and 14 < report.lon < 24.5
        if not report.ignition:
            assert report.speed_kmh == 0 and report.motion is False
        assert 12.0 < report.ext_voltage_v < 14.5
    odometers = [r.odometer_m for r in first]
    assert odometers == sorted(odometers)


def test_outbox_resends_in_order_after_requeue() -> None:
    outbox = Outbox()
    records = [Record(imei="1", protocol="teltonika", fix_time=float(i)) for i in range(5)]
    for r in records:
        outbox.add(r)
    first = outbox.take(2)
    outbox.ack_oldest()
    second = outbox.take(2)
    outbox.requeue()
    assert [r.fix_time for r in outbox.pending] == [2.0, 3.0, 4.0]
    again = outbox.take(3)
    assert again[:2] == second and outbox.counters.resent == 2
    outbox.ack_oldest()
    assert outbox.unacked == 0 and outbox.acked == list(first) + list(again)
    assert (outbox.counters.generated, outbox.counters.sent, outbox.counters.acked) == (5, 7, 5)


def test_imeis_pass_the_luhn_check() -> None:
    imei = luhn_imei("49015420323751")
    assert imei == "490154203237518"


def test_mix_parsing() -> None:
    assert parse_mix(None, 10) == {"teltonika-tcp": 4, "teltonika-udp": 3, "gt06": 3}
    assert parse_mix("gt06=5,teltonika-udp=2", 0) == {"gt06": 5, "teltonika-udp": 2}
    with pytest.raises(ValueError, match="unknown device kind"):
        parse_mix("nmea=3", 0)
    assert parse_mix("h02=3,osmand=1", 0) == {"h02": 3, "osmand": 1}  # codec kinds use the generic client
    with pytest.raises(ValueError, match="integer"):
        parse_mix("gt06=x", 0)
