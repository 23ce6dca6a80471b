"""Priority and routing rules, the ``[tickets]`` settings, and ``telediag tickets`` on a real store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from protocols.record import parse_iso_utc
from telediag.app import build_desk
from telediag.cli import main
from telediag.config import ConfigError, parse_config, parse_section
from telediag.diagnostics.findings import Finding, Transition
from telediag.tickets.routing import priority, team_for
from tests.stores import database_at


@pytest.mark.parametrize(("severity", "devices", "vip", "expected"), [
    ("major", 1, False, "P2"), ("major", 10, False, "P1"), ("warning", 1, False, "P3"),
    ("warning", 10, False, "P2"), ("warning", 100, False, "P1"), ("info", 1, False, "P4"),
    ("warning", 1, True, "P2"), ("critical", 500, True, "P1"), ("info", 100, True, "P1"),
])
def test_priority_from_severity_breadth_and_vip(severity: str, devices: int, vip: bool, expected: str) -> None:
    assert priority(severity, devices, vip) == expected  # type: ignore[arg-type]


def test_team_follows_the_finding_table_then_the_category() -> None:
    assert team_for(["ROAMING_REJECTED"], "how_to", "accounts_permissions") == "customer_office"
    assert team_for(["PROTOCOL_ERRORS", "GPS_NO_FIX"], "system_problem", "data_update") == "it"
    assert team_for([], "system_problem", "critical_server_failure") == "it"
    assert team_for([], "feature_inquiry", "consultation") == "customer_office"
    assert team_for([], "system_problem", "remote_diagnostics") == "technical"


def test_tickets_settings_are_checked() -> None:
    assert parse_section("tickets", {"mass_outage_min_devices": 25}).mass_outage_min_devices == 25
    for bad in ({"mass_outage_min_devices": 0}, {"auto_close_s": "1d"}, {"unknown": 1}):
        with pytest.raises(ConfigError, match=r"^\[tickets\] "):
            parse_section("tickets", bad)
    with pytest.raises(ConfigError, match="tickets"):
        parse_config({"tickets": {"reopen_window": 3}})
    with pytest.raises(ConfigError, match="sla"):
        parse_config({"sla": {"timezone": "Mars/Olympus"}})


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, out.getvalue()


def test_tickets_cli_list_show_comment_state_close(tmp_path: Path) -> None:
    db = database_at(tmp_path / "telediag.sqlite3").connect()
    now = parse_iso_utc("2026-11-16T07:00:00Z")
    finding = Finding(1, "356307042441013", "GPS_NO_FIX", True, now, now, 1, {"without_fix_share": 1.0}, None)
    build_desk(parse_config({})).on_findings(db, [Transition("raised", finding)], now)
    db.close()
    store = ["--data-dir", str(tmp_path)]
    code, out = run("tickets", "list", *store)
    assert code == 0 and "GPS position" in out and out.splitlines()[1].split()[:3] == ["1", "new", "P2"]
    assert run("tickets", "comment", "1", "antenna cable replaced", *store)[0] == 0
    assert run("tickets", "state", "1", "resolved", "--text", "fixed on site", *store) == (0, "ticket 1: resolved\n")
    assert run("tickets", "state", "1", "new", *store)[0] == 1  # not a legal move
    assert run("tickets", "close", "1", "--rating", "good", *store) == (0, "ticket 1: closed\n")
    code, out = run("tickets", "show", "1", *store)
    shown = json.loads(out)
    assert [e["kind"] for e in shown["timeline"]] == ["created", "comment", "state", "closed"]
    assert shown["sla"]["first_response_at"] is not None and shown["rating"]["value"] == "good"
    assert run("tickets", "show", "99", *store)[0] == 1
    code, out = run("tickets", "list", "--state", "closed", "--format", "jsonl", *store)
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1]
