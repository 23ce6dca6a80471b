"""``telediag store copy-to-postgresql``: a real SQLite store, filled through the code that fills it in
service, copied into a real PostgreSQL 15; the moved store read back through the normal readers.

It needs a SQLite file and a PostgreSQL database side by side, so it runs in the SQLite run (whose
tests start the PostgreSQL test server as ``test_postgresql`` does); the PostgreSQL run, which turns
every SQLite store into a PostgreSQL one, leaves it out."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protocols.record import Record, iso_utc, parse_iso_utc
from telediag.api.tokens import create_token, find_token
from telediag.cli import main
from telediag.commands import queue
from telediag.config import SlaConfig, TicketsConfig
from telediag.config.core import DATABASE_FILE
from telediag.diagnostics.changes import ChangeFeed
from telediag.diagnostics.connectivity_events import ConnectivityEvent
from telediag.diagnostics.findings import apply_verdicts
from telediag.kb import answers
from telediag.kb import repository as kb
from telediag.kb.cli import starter_path
from telediag.kb.search import search
from telediag.registry.entries import parse_entry
from telediag.registry.repository import get_device, list_devices, save
from telediag.store.connectivity import save_events
from telediag.store.database import transaction
from telediag.store.postgresql import PostgresDatabase
from telediag.store.postgresql_records import record_partitions
from telediag.store.reader import Reader
from telediag.store.sqlite import MIGRATIONS, SQLiteDatabase
from telediag.store.transfer import (
    TransferFailed,
    check_target,
    copy_store,
    open_source,
    target_tables,
)
from telediag.store.writer import ConnectionChange, IngestError, RecordBatch, Registration, Store
from telediag.tickets import repository as tickets
from telediag.tickets.desk import TicketDesk
from telediag.tickets.outbox import notifier
from telediag.web.users import check_credentials, create_user
from tests.postgres_server import fresh_database, server

pytestmark = pytest.mark.sqlite_only  # a SQLite store and a PostgreSQL one at once: see the docstring

NOW = parse_iso_utc("2026-05-18T07:00:00Z")  # a Monday, 10:00 in Moscow
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
IMEIS = [f"35000000002{i:04d}" for i in range(12)]
LATE = "350000000029999"
"""A device of "Fleet 1" registered after the change feed last read the registry: the moved store must
still tell."""
PASSWORD = "a passphrase long enough 7"
MONTHS = ("2026-03-10T12:00:00Z", "2026-04-10T12:00:00Z", "2026-05-10T12:00:00Z")


@dataclass(frozen=True)
class Source:
    """A SQLite store with something in every room, and what was handed out while filling it."""

    data_dir: Path
    token: str
    user_id: int
    token_id: int

    @property
    def path(self) -> Path:
        return self.data_dir / DATABASE_FILE


def iccid(i: int) -> str:
    return f"89480000000001{i:05d}"


def fill(data_dir: Path) -> Source:
    """Records of three months and one without a fix time, the registry, connectivity events, findings,
    an outage parent with its children, a customer's ticket answered from the knowledge base, a user,
    a token, a queued command and the change feed's watermarks: each written by its own code."""
    database = SQLiteDatabase(data_dir / DATABASE_FILE)
    store = Store(database)
    db = database.connect()
    save(db, [parse_entry({
        "imei": imei, "protocol": "teltonika", "account": f"Fleet {i % 3}", "iccid": iccid(i),
        "apn": "fleet.example", "roaming": "true", "coverage": "eu", "home_country": "PL",
        "activated_at": iso_utc(NOW - 90 * DAY), "report_interval_s": "60", "vehicle_plate": f"WX {i:04d}",
    }) for i, imei in enumerate(IMEIS)], NOW - 60 * DAY, "import")
    for n, month in enumerate(MONTHS):
        at = parse_iso_utc(month)
        store.commit([RecordBatch(imei, "teltonika", [
            Record(imei=imei, protocol="teltonika", fix_time=at + k * MINUTE, valid=True, lat=50.0 + i / 10,
                   lon=19.0 + k / 100, speed_kmh=40.0 + k, satellites=9, ignition=True, operator=26003,
                   ext_voltage_v=13.8, attributes={"io66": 13800 + k, "month": n})
            for k in range(5)], at + 5 * MINUTE) for i, imei in enumerate(IMEIS)])
    store.commit([RecordBatch(IMEIS[0], "teltonika", [
        Record(imei=IMEIS[0], protocol="teltonika", fix_time=None, valid=False,
               attributes={"raw_fix_time": "2106-02-07T06:28:16Z"})], NOW - 20 * MINUTE)])
    store.commit([ConnectionChange(IMEIS[1], "teltonika", True, "192.0.2.7:40000", NOW - 15 * MINUTE),
                  IngestError(IMEIS[2], "teltonika", "192.0.2.8:40001", NOW - 14 * MINUTE, "bad CRC", "000000"),
                  Registration("350000000020999", "gt06", NOW - 13 * MINUTE, "auto")])
    for i, imei in enumerate(IMEIS):
        store.commit([RecordBatch(imei, "teltonika", [Record(
            imei=imei, protocol="teltonika", fix_time=NOW - 10 * MINUTE, valid=True, lat=49.5 + i % 6,
            lon=14.5 + (i // 6) * 3, operator=26003)], NOW - 10 * MINUTE + 1)])
    save_events(db, [ConnectivityEvent(at=NOW - HOUR + i, type="attach", iccid=iccid(i), mcc=260, mnc=3,
                                       rat="LTE-M") for i in range(len(IMEIS))], NOW - HOUR)
    save_events(db, [ConnectivityEvent(at=NOW - MINUTE + 5 * i, type="attach_reject", iccid=iccid(i), cause=17,
                                       mcc=260, mnc=3, rat="LTE-M") for i in range(len(IMEIS))], NOW)
    desk = TicketDesk(SlaConfig(), TicketsConfig(), notifier(["http://127.0.0.1:9/hooks"]))
    for imei in IMEIS[:5]:  # tickets the outage will take in as children
        early = apply_verdicts(db, imei, {"ROAMING_REJECTED": {"cause": 11}}, NOW - 30 * MINUTE)
        desk.on_findings(db, early, NOW - 30 * MINUTE)
    desk.on_findings(db, [], NOW)  # the rejects: one MASS_OUTAGE parent, a child per device
    transitions = apply_verdicts(db, IMEIS[5], {"EXTERNAL_POWER_LOST": {"ext_voltage_v": 0.0}}, NOW)
    desk.on_findings(db, transitions, NOW)
    kb.save_articles(db, kb.read_jsonl(starter_path()), "cli", NOW)
    filed = desk.file(db, origin="customer", by="customer#1", account="Fleet 0", devices=[IMEIS[0]],
                      description="How long after activation does the first position appear on the map?",
                      now=NOW + MINUTE, selfcheck=lambda imei: {"imei": imei, "overall": "ok", "checks": []},
                      findings=lambda imeis: [])
    answers.answer_ticket(db, desk, filed, NOW + 2 * MINUTE)
    answers.link_article(db, desk, filed, "activation-window-en", "technical#1", NOW + 3 * MINUTE)
    user_id = create_user(db, "Anna.Nowak", "customer", "Fleet 0", PASSWORD, NOW)
    token = create_token(db, "technical", None, "ops laptop", NOW)
    found = find_token(db, token)
    assert found is not None
    with transaction(db):
        queue.enqueue(db, IMEIS[3], "getver", "cli", NOW, HOUR, max_waiting=5)
    ChangeFeed().poll(db)  # the feed's watermarks in export_cursors; the registry log trimmed below them
    save(db, [parse_entry({"imei": LATE, "protocol": "gt06", "account": "Fleet 1"})], NOW + 4 * MINUTE, "import")
    db.close()
    store.close()
    return Source(data_dir, token, user_id, found.id)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """One filled store for the module; a test that changes it works on a copy (:func:`copied`)."""
    return fill(tmp_path_factory.mktemp("filled"))


def copied(source: Source, to: Path) -> Source:
    to.mkdir()
    shutil.copy(source.path, to / DATABASE_FILE)
    return Source(to, source.token, source.user_id, source.token_id)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["store", "copy-to-postgresql", *args])
    out, err = capsys.readouterr()
    return code, out, err


def next_id(db: Any, table: str, column: str | None) -> int:
    """The id the table's identity sequence gives next (without drawing it)."""
    (sequence,) = db.execute(f"SELECT pg_get_serial_sequence('{table}', '{column}')").fetchone()
    (following,) = db.execute(
        f"SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {sequence}").fetchone()
    return int(following)


def rows_of(db: Any, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    found = db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    return sorted((tuple(found_row) for found_row in found), key=repr)


@pytest.fixture()
def lite(filled: Source) -> Iterator[Any]:
    db = SQLiteDatabase(filled.path).connect(readonly=True)
    yield db
    db.close()


def test_the_moved_store_has_every_row_with_its_id_and_carries_on_after_them(filled: Source, lite: Any) -> None:
    dsn = fresh_database()
    target = PostgresDatabase(dsn)
    assert check_target(target) is False  # reachable, no schema yet
    seen: list[tuple[str, int, int]] = []
    source = open_source(filled.path)
    try:
        copied_rows = copy_store(source, target, lambda *step: seen.append(step), batch_rows=4)
    finally:
        source.close()
    pg = target.connect()
    tables = target_tables(pg)
    names = [table.name for table in tables]
    assert "kb_search" not in names and "schema_version" not in names and "registry_changes" in names
    assert names.index("accounts") < names.index("devices") < names.index("registry_changes")
    assert names.index("tickets") < names.index("ticket_timeline")
    assert names.index("users") < names.index("web_sessions")

    # every table, row for row, ids included; nothing left out of any room
    for table in tables:
        assert rows_of(pg, table.name, table.columns) == rows_of(lite, table.name, table.columns), table.name
        assert copied_rows[table.name] == len(rows_of(lite, table.name, table.columns))
    for table in ("records", "devices", "accounts", "sim_profiles", "tickets", "ticket_timeline", "findings",
                  "connectivity_events", "kb_articles", "kb_suggestions", "kb_links", "users", "api_tokens",
                  "device_commands", "export_cursors", "registry_changes", "webhook_outbox", "ingest_errors"):
        assert copied_rows[table] > 0, table
    # records went in batches of 4, into their months' partitions; the one without a time into the default
    assert [copied for table, copied, _ in seen if table == "records"][:3] == [4, 8, 12]
    assert [p.name for p in record_partitions(pg)] == ["records_y2026m03", "records_y2026m04", "records_y2026m05"]
    assert pg.execute("SELECT count(*), min(fix_time) FROM records_default").fetchone() == (1, None)

    # the normal readers find the same things
    moved, before = Reader(target), Reader(SQLiteDatabase(filled.path))
    for imei in IMEIS[:3]:
        assert list(moved.records(imei)) == list(before.records(imei))
        assert moved.device_state(imei) == before.device_state(imei)
    moved.close()
    before.close()
    assert list_devices(pg) == list_devices(lite) and get_device(pg, LATE) == get_device(lite, LATE)
    ids = tickets.list_ids(lite, limit=1000)
    assert tickets.list_ids(pg, limit=1000) == ids
    assert [tickets.document(pg, i) for i in ids] == [tickets.document(lite, i) for i in ids]
    outage = [tickets.document(pg, i) for i in ids if tickets.row(pg, i)["problem"] == "MASS_OUTAGE"]
    assert len(outage) == 1 and len(outage[0]["children"]) == len(IMEIS)
    # a child filed before its parent (and copied in an earlier batch): its parent is set after the rows
    assert min(outage[0]["children"]) < outage[0]["id"] - 4
    question = "first position after activation"
    assert [m.id for m in search(pg, question, "en")] == [m.id for m in search(lite, question, "en")]
    assert search(pg, question, "en")[0].id == "activation-window-en"
    user = check_credentials(pg, "anna.nowak", PASSWORD)
    assert user is not None and user.id == filled.user_id
    token = find_token(pg, filled.token)
    assert token is not None and token.id == filled.token_id

    # the change feed goes on from its watermark: only the device registered after its last read, and
    # the devices of the account that registration touched
    assert ChangeFeed().poll(pg).registry == {LATE, *IMEIS[1::3]}

    # every identity sequence gives the next id after the highest copied one, as SQLite would
    highest = {t.name: pg.execute(f"SELECT max({t.identity}) FROM {t.name}").fetchone()[0] or 0
               for t in tables if t.identity}
    assert {t.name: next_id(pg, t.name, t.identity) for t in tables if t.identity} == {
        name: top + 1 for name, top in highest.items()}
    store = Store(target)
    store.commit([RecordBatch(IMEIS[0], "teltonika", [Record(imei=IMEIS[0], protocol="teltonika",
                                                            fix_time=NOW + HOUR, valid=True, lat=50.0, lon=19.0)],
                              NOW + HOUR)])
    store.close()
    assert pg.execute("SELECT max(id) FROM records").fetchone() == (highest["records"] + 1,)
    desk = TicketDesk(SlaConfig(), TicketsConfig())
    new_ticket = desk.file(pg, origin="staff", by="technical#1", account=None, devices=[], description="After the move",
                           now=NOW + HOUR, selfcheck=lambda imei: {}, findings=lambda imeis: [])
    assert new_ticket == highest["tickets"] + 1
    save(pg, [parse_entry({"imei": LATE, "protocol": "gt06", "vehicle_plate": "WX 9999"})], NOW + HOUR, "import")
    assert pg.execute("SELECT max(id) FROM registry_changes").fetchone() == (highest["registry_changes"] + 1,)
    pg.close()


def test_the_command_prints_each_table_and_a_summary_and_a_dry_run_writes_nothing(
        filled: Source, lite: Any, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = fresh_database()
    code, out, err = run(capsys, dsn, "--data-dir", str(filled.data_dir), "--dry-run")
    records = lite.execute("SELECT count(*) FROM records").fetchone()[0]
    assert code == 0 and err == ""
    assert out.splitlines()[-1].startswith("dry run: ")
    assert any(line.split() == ["records", str(records)] for line in out.splitlines())
    assert not PostgresDatabase(dsn).exists()  # not even the schema

    code, out, err = run(capsys, dsn, "--data-dir", str(filled.data_dir))
    assert code == 0, err
    assert f"copied records: {records} rows" in err.splitlines()
    assert any(line.split() == ["kb_articles", str(lite.execute("SELECT count(*) FROM kb_articles").fetchone()[0])]
               for line in out.splitlines())
    assert "kb_search" not in out and "schema_version" not in out
    assert out.splitlines()[-1].startswith("copied ") and 'backend = "postgresql"' in out.splitlines()[-1]
    pg = PostgresDatabase(dsn).connect(readonly=True)
    assert pg.execute("SELECT count(*) FROM records").fetchone() == (records,)
    pg.close()


def test_a_database_with_rows_is_refused_and_left_as_it_was(filled: Source, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = fresh_database(migrated=True)
    db = PostgresDatabase(dsn).connect()
    db.execute("INSERT INTO accounts (name) VALUES ('Someone else')")
    code, out, err = run(capsys, dsn, "--data-dir", str(filled.data_dir))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and "is not empty (accounts" in err and "nothing was written" in err
    assert db.execute("SELECT name FROM accounts").fetchall() == [("Someone else",)]
    assert db.execute("SELECT count(*) FROM records").fetchone() == (0,) and record_partitions(db) == []
    assert db.execute("SELECT count(*) FROM registry_changes").fetchone() == (1,)  # the account's own
    db.close()


def test_a_store_at_another_schema_version_is_refused_before_the_database_is_touched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    older = MIGRATIONS[-1].version - 1
    tmp_path.joinpath("old").mkdir()
    raw = sqlite3.connect(tmp_path / "old" / DATABASE_FILE)
    for migration in MIGRATIONS[:older]:
        raw.executescript(migration.script)
    raw.execute(f"PRAGMA user_version = {older}")
    raw.close()
    dsn = fresh_database()
    code, out, err = run(capsys, dsn, "--data-dir", str(tmp_path / "old"))
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert f"is at schema version {older}, this telediag at {older + 1}" in err and "telediag serve" in err
    assert not PostgresDatabase(dsn).exists()

    code, _, err = run(capsys, dsn, "--data-dir", str(tmp_path / "nothing here"))
    assert code == 1 and "no SQLite store at" in err and len(err.splitlines()) == 1
    tmp_path.joinpath("text").mkdir()
    tmp_path.joinpath("text", DATABASE_FILE).write_text("not a database, only some text " * 200)
    code, _, err = run(capsys, dsn, "--data-dir", str(tmp_path / "text"))
    assert code == 1 and "is not a SQLite store" in err and len(err.splitlines()) == 1
    assert not PostgresDatabase(dsn).exists()


def test_a_database_out_of_reach_or_a_store_that_is_not_sqlite_is_refused(
        filled: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, server().dsn("no_such_database"), "--data-dir", str(filled.data_dir))
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert "cannot reach PostgreSQL database no_such_database" in err and "does not exist" in err
    config = tmp_path / "telediag.toml"
    config.write_text('[store]\nbackend = "postgresql"\ndsn = "postgresql://telediag@127.0.0.1/telediag"\n')
    code, out, err = run(capsys, fresh_database(), "--config", str(config))
    assert code == 1 and len(err.splitlines()) == 1 and 'backend is "postgresql"' in err


def test_a_reference_sqlite_never_checked_is_refused_before_anything_is_written(
        filled: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = copied(filled, tmp_path / "broken")
    raw = sqlite3.connect(broken.path)
    raw.execute("INSERT INTO ticket_devices (ticket_id, imei) VALUES (999999, ?)", (IMEIS[0],))
    raw.commit()
    raw.close()
    dsn = fresh_database()
    code, _, err = run(capsys, dsn, "--data-dir", str(broken.data_dir))
    assert code == 1 and len(err.splitlines()) == 1
    assert "1 row(s) referring to rows that do not exist (the first: ticket_devices row" in err
    assert not PostgresDatabase(dsn).exists()


def test_a_copy_that_fails_part_way_leaves_the_database_empty_and_can_be_run_again(
        filled: Source, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One transaction: a value PostgreSQL refuses (a NUL character, which SQLite text may hold) in a
    table copied after the records rolls everything back, partitions included; only the schema stays."""
    faulty = copied(filled, tmp_path / "faulty")
    raw = sqlite3.connect(faulty.path)
    (entry, text) = raw.execute("SELECT id, text FROM ticket_timeline ORDER BY id DESC LIMIT 1").fetchone()
    raw.execute("UPDATE ticket_timeline SET text = ? WHERE id = ?", (text + "\x00", entry))
    raw.commit()
    dsn = fresh_database()
    code, out, err = run(capsys, dsn, "--data-dir", str(faulty.data_dir))
    assert code == 1 and out == ""
    assert "copied records: " in err and "copied tickets: " in err  # it failed after those were in
    [failure] = [line for line in err.splitlines() if line.startswith("telediag: ")]
    assert failure.startswith("telediag: copying ticket_timeline failed (") and "0x00" in failure
    target = PostgresDatabase(dsn)
    db = target.connect(readonly=True)
    for table in target_tables(db):
        assert db.execute(f"SELECT count(*) FROM {table.name}").fetchone() == (0,), table.name
    assert record_partitions(db) == []
    db.close()

    raw.execute("UPDATE ticket_timeline SET text = ? WHERE id = ?", (text, entry))
    raw.commit()
    raw.close()
    code, _, err = run(capsys, dsn, "--data-dir", str(faulty.data_dir))
    assert code == 0, err
    db = target.connect(readonly=True)
    assert db.execute("SELECT text FROM ticket_timeline WHERE id = ?", (entry,)).fetchone() == (text,)
    db.close()


def test_an_interrupted_copy_keeps_nothing(filled: Source) -> None:
    """Ctrl-C while the records are copied (here: raised by the progress report)."""
    target = PostgresDatabase(fresh_database())

    def interrupt(table: str, copied: int, total: int) -> None:
        if table == "records" and copied >= 32:
            raise KeyboardInterrupt

    source = open_source(filled.path)
    with pytest.raises(KeyboardInterrupt):
        copy_store(source, target, interrupt, batch_rows=16)
    assert not source.in_transaction
    source.close()
    db = target.connect(readonly=True)
    assert db.execute("SELECT count(*) FROM records").fetchone() == (0,) and record_partitions(db) == []
    db.close()
    assert check_target(target) is True  # empty, with the schema: a new attempt may go ahead


def test_rows_a_trigger_adds_to_a_table_copied_earlier_fail_the_copy(filled: Source) -> None:
    """The counts are checked before the commit: a trigger the copy does not know of (here one added to
    the target by hand) cannot leave rows the SQLite store does not have."""
    target = PostgresDatabase(fresh_database(migrated=True))
    db = target.connect()
    db.execute("CREATE FUNCTION note_user() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "INSERT INTO device_evidence (imei, name, value, at) VALUES (NEW.username, 'user', NULL, 0); "
               "RETURN NULL; END $$")
    db.execute("CREATE TRIGGER note_user AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION note_user()")
    source = open_source(filled.path)
    try:
        with pytest.raises(TransferFailed, match=r"^device_evidence holds 1 rows after the copy, the SQLite store 0"):
            copy_store(source, target, lambda *step: None)
    finally:
        source.close()
    assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM device_evidence").fetchone() == (0,)
    db.close()
