"""``[influxdb]`` parsing and the cursor bookkeeping of the InfluxDB export (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from telediag.config import ConfigError, InfluxSettings, parse_section
from telediag.outbound.influx import InfluxExporter, Ledger, _retry_after, classify, describe
from telediag.store.sqlite import SQLiteDatabase


def test_defaults_mean_off() -> None:
    settings = parse_section("influxdb", {})
    assert settings == InfluxSettings()
    assert not settings.enabled
    assert (settings.batch_size, settings.flush_interval_ms, settings.poll_interval_s) == (5000, 1000, 1.0)
    assert (settings.retry_initial_s, settings.retry_max_s, settings.timeout_ms) == (1.0, 60.0, 10_000)


def test_a_full_section() -> None:
    settings = parse_section("influxdb", {
        "url": "http://127.0.0.1:8086", "token": "secret", "org": "fleet", "bucket": "telemetry",
        "batch_size": 1000, "flush_interval_ms": 200, "poll_interval_s": 2, "retry_initial_s": 0.5,
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


def test_cursor_moves_only_over_accepted_rows_in_id_order() -> None:
    ledger = Ledger(10)
    for row_id in (11, 12, 13, 14):
        ledger.add(row_id, f"p{row_id}".encode())
    assert ledger.in_flight == 4 and ledger.read_upto == 14
    assert ledger.settle(b"p13\np14", accepted=True) == 2  # a later batch reported first
    assert ledger.cursor == 10
    ledger.settle(b"p11", accepted=True)
    assert ledger.cursor == 11  # 12 is still out
    ledger.settle(b"p12", accepted=True)
    assert (ledger.cursor, ledger.in_flight) == (14, 0)


def test_rows_without_a_point_do_not_hold_the_cursor() -> None:
    ledger = Ledger(0)
    ledger.add(1, None)
    assert ledger.cursor == 1
    ledger.add(2, b"a")
    ledger.add(3, None)
    assert ledger.cursor == 1
    ledger.settle(b"a", accepted=True)
    assert ledger.cursor == 3


def test_identical_lines_count_once_each() -> None:
    ledger = Ledger(0)
    ledger.add(1, b"same")
    ledger.add(2, b"same")
    ledger.settle(b"same", accepted=True)
    assert ledger.cursor == 1
    ledger.settle(b"same", accepted=True)
    assert ledger.cursor == 2


def test_a_failed_batch_holds_the_cursor_and_rewind_reads_again() -> None:
    ledger = Ledger(0)
    for row_id in range(1, 7):
        ledger.add(row_id, f"p{row_id}".encode())
    ledger.settle(b"p1\np2", accepted=True)
    ledger.settle(b"p3\np4", accepted=False)
    ledger.settle(b"p5\np6", accepted=True)
    assert (ledger.cursor, ledger.in_flight) == (2, 0)
    ledger.rewind()
    assert ledger.read_upto == 2
    ledger.add(3, b"p3")
    ledger.settle(b"p5", accepted=True)  # a late report of an old batch: p3 stays out
    assert ledger.cursor == 2
    ledger.settle(b"p3", accepted=True)
    assert ledger.cursor == 3


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def test_errors_the_server_will_never_take_are_rejected_others_retried() -> None:
    assert classify(_HttpError(422, "partial write: points beyond retention policy dropped=1")) == "rejected"
    assert classify(_HttpError(400, 'unable to parse "telemetry x": bad timestamp')) == "rejected"
    assert classify(_HttpError(400, "partial write: field type conflict")) == "rejected"
    assert classify(_HttpError(400, "Please provide either orgID or org")) == "failed"
    for status in (401, 403, 404, 413, 429, 500, 503):
        assert classify(_HttpError(status, "no")) == "failed"
    assert classify(ConnectionRefusedError(111, "refused")) == "failed"
    assert describe(_HttpError(413, "too big")) == "HTTP 413: too big (lower [influxdb] batch_size)"


def test_backoff_doubles_up_to_the_maximum_and_honours_retry_after(tmp_path: Path) -> None:
    settings = InfluxSettings(url="http://127.0.0.1:1", org="o", bucket="b", retry_initial_s=1, retry_max_s=10)
    exporter = InfluxExporter(Clock(), SQLiteDatabase(tmp_path / "telediag.sqlite3"), settings, rand=lambda: 0.5)
    delays = []
    for failures in range(1, 7):
        exporter._failures = failures
        delays.append(exporter._backoff())
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    exporter._failures = 1
    exporter._server_delay = 5.0  # Retry-After: 5
    assert exporter._backoff() == 5.0
    exporter._server_delay = 300.0
    assert exporter._backoff() == 10.0
    error = _HttpError(503, "busy")
    error.retry_after = "7"  # type: ignore[attr-defined]
    assert _retry_after(error) == 7.0
    error.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"  # type: ignore[attr-defined]
    assert _retry_after(error) is None
