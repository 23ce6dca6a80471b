"""The device registry: entry checks, all-or-nothing CSV import, merging, and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from telediag.registry import repository
from telediag.registry.entries import InvalidEntry, parse_entry
from telediag.store.writer import Store
from tests.integration.harness import run_cli
from tests.stores import database_at

HEADER = "imei,protocol,account,vehicle_plate,iccid,apn,roaming,coverage,home_country,activated_at,report_interval_s"


def test_entry_accepts_a_full_row_and_unknowns() -> None:
    entry = parse_entry({
        "imei": "356307042441013", "protocol": "teltonika", "account": "Trans-Pol", "vehicle_plate": "WX 1234A",
        "iccid": "8948031234567890123", "apn": "internet", "roaming": "false", "coverage": "EU",
        "home_country": "pl", "activated_at": "2026-11-20T08:00:00Z", "report_interval_s": "30",
    })
    assert (entry.coverage, entry.home_country, entry.roaming, entry.report_interval_s) == ("eu", "PL", False, 30.0)
    assert entry.activated_at == 1_795_161_600.0  # 2026-11-20T08:00:00Z
    bare = parse_entry({"imei": "356307042441013", "protocol": "", "account": " "})
    assert bare.protocol is None and bare.account is None


def test_entry_lists_every_problem() -> None:
    with pytest.raises(InvalidEntry) as caught:
        parse_entry({"imei": "12345", "protocol": "nokia", "roaming": "maybe", "coverage": "moon",
                     "activated_at": "last week", "report_interval_s": "-5", "home_country": "Poland"})
    text = str(caught.value)
    for fragment in ("15-17 digits", "nokia", "roaming", "coverage", "activated_at", "report_interval_s",
                     "home_country", "give its iccid", "give the account"):
        assert fragment in text, fragment
    assert len(caught.value.problems) == 9


def test_import_is_all_or_nothing_with_line_numbers(tmp_path: Path) -> None:
    Store(database_at(tmp_path / "db.sqlite3")).close()
    db = database_at(tmp_path / "db.sqlite3").connect()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n356307042441013,teltonika,A,,,,,,,,\n1,gt06,B,,,,,,,,\n356307042441013,gt06,B,,,,,,,,\n")
    with pytest.raises(repository.ImportRejected) as caught:
        repository.import_csv(db, bad, 0.0)
    assert caught.value.problems == [
        "line 3: imei '1' must be 15-17 digits",
        "line 4: imei 356307042441013 already on line 2",
    ]
    assert repository.list_devices(db) == []
    with pytest.raises(repository.ImportRejected, match="header needs an imei column"):
        repository.read_import_file(io.StringIO("serial,protocol\n1,gt06\n"))


def test_import_merges_and_never_erases_known_values(tmp_path: Path) -> None:
    store = Store(database_at(tmp_path / "db.sqlite3"))
    from telediag.store.writer import Registration
    store.commit([Registration("356307042441013", "teltonika", 5.0, "auto")])
    db = database_at(tmp_path / "db.sqlite3").connect()
    first = tmp_path / "first.csv"
    first.write_text(f"{HEADER},notes\n"
                     "356307042441013,,Trans-Pol,WX 1234A,8948031234567890123,internet,false,domestic,PL,"
                     "2026-11-20T08:00:00Z,30,fridge\n"
                     "862000000000001,gt06,Trans-Pol,,,,,,,,\n")
    result = repository.import_csv(db, first, 100.0)
    assert (result.rows, result.devices_added, result.devices_updated, result.accounts_added) == (2, 1, 1, 1)
    second = tmp_path / "second.csv"
    second.write_text("imei,vehicle_plate,account,coverage\n356307042441013,WX 9999B,Trans-Pol,eu\n")
    repository.import_csv(db, second, 200.0)
    device = repository.get_device(db, "356307042441013")
    assert device == {
        "imei": "356307042441013", "protocol": "teltonika", "account": "Trans-Pol", "vehicle_plate": "WX 9999B",
        "iccid": "8948031234567890123", "apn": "internet", "roaming": False, "coverage": "eu",
        "home_country": "PL", "activated_at": "2026-11-20T08:00:00.000Z", "report_interval_s": 30.0,
        "install_profile": None, "registered_at": "1970-01-01T00:00:05.000Z", "source": "import",
    }
    assert [d["imei"] for d in repository.list_devices(db, "Trans-Pol")] == ["356307042441013", "862000000000001"]
    assert store.registered_imeis() == {"356307042441013", "862000000000001"}


def test_devices_cli(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    added = run_cli(["devices", "add", "356307042441013", "--protocol", "teltonika", "--account", "Kowalski",
                     "--activated-at", "2026-11-23T06:00:00Z", *data])
    assert added.returncode == 0, added.stderr
    assert "1 device(s) added" in added.stdout
    csv_file = tmp_path / "fleet.csv"
    csv_file.write_text(f"{HEADER}\n862000000000001,gt06,Kowalski,KR 55,,,,,,,60\n")
    imported = run_cli(["devices", "import", str(csv_file), *data])
    assert imported.returncode == 0 and "1 device(s) added" in imported.stdout
    listed = run_cli(["devices", "list", "--format", "jsonl", *data])
    assert [json.loads(line)["imei"] for line in listed.stdout.splitlines()] == ["356307042441013", "862000000000001"]
    table = run_cli(["devices", "list", *data])
    assert table.stdout.splitlines()[0].startswith("IMEI") and "KR 55" in table.stdout
    shown = run_cli(["devices", "show", "862000000000001", *data])
    device = json.loads(shown.stdout)
    assert device["report_interval_s"] == 60.0 and device["state"] is None
    assert run_cli(["devices", "show", "000000000000000", *data]).returncode == 1
    bad = run_cli(["devices", "add", "123", *data])
    assert bad.returncode == 2 and "15-17 digits" in bad.stderr
    broken = tmp_path / "broken.csv"
    broken.write_text(f"{HEADER}\n862000000000002,gt06,X,,,,,moon,,,\n")
    rejected = run_cli(["devices", "import", str(broken), *data])
    assert rejected.returncode == 1 and "line 2: coverage 'moon'" in rejected.stderr
    assert "nothing was imported" in rejected.stderr


def test_entry_bounds_refuse_just_past_and_accept_at_the_limit() -> None:
    imei = "356307042441013"
    bad = {
        "account": "A" * 201, "vehicle_plate": "P" * 33, "apn": "a" * 101, "install_profile": "x" * 65,
        "iccid": "8948031234567890123",
    }
    with pytest.raises(InvalidEntry) as caught:
        parse_entry({"imei": imei, **bad})
    assert len(caught.value.problems) == 4, caught.value.problems
    assert all("characters long; at most" in problem for problem in caught.value.problems)
    for interval in ("nan", "inf", "-inf", "1e308", "1e+308", "0", "0.5", "604801", "-5", "\u0661\u0660", "1_0", "60s"):
        with pytest.raises(InvalidEntry, match="report_interval_s") as caught:
            parse_entry({"imei": imei, "report_interval_s": interval})
        assert len(caught.value.problems) == 1, (interval, caught.value.problems)
    for field, value in (("imei", "35630704244101\u0663"), ("imei", "\uff13" * 15),
                         ("iccid", "894803123456789012\u0663"), ("activated_at", "1970-01-01T00:00:00Z"),
                         ("activated_at", "2100-01-01T00:00:00Z"), ("account", "Trans\nPol"),
                         ("vehicle_plate", "WX\x001234")):
        row = {"imei": imei, "account": "A", field: value}
        with pytest.raises(InvalidEntry, match=field):
            parse_entry(row)
    with pytest.raises(InvalidEntry, match="home_country"):
        parse_entry({"imei": imei, "account": "A", "home_country": "\u00df"})  # "ß".upper() == "SS"
    entry = parse_entry({"imei": "356307042441013", "account": "A" * 200, "vehicle_plate": "P" * 32,
                         "iccid": "8948031234567890123", "apn": "a" * 100, "install_profile": "x" * 64,
                         "activated_at": "2000-01-01T00:00:00Z", "report_interval_s": "604800"})
    assert (len(entry.account or ""), entry.report_interval_s, entry.activated_at) == (200, 604800.0, 946684800.0)
    for text, seconds in (("1", 1.0), ("60.0", 60.0), ("1e3", 1000.0), ("+30", 30.0)):
        assert parse_entry({"imei": "356307042441013", "report_interval_s": text}).report_interval_s == seconds


def test_import_refuses_a_huge_account_name_with_its_line(tmp_path: Path) -> None:
    Store(database_at(tmp_path / "db.sqlite3")).close()
    db = database_at(tmp_path / "db.sqlite3").connect()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\n356307042441013,teltonika,{'A' * 10_000},,,,,,,,nan\n")
    with pytest.raises(repository.ImportRejected) as caught:
        repository.import_csv(db, bad, 0.0)
    assert caught.value.problems == [
        "line 2: account is 10000 characters long; at most 200 are allowed",
        "line 2: report_interval_s 'nan' must be a number of seconds from 1 to 604800",
    ]
    assert repository.list_devices(db) == []
