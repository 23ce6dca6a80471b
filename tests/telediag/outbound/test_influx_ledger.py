"""``[influxdb]`` parsing, the batches and the cursor bookkeeping of the InfluxDB export (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from telediag.config import ConfigError, InfluxSettings, parse_section
from telediag.outbound.influx import Batch, InfluxExporter, Ledger, classify, describe, make_batch, retry_after
from telediag.outbound.influx_points import ROW_COLUMNS
from telediag.store.sqlite import SQLiteDatabase


def test_defaults_mean_off() -> None:
    settings = parse_section("influxdb", {})
    assert settings == InfluxSettings()
    assert not settings.enabled
    assert (settings.batch_size, settings.poll_interval_s) == (5000, 1.0)
    assert (settings.retry_initial_s, settings.retry_max_s, settings.timeout_ms) == (1.0, 60.0, 10_000)


def test_a_full_section() -> None:
    settings = parse_section("influxdb", {
        "url": "http://127.0.0.1:8086", "token": "secret", "org": "fleet", "bucket": "telemetry",
        "batch_size": 1000, "poll_interval_s": 2, "retry_initial_s": 0.5,
        "retry_max_s": 30, "timeout_ms": 5000,
    })
    assert settings.enabled and settings.batch_size == 1000 and settings.poll_interval_s == 2.0
    assert isinstance(settings.poll_interval_s, float) and isinstance(settings.retry_max_s, float)
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"batchsize": 5}, "batchsize"),
        ({"batch_size": "5"}, "batch_size"),
        ({"batch_size": 5.5}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"timeout_ms": True}, "timeout_ms"),
        ({"poll_interval_s": -1}, "poll_interval_s"),
        ({"retry_initial_s": float("nan")}, "retry_initial_s"),
        ({"token": 5}, "token"),
        ({"url": "ftp://x", "org": "o", "bucket": "b"}, "url"),
        ({"url": "http://x:99999", "org": "o", "bucket": "b"}, "url"),
        ({"url": "http://127.0.0.1:8086", "org": "o"}, "bucket"),
        ({"url": "http://127.0.0.1:8086", "bucket": "b"}, "org"),
        ({"retry_initial_s": 10, "retry_max_s": 5}, "retry_max_s"),
    ],
)
def test_errors_name_the_key(raw: dict[str, object], names: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[influxdb\] .*{names}|\[influxdb\] {names}"):
        parse_section("influxdb", raw)


def batch(*ids: int, points: int | None = None) -> Batch:
    lines = [f"p{row_id}".encode() for row_id in ids]
    return Batch(ids, b"\n".join(lines), len(ids) if points is None else points)


def test_a_batch_keeps_its_rows_ids_and_leaves_rows_without_a_point_out_of_its_body() -> None:
    columns = len(ROW_COLUMNS)
    silent = [None] * columns
    silent[0], silent[1], silent[3] = "356307042441013", "teltonika", 1_790_000_000.0  # no field known
    moving = list(silent)
    moving[ROW_COLUMNS.index("speed_kmh")] = 42.0
    made = make_batch([(11, *moving), (12, *silent), (13, *moving)])
    assert (made.ids, made.points, made.last_id) == ((11, 12, 13), 2, 13)
    assert made.body.count(b"\n") == 1 and made.body.startswith(b"telemetry,imei=356307042441013")


def test_cursor_moves_only_over_accepted_batches_in_id_order() -> None:
    ledger = Ledger(10)
    first, second, third = batch(11, 12), batch(13), batch(14, 15)
    for each in (first, second, third):
        ledger.hand_over(each)
    assert ledger.in_flight == 3 and ledger.read_upto == 15
    ledger.settle(third, accepted=True)  # a later batch answered first
    assert ledger.cursor == 10
    ledger.settle(first, accepted=True)
    assert ledger.cursor == 12  # the second is still out
    ledger.settle(second, accepted=True)
    assert (ledger.cursor, ledger.in_flight) == (15, 0)


def test_batches_without_a_point_do_not_hold_the_cursor() -> None:
    ledger = Ledger(0)
    ledger.hand_over(batch(1, points=0))
    assert (ledger.cursor, ledger.in_flight) == (1, 0)
    sent = batch(2, 3)
    ledger.hand_over(sent)
    ledger.hand_over(batch(4, points=0))
    assert ledger.cursor == 1
    ledger.settle(sent, accepted=True)
    assert ledger.cursor == 4


def test_batches_with_identical_lines_are_told_apart_by_their_rows() -> None:
    ledger = Ledger(0)
    same_a, same_b = Batch((1,), b"same", 1), Batch((2,), b"same", 1)
    ledger.hand_over(same_a)
    ledger.hand_over(same_b)
    ledger.settle(same_b, accepted=True)
    assert ledger.cursor == 0  # the answer was for row 2: row 1 is still out
    ledger.settle(same_a, accepted=True)
    assert ledger.cursor == 2


def test_a_failed_batch_holds_the_cursor_and_rewind_reads_again() -> None:
    ledger = Ledger(0)
    first, failed, third = batch(1, 2), batch(3, 4), batch(5, 6)
    for each in (first, failed, third):
        ledger.hand_over(each)
    ledger.settle(first, accepted=True)
    ledger.settle(failed, accepted=False)
    ledger.settle(third, accepted=True)
    assert (ledger.cursor, ledger.in_flight) == (2, 0)
    ledger.rewind()
    assert ledger.read_upto == 2
    again = batch(3, 4)
    ledger.hand_over(again)
    ledger.settle(third, accepted=True)  # a late answer to a batch from before the rewind
    ledger.settle(failed, accepted=True)
    assert (ledger.cursor, ledger.in_flight) == (2, 1)
    ledger.settle(again, accepted=True)
    assert ledger.cursor == 4


def test_errors_the_server_will_never_take_are_rejected_others_retried() -> None:
    assert classify(204, "") == "accepted"
    assert classify(422, "partial write: points beyond retention policy dropped=1") == "rejected"
    assert classify(400, 'unable to parse "telemetry x": bad timestamp') == "rejected"
    assert classify(400, "partial write: field type conflict") == "rejected"
    assert classify(400, "Please provide either orgID or org") == "failed"
    for status in (401, 403, 404, 413, 429, 500, 503):
        assert classify(status, "no") == "failed"
    assert describe(413, "too   big\n") == "HTTP 413: too big (lower [influxdb] batch_size)"


def test_retry_after_is_read_in_seconds_only() -> None:
    assert retry_after(b"7") == 7.0
    assert retry_after("0") == 0.0
    assert retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retry_after(None) is None
    assert retry_after(b"-3") is None


def test_the_retry_follows_the_shared_backoff_and_honours_retry_after(tmp_path: Path) -> None:
    settings = InfluxSettings(url="http://127.0.0.1:1", org="o", bucket="b", retry_initial_s=1, retry_max_s=10)
    exporter = InfluxExporter(Clock(), SQLiteDatabase(tmp_path / "telediag.sqlite3"), settings, rand=lambda: 0.5)
    delays = []
    for failures in range(1, 7):
        exporter._failures = failures
        delays.append(exporter.retry_delay())
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]  # half of a ceiling doubling from 1 s up to 10 s
    exporter._failures = 1
    exporter._server_delay = 5.0  # Retry-After: 5
    assert exporter.retry_delay() == 5.0
    exporter._server_delay = 300.0
    assert exporter.retry_delay() == 10.0
