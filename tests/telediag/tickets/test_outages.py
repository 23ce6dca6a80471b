"""Outage correlation on hand-built rows in simulated time: which failures began together."""

from __future__ import annotations

from typing import Any

from protocols.record import iso_utc, parse_iso_utc
from telediag.tickets import outages
from telediag.tickets.outages import NETWORK_REJECTED, Device, Rules

NOW = parse_iso_utc("2026-11-16T10:00:00Z")
RULES = Rules(min_devices=10, window_s=1800.0, lookback_s=12 * 3600.0)
MINUTE = 60.0
HOUR = 3600.0


def device(i: int, **values: Any) -> Device:
    fields: dict[str, Any] = {"registered_at": NOW - 30 * 86400, "home_country": "PL", "apn": f"fleet{i % 3}.example",
                              "operator": "26001", "area": f"{50 + i}.00,20.00", "last_seen": NOW - 2 * HOUR}
    fields.update(values)
    return Device(f"35000000000{i:04d}", **fields)


def reject(at: float, type_: str = "attach_reject", cause: int | None = 17, mcc: int = 260,
           mnc: int = 3) -> dict[str, Any]:
    return {"at": at, "type": type_, "cause": cause, "apn": None, "mcc": mcc, "mnc": mnc, "rat": "4G"}


def success(at: float, type_: str = "attach") -> dict[str, Any]:
    return {"at": at, "type": type_, "cause": None, "apn": None, "mcc": 260, "mnc": 3, "rat": "4G"}


def network(devices: list[Device], events: dict[str, list[dict[str, Any]]]) -> list[outages.Outage]:
    found = outages.network_onsets(events, {d.imei: d for d in devices}, NOW, RULES)
    return outages.outages(found, RULES)


def test_rejects_of_twelve_devices_within_a_minute_are_one_operator_outage_from_the_first_reject() -> None:
    devices = [device(i) for i in range(12)]
    start = NOW - 5 * MINUTE
    events = {d.imei: [success(NOW - 3 * HOUR), reject(start + 5 * i), reject(start + 5 * i + 20)]
              for i, d in enumerate(devices)}
    [outage] = network(devices, events)
    assert outage.key == ("operator", "26003")  # the network that rejects them, not their last record's
    assert outage.onset == start and outage.imeis == {d.imei for d in devices}
    assert {o.source for o in outage.onsets} == {NETWORK_REJECTED}
    summary = outage.summary()
    assert (summary["operator"], summary["country"], summary["devices"]) == ("26003", "PL", 12)
    assert summary["rejects"] == 24 and summary["causes"] == {"17": 12}  # devices per cause


def test_the_same_rejects_spread_over_hours_are_no_outage() -> None:
    devices = [device(i) for i in range(12)]
    events = {d.imei: [reject(NOW - 11 * HOUR + i * 50 * MINUTE)] for i, d in enumerate(devices)}
    assert network([device(i, last_seen=NOW - 11.5 * HOUR) for i in range(12)], events) == []
    assert network(devices, {}) == []


def test_rejects_abroad_without_a_healthy_history_or_from_before_registration_do_not_count() -> None:
    start = NOW - 5 * MINUTE
    abroad = {device(i).imei: [reject(start + i, mcc=262, mnc=1)] for i in range(12)}
    assert network([device(i) for i in range(12)], abroad) == []  # roaming: each device's own finding
    home = {device(i).imei: [reject(start + i)] for i in range(12)}
    never_worked = [device(i, last_seen=None) for i in range(12)]
    assert network(never_worked, home) == []  # SIMs that never worked: provisioning, not an outage
    long_silent = [device(i, last_seen=NOW - 3 * 86400) for i in range(12)]
    assert network(long_silent, home) == []
    moved_in = [device(i, registered_at=NOW) for i in range(12)]
    assert network(moved_in, home) == []


def test_a_device_accepted_again_or_sending_data_after_the_rejects_is_not_failing() -> None:
    devices = [device(i) for i in range(12)]
    start = NOW - 5 * MINUTE
    events = {d.imei: [reject(start + i)] for i, d in enumerate(devices)}
    events[devices[0].imei].append(success(start + 60, "pdp_create"))
    devices[1] = device(1, last_seen=start + 120)  # data arrived after its reject
    [outage] = network(devices, events)
    assert len(outage.onsets) == 10 and {devices[0].imei, devices[1].imei}.isdisjoint(outage.imeis)
    devices[2] = device(2, last_seen=start + 120)
    assert network(devices, events) == []  # nine left: fewer than ten


def silent(i: int, onset: float | None, registered_at: float = NOW - 30 * 86400) -> tuple[dict[str, Any], Device]:
    row = {"imei": device(i).imei, "code": "DEVICE_SILENT", "first_seen": NOW, "last_seen": NOW, "count": 1,
           "evidence": {} if onset is None else {"onset": iso_utc(onset)}}
    return row, device(i, registered_at=registered_at, operator="26001")


def findings(pairs: list[tuple[dict[str, Any], Device]]) -> list[outages.Outage]:
    rows = [row for row, _ in pairs]
    found = outages.finding_onsets(rows, {d.imei: d for _, d in pairs}, NOW, RULES)
    return outages.outages(found, RULES)


def test_a_restart_finding_many_devices_silent_since_long_ago_is_no_outage_unless_their_onsets_cluster() -> None:
    scattered = [silent(i, NOW - 40 * HOUR + i * 3 * HOUR) for i in range(20)]  # over days, some in the lookback
    assert findings(scattered) == []
    clustered = [silent(i, NOW - 2 * HOUR + i * MINUTE) for i in range(12)]
    [outage] = findings(clustered)
    assert outage.key == ("operator", "26001") and outage.onset == NOW - 2 * HOUR and len(outage.onsets) == 12


def test_findings_whose_onset_is_unknown_or_before_registration_are_not_correlated() -> None:
    unknown = [silent(i, None) for i in range(12)]
    assert findings(unknown) == []
    imported = [silent(i, NOW - 2 * HOUR, registered_at=NOW - MINUTE) for i in range(12)]
    assert findings(imported) == []
    assert outages.finding_onset({"onset": "not a time"}, None) is None


def test_network_and_finding_onsets_of_one_device_count_it_once_at_its_earliest() -> None:
    devices = [device(i) for i in range(10)]
    events = {d.imei: [reject(NOW - 20 * MINUTE + i)] for i, d in enumerate(devices)}
    net = outages.network_onsets(events, {d.imei: d for d in devices}, NOW, RULES)
    rows = [{"imei": d.imei, "code": "DEVICE_SILENT", "evidence": {"onset": iso_utc(NOW - 25 * MINUTE)}}
            for d in devices]
    fin = outages.finding_onsets(rows, {d.imei: d for d in devices}, NOW, RULES)
    groups = outages.outages(net + fin, RULES)
    apn_groups = [g for g in groups if g.key[0] == "apn"]
    assert all(len(g.onsets) < 10 for g in apn_groups) or not apn_groups
    by_key = {g.key: g for g in groups}
    assert len(by_key[("operator", "26003")].onsets) == 10  # the network's own word
    assert len(by_key[("operator", "26001")].onsets) == 10  # the silences, from their last records
    assert by_key[("operator", "26001")].onset == NOW - 25 * MINUTE


def test_two_separate_bursts_on_one_operator_are_two_groups() -> None:
    devices = [device(i) for i in range(24)]
    events = {d.imei: [reject(NOW - (5 if i < 12 else 300) * MINUTE + i)] for i, d in enumerate(devices)}
    groups = [g for g in network([device(i, last_seen=NOW - 6 * HOUR) for i in range(24)], events)
              if g.key == ("operator", "26003")]
    assert sorted(len(g.onsets) for g in groups) == [12, 12]
