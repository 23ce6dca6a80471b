"""The self-check of a device in a mass outage tells the customer it is the operator, not the tracker."""

from __future__ import annotations

from typing import Any

import pytest

from telediag.diagnostics import checks
from telediag.diagnostics.selfcheck import build_selfcheck, render_text, translate_selfcheck
from telediag.languages import catalogue
from tests.telediag.diagnostics.test_checks import NOW, T, snapshot

SILENT = {"last_seen": NOW - 7200}


def connectivity(result: dict[str, Any]) -> dict[str, Any]:
    [line] = [c for c in result["checks"] if c["id"] == "connectivity"]
    return line


@pytest.mark.parametrize("kind, value, country, wanted", [
    ("operator", "26003", "PL", "The mobile operator 26003 (PL) has an outage since 2026-09-21 12:13 UTC"),
    ("apn", "fleet.example", None, "The mobile data service (APN \"fleet.example\") has an outage since"),
    ("area", "52.00,21.00", None, "Many trackers in this area lost the mobile network together since"),
])
def test_an_outage_child_hears_that_its_operator_has_an_outage(kind: str, value: str, country: str | None,
                                                                wanted: str) -> None:
    device = snapshot(state=SILENT)
    outage = {"ticket_id": 41, "child_id": 42, "kind": kind, "value": value, "country": country,
              "onset": "2026-09-21T12:13:20.000Z", "devices": 12}
    result = build_selfcheck(device, checks.evaluate(device, T), {}, outage=outage)
    line = connectivity(result)
    assert line["detail"].startswith(wanted) and line["detail"].endswith("the tracker itself is not at fault.")
    assert (line["status"], line["finding"], line["evidence"]["ticket_id"]) == ("fail", "MASS_OUTAGE", 41)
    assert "ticket 41" in line["hint"] and result["overall"] == "problem"
    for language in ("pl", "ru", "sv"):
        said = connectivity(translate_selfcheck(result, catalogue(language)))
        assert said["detail"] != line["detail"] and said["hint"] != line["hint"] and "41" in said["hint"]
    assert "not at fault" in render_text(result)


def test_without_an_outage_the_connectivity_line_is_the_device_s_own() -> None:
    device = snapshot()
    line = connectivity(build_selfcheck(device, checks.evaluate(device, T), {}))
    assert line["finding"] is None and line["status"] in ("ok", "unknown")
