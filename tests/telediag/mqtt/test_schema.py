"""The MQTT telemetry schema: good payloads, every problem reported, limits, topics, the encoder."""

from __future__ import annotations

import orjson
import pytest

from protocols.record import Record
from telediag.ingest.mqtt_schema import (
    InvalidTelemetry,
    encode_telemetry,
    parse_telemetry,
    subscription,
    telemetry_topic,
    topic_imei,
)

IMEI = "356307042441013"
FULL = {
    "fix_time": "2025-06-15T15:06:40Z", "valid": True, "lat": 52.2297, "lon": 21.0122, "altitude_m": 101.5,
    "speed_kmh": 50.5, "course_deg": 90, "satellites": 9, "hdop": 0.9, "ignition": True, "motion": False,
    "ext_voltage_v": 13.8, "battery_voltage_v": 4.1, "gsm_signal_pct": 80, "operator": 26001,
    "roaming": False, "odometer_m": 1000.25, "event": "harsh_braking", "attributes": {"io66": 24079},
}


def parse(document: object, **limits: int) -> list[Record]:
    return parse_telemetry(IMEI, orjson.dumps(document), **limits)


def problems(document: object, **limits: int) -> list[str]:
    with pytest.raises(InvalidTelemetry) as caught:
        parse(document, **limits)
    return caught.value.problems


def test_one_object_with_every_field() -> None:
    [record] = parse(FULL)
    assert record == Record(
        imei=IMEI, protocol="mqtt", fix_time=1_750_000_000.0, valid=True, lat=52.2297, lon=21.0122,
        altitude_m=101.5, speed_kmh=50.5, course_deg=90.0, satellites=9, hdop=0.9, ignition=True,
        motion=False, ext_voltage_v=13.8, battery_voltage_v=4.1, gsm_signal_pct=80, operator=26001,
        roaming=False, odometer_m=1000.25, event="harsh_braking", attributes={"io66": 24079},
    )
    assert isinstance(record.course_deg, float) and isinstance(record.satellites, int)


def test_epoch_seconds_and_iso_with_offset_or_without_zone() -> None:
    times = [1_750_000_000, 1_750_000_000.25, "2025-06-15T17:06:40+02:00", "2025-06-15T15:06:40"]
    records = parse([{"fix_time": t} for t in times])
    assert [r.fix_time for r in records] == [1_750_000_000.0, 1_750_000_000.25, 1_750_000_000.0, 1_750_000_000.0]


def test_a_list_keeps_its_order_and_missing_or_null_is_unknown() -> None:
    records = parse([{"fix_time": 1, "lat": None}, {"fix_time": 2, "speed_kmh": 0}])
    assert [r.fix_time for r in records] == [1.0, 2.0]
    assert records[0].lat is None and records[0].speed_kmh is None
    assert records[1].speed_kmh == 0.0, "0 is a value, not unknown"


def test_unknown_keys_go_to_attributes_and_server_fields_are_ignored_or_checked() -> None:
    [record] = parse({"fix_time": 1, "io239": 1, "fw": "03.28", "attributes": {"x": [1, 2]},
                      "server_time": "whatever", "imei": IMEI, "protocol": "mqtt"})
    assert record.attributes == {"io239": 1, "fw": "03.28", "x": [1, 2]}


def test_integral_floats_count_as_whole_numbers() -> None:
    [record] = parse({"fix_time": 1, "satellites": 9.0, "operator": 26001.0})
    assert record.satellites == 9 and record.operator == 26001


def test_every_problem_of_a_record_is_reported() -> None:
    found = problems({
        "lat": "52.1", "lon": 200, "speed_kmh": -1, "satellites": 7.5, "ignition": "yes", "gsm_signal_pct": 101,
        "event": 5, "attributes": [1], "imei": "356307042441014", "protocol": "teltonika", "hdop": True,
    })
    text = "\n".join(found)
    for expected in ("fix_time is required", "lat must be a number", "lon 200 must be between -180 and 180",
                     "speed_kmh -1 must be 0 or more", "satellites must be a whole number",
                     "ignition must be true, false or null", "gsm_signal_pct 101 must be between 0 and 100",
                     "event must be a non-empty string", "attributes must be a JSON object",
                     "differs from the topic's", "protocol must be 'mqtt'", "hdop must be a number"):
        assert expected in text, (expected, found)
    assert len(found) == 12


def test_every_record_of_a_list_is_checked_and_named() -> None:
    found = problems([{"fix_time": 1}, {"fix_time": "yesterday"}, {"fix_time": 1, "valid": 1}])
    assert found == ["record 1: fix_time 'yesterday' is not an ISO 8601 time",
                     "record 2: valid must be true, false or null, got 1"]


def test_fix_time_types_and_range() -> None:
    assert "fix_time must be an ISO 8601 string or epoch seconds, got bool" in problems({"fix_time": True})[0]
    assert "milliseconds" in problems({"fix_time": 1_750_000_000_000})[0]
    assert "outside 1970..9999" in problems({"fix_time": -5})[0]


def test_a_key_both_at_top_level_and_in_attributes_is_refused() -> None:
    assert problems({"fix_time": 1, "io1": 1, "attributes": {"io1": 2}}) == [
        "'io1' is given both as a field and in attributes"]


def test_payload_shape_and_limits() -> None:
    with pytest.raises(InvalidTelemetry, match="not UTF-8 JSON"):
        parse_telemetry(IMEI, b"{nope")
    with pytest.raises(InvalidTelemetry, match="not UTF-8 JSON"):
        parse_telemetry(IMEI, b'{"fix_time": "\xff"}')
    assert problems(5) == ["payload must be a JSON object or a list of them, got int"]
    assert problems([]) == ["payload is an empty list: no records"]
    assert problems([1]) == ["record 0: a record must be a JSON object, got int"]
    assert problems([{"fix_time": 1}] * 3, max_records=2) == ["payload has 3 records, over the limit of 2"]
    big = orjson.dumps({"fix_time": 1, "blob": "x" * 300})
    with pytest.raises(InvalidTelemetry, match=f"payload of {len(big)} bytes is over the 256-byte limit"):
        parse_telemetry(IMEI, big, max_bytes=256)
    assert len(parse([{"fix_time": i} for i in range(1000)])) == 1000


def test_many_problems_are_capped_with_a_count() -> None:
    found = problems([{"lat": 1}] * 30)
    assert len(found) == 21 and found[-1] == "and 10 more problem(s)"


def test_topics() -> None:
    assert subscription("telediag/v1") == "telediag/v1/+/telemetry"
    assert telemetry_topic("telediag/v1", IMEI) == f"telediag/v1/{IMEI}/telemetry"
    assert topic_imei("telediag/v1", f"telediag/v1/{IMEI}/telemetry") == IMEI
    for bad in ("telediag/v1/abc/telemetry", "telediag/v1/telemetry", f"other/{IMEI}/telemetry",
                f"telediag/v1/{IMEI}/status", f"telediag/v1/x/{IMEI}/telemetry"):
        with pytest.raises(InvalidTelemetry):
            topic_imei("telediag/v1", bad)


@pytest.mark.parametrize("iso", [True, False])
def test_the_device_side_encoder_round_trips(iso: bool) -> None:
    [record] = parse(FULL)
    assert parse_telemetry(IMEI, encode_telemetry([record], iso_times=iso)) == [record]
    pair = [record, Record(imei=IMEI, protocol="mqtt", fix_time=1_750_000_001.0)]
    assert parse_telemetry(IMEI, encode_telemetry(pair, iso_times=iso)) == pair
