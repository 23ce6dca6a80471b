"""Connectivity feed: event checks, CSV and JSON-lines import, no duplicates, reads per SIM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telediag.diagnostics.connectivity_events import InvalidEvent, parse_event
from telediag.store.connectivity import EventsRejected, events_for, read_events_file, save_events
from telediag.store.writer import Store
from tests.integration.harness import run_cli
from tests.stores import database_at

ICCID = "8948031234567890123"


def test_a_pdp_reject_with_its_cause() -> None:
    event = parse_event({"iccid": ICCID, "at": "2026-11-23T08:00:00+01:00", "type": "pdp_reject",
                         "cause": 27, "apn": "internet.wrong", "mcc": 260, "mnc": "1", "rat": "4G"})
    assert (event.at, event.cause, event.mnc, event.imei) == (1_795_417_200.0, 27, 1, None)


def test_every_problem_is_reported() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event({"type": "reboot", "at": "soon", "cause": "x", "mcc": 99, "mnc": 1000, "colour": "red"})
    text = str(caught.value)
    for fragment in ("unknown field(s) colour", "type 'reboot'", "at 'soon'", "iccid or the imei",
                     "cause 'x'", "mcc 99", "mnc 1000"):
        assert fragment in text, fragment
    with pytest.raises(InvalidEvent, match="JSON object"):
        parse_event(["attach"])  # type: ignore[arg-type]


def test_import_jsonl_and_csv_once(tmp_path: Path) -> None:
    Store(database_at(tmp_path / "db.sqlite3")).close()
    db = database_at(tmp_path / "db.sqlite3").connect()
    jsonl = tmp_path / "feed.jsonl"
    jsonl.write_text(
        json.dumps({"iccid": ICCID, "at": "2026-11-23T08:00:00Z", "type": "attach", "mcc": 262, "mnc": 1}) + "\n\n"
        + json.dumps([{"iccid": ICCID, "at": "2026-11-23T08:00:05Z", "type": "attach_reject", "cause": 13,
                       "mcc": 262, "mnc": 1, "rat": "4G"}]) + "\n"
    )
    events = read_events_file(jsonl)
    assert save_events(db, events, 1.0) == 2
    assert save_events(db, events, 2.0) == 0
    csv_file = tmp_path / "feed.csv"
    csv_file.write_text("imei,at,type,cause,apn,mcc,mnc,rat,iccid,operator_note\n"
                        "356307042441013,2026-11-23T07:00:00Z,pdp_reject,33,internet,260,1,4G,,ignored\n")
    assert save_events(db, read_events_file(csv_file), 3.0) == 1
    stored = events_for(db, iccid=ICCID)
    assert [(e["type"], e["cause"], e["at"]) for e in stored] == [
        ("attach", None, "2026-11-23T08:00:00.000Z"), ("attach_reject", 13, "2026-11-23T08:00:05.000Z")]
    assert events_for(db, imei="356307042441013")[0]["apn"] == "internet"


def test_a_bad_file_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f'{{"iccid": "{ICCID}", "at": "2026-11-23T08:00:00Z", "type": "attach"}}\n{{not json\n'
                   f'{{"iccid": "{ICCID}", "at": "2026-11-23T08:00:00Z", "type": "detach"}}\n')
    with pytest.raises(EventsRejected) as caught:
        read_events_file(bad)
    assert caught.value.problems[0].startswith("line 2: not JSON")
    assert caught.value.problems[1].startswith("line 3: type 'detach'")
    data = ["--data-dir", str(tmp_path / "data")]
    result = run_cli(["connectivity", "import", str(bad), *data])
    assert result.returncode == 1 and "nothing was imported" in result.stderr
    good = tmp_path / "good.jsonl"
    good.write_text('{"imei": "356307042441013", "at": "2026-11-23T08:00:00Z", "type": "pdp_create",'
                    ' "apn": "internet"}\n')
    first = run_cli(["connectivity", "import", str(good), *data])
    assert first.returncode == 0 and "1 new" in first.stdout
    again = run_cli(["connectivity", "import", str(good), *data])
    assert "0 new, 1 already stored" in again.stdout


def test_identifiers_must_be_strings_of_ascii_digits() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event({"imei": 356307042441013, "at": "2026-11-23T08:00:00Z", "type": "attach"})
    assert caught.value.problems == ["imei must be text (a JSON string), got a number: 356307042441013"]
    for field, value in (("imei", "35630704244101\u0663"), ("iccid", "894803123456789012\u0663")):
        with pytest.raises(InvalidEvent, match=field):
            parse_event({field: value, "at": "2026-11-23T08:00:00Z", "type": "attach"})


def test_numbers_and_texts_are_bounded() -> None:
    base = {"iccid": ICCID, "at": "2026-11-23T08:00:00Z", "type": "attach"}
    for field, value in (("cause", 256), ("cause", -1), ("cause", 1e308), ("cause", "1_0"), ("cause", True),
                         ("mcc", "\u0662\u0666\u0660"), ("mcc", 199), ("mcc", 800), ("mnc", 1000), ("mnc", "-1"),
                         ("mnc", 1.5), ("apn", "a" * 101), ("apn", "inter\nnet"), ("rat", "x" * 17), ("rat", 4),
                         ("type", ["attach"])):
        with pytest.raises(InvalidEvent) as caught:
            parse_event({**base, field: value})
        assert len(caught.value.problems) == 1 and field in caught.value.problems[0], (field, value, caught.value)
    event = parse_event({**base, "cause": "255", "mcc": 799.0, "mnc": "0", "apn": "a" * 100, "rat": "NB-IoT"})
    assert (event.cause, event.mcc, event.mnc, len(event.apn or "")) == (255, 799, 0, 100)
    assert parse_event({**base, "cause": 0, "mcc": "200", "mnc": 999}).mnc == 999


def test_event_times_must_be_plausible() -> None:
    base = {"iccid": ICCID, "type": "attach"}
    for at in ("1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"):
        with pytest.raises(InvalidEvent, match="at "):
            parse_event({**base, "at": at})
    assert parse_event({**base, "at": "2000-01-01T00:00:00Z"}).at == 946_684_800.0
    now = 1_795_417_200.0  # 2026-11-23T08:00:00+01:00
    assert parse_event({**base, "at": "2026-11-24T06:59:59Z"}, now).at < now + 86_400
    with pytest.raises(InvalidEvent, match="a day from now"):
        parse_event({**base, "at": "2026-11-24T07:00:01Z"}, now)
    with pytest.raises(InvalidEvent) as caught:
        parse_event({**base, "at": "x" * 10_000})
    assert len(str(caught.value)) < 200  # a huge value is not echoed back whole
