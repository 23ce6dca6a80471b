"""The connection ladder, rung by rung, from hand-built snapshots: each first broken rung is the verdict
with its fix, a rung nothing can judge is unknown and the ladder goes on, a feed's failure followed by
data is history, and the self-check carries the ladder (and tells the connection line by it)."""

from __future__ import annotations

from typing import Any

import pytest

from telediag.config import Thresholds
from telediag.diagnostics import checks
from telediag.diagnostics.ladder import RUNG_IDS, TCP_GRACE_S, Ladder, connection_ladder, listen_ports
from telediag.diagnostics.selfcheck import build_selfcheck, render_text, translate_selfcheck
from telediag.diagnostics.snapshot import DeviceSnapshot
from telediag.languages import catalogue

T = Thresholds()
NOW = 1_790_000_000.0
IMEI = "356307042441013"
ICCID = "8948000000000000001"
NEVER: dict[str, Any] = {"first_seen": None, "last_seen": None, "connected": 0, "last_connected_at": None}


def record(age_s: float = 0.0, **values: Any) -> dict[str, Any]:
    row = {"fix_time": NOW - age_s, "server_time": NOW - age_s + 1, "valid": 1, "lat": 52.23, "lon": 21.01,
           "speed_kmh": 50.0, "satellites": 10, "hdop": 0.9, "ignition": 1, "motion": 1, "ext_voltage_v": 13.9,
           "battery_voltage_v": 4.1, "gsm_signal_pct": 80, "operator": 26001, "roaming": 0}
    row.update(values)
    return row


def event(age_s: float, kind: str, cause: int | None = None, apn: str | None = None, mcc: int = 260) -> dict[str, Any]:
    return {"at": NOW - age_s, "type": kind, "cause": cause, "apn": apn, "mcc": mcc, "mnc": 1, "rat": "4G"}


def snapshot(recent: list[dict[str, Any]] | None = None, *, state: dict[str, Any] | None = None,
             device: dict[str, Any] | None = None, protocol: str = "teltonika", **fields: Any) -> DeviceSnapshot:
    """A healthy Teltonika tracker (records every minute, connected for a day) unless told otherwise."""
    registry = {"imei": IMEI, "protocol": protocol, "iccid": ICCID, "apn": "fleet.example", "roaming_allowed": 1,
                "home_country": "PL", "coverage": "domestic", "activated_at": NOW - 30 * 86400,
                "registered_at": NOW - 30 * 86400, "report_interval_s": 60.0}
    registry.update(device or {})
    seen = {"protocol": protocol, "first_seen": NOW - 86400, "last_seen": NOW - 30, "connected": 1,
            "last_connected_at": NOW - 86400}
    seen.update(state or {})
    if recent is None:
        recent = [record(age_s=60 * i) for i in range(30)]
    return DeviceSnapshot(imei=IMEI, now=NOW, device=registry, state=seen, recent=recent, **fields)


def ladder_of(device: DeviceSnapshot) -> Ladder:
    return connection_ladder(device, checks.evaluate(device, T), NOW)


def statuses(ladder: Ladder) -> dict[str, str]:
    return {rung.id: rung.status for rung in ladder.rungs}


def rung(ladder: Ladder, rung_id: str) -> Any:
    return next(r for r in ladder.rungs if r.id == rung_id)


# Each first broken rung ----------------------------------------------------------------------------------------

def test_a_healthy_tracker_climbs_every_rung_and_the_ladder_has_no_verdict() -> None:
    ladder = ladder_of(snapshot(events=[event(86500, "attach"), event(86490, "pdp_create", apn="fleet.example")]))
    assert tuple(r.id for r in ladder.rungs) == RUNG_IDS
    assert statuses(ladder) == dict.fromkeys(RUNG_IDS, "ok") and ladder.verdict is None
    assert all(r.hint is None for r in ladder.rungs)
    assert rung(ladder, "data").detail == \
        'A mobile data session is open since 2026-09-20 14:11 UTC (APN "fleet.example").'


def test_without_a_connectivity_feed_the_network_rungs_are_unknown_and_the_ladder_goes_on() -> None:
    ladder = ladder_of(snapshot())
    assert statuses(ladder) == {**dict.fromkeys(RUNG_IDS, "ok"), "attach": "unknown", "data": "unknown"}
    assert ladder.verdict is None
    assert rung(ladder, "attach").detail == "The mobile operator has sent no network events for this SIM card."
    stuck = ladder_of(snapshot([record(age_s=60 * i, valid=0, lat=None, lon=None, speed_kmh=0.0, ignition=0,
                                       motion=0) for i in range(30)]))
    assert statuses(stuck)["attach"] == "unknown" and stuck.verdict == "fix"  # unknown rungs do not stop it


def test_a_sim_card_the_network_does_not_know_is_not_active() -> None:
    device = snapshot([], state=NEVER, device={"activated_at": NOW - 3 * 86400},
                      events=[event(900, "attach_reject", cause=2), event(300, "attach_reject", cause=2)])
    ladder = ladder_of(device)
    assert ladder.verdict == "sim" and statuses(ladder)["attach"] == "fail"
    sim = rung(ladder, "sim")
    assert "does not accept this SIM card (cause 2, last at 2026-09-21 14:08 UTC)" in sim.detail
    assert "activated or unblocked by the mobile operator" in sim.hint


def test_a_sim_card_activated_only_later_is_not_active_yet() -> None:
    ladder = ladder_of(snapshot([], state=NEVER, device={"activated_at": NOW + 2 * 86400}))
    assert ladder.verdict == "sim"
    assert rung(ladder, "sim").detail == "The SIM card will be activated only on 2026-09-23 14:13 UTC."
    assert "wait until then" in rung(ladder, "sim").hint


def test_an_attach_rejected_abroad_asks_for_roaming() -> None:
    device = snapshot([], state={"last_seen": NOW - 7200, "connected": 0}, device={"roaming_allowed": 0},
                      events=[event(3000, "attach_reject", cause=13, mcc=262), event(600, "attach_reject", cause=13,
                                                                                      mcc=262)])
    ladder = ladder_of(device)
    assert ladder.verdict == "attach" and statuses(ladder)["sim"] == "ok"
    attach = rung(ladder, "attach")
    assert attach.detail == ("The mobile network refused to let the tracker in 2 times, last at 2026-09-21 14:03 UTC "
                             "(roaming: this network does not take the SIM card here).")
    assert "The SIM card is refused in DE. Activate roaming" in attach.hint


def test_a_pdp_reject_for_the_apn_says_the_apn_with_the_tracker_s_command() -> None:
    device = snapshot([], state=NEVER, events=[event(900, "attach"), event(890, "pdp_reject", cause=27, apn="internet"),
                                               event(600, "pdp_reject", cause=27, apn="internet")])
    ladder = ladder_of(device)
    assert ladder.verdict == "data" and statuses(ladder)["attach"] == "ok"
    data = rung(ladder, "data")
    assert 'refused 2 mobile data sessions for APN "internet"' in data.detail and "APN set in the tracker is wrong" \
        in data.detail
    assert 'setparam 2001:fleet.example' in data.hint and "server address" not in data.hint


def test_a_data_session_up_while_nothing_reaches_us_is_the_server_address_not_the_apn() -> None:
    device = snapshot([], state=NEVER, device={"activated_at": NOW - 3600},
                      events=[event(1200, "attach"), event(1190, "pdp_create", apn="fleet.example")])
    ladder = ladder_of(device)
    assert ladder.verdict == "tcp"
    assert statuses(ladder) == {"sim": "ok", "attach": "ok", "data": "ok", "tcp": "fail", "identified": "unknown",
                                "decoded": "unknown", "fix": "unknown", "clock": "unknown"}
    tcp = rung(ladder, "tcp")
    assert "(so its APN is right), but nothing from it has reached the server" in tcp.detail
    assert "wrong server address or port" in tcp.detail
    assert '"  setparam 2004:<server address>;2005:5027;2006:0"' in tcp.hint and "APN" not in tcp.hint


@pytest.mark.parametrize("protocol, command", [
    ("gt06", '"SERVER,1,<server address>,5023,0#"'),
    ("h02", "its port to 5013, over TCP (see the tracker's SMS command list)"),
])
def test_the_server_address_fix_names_each_protocol_s_port_and_command(protocol: str, command: str) -> None:
    device = snapshot([], state=NEVER, protocol=protocol, events=[event(1200, "pdp_create")])
    assert command in rung(ladder_of(device), "tcp").hint


def test_the_configured_port_is_the_one_named() -> None:
    ports = listen_ports({"teltonika": ("udp:7027", "tcp:7027:interface=0.0.0.0"), "gt06": ("tcp:7023",)})
    assert ports == {"teltonika": 7027, "gt06": 7023}
    device = snapshot([], state=NEVER, events=[event(1200, "pdp_create")])
    ladder = connection_ladder(device, checks.evaluate(device, T), NOW, ports)
    assert "2005:7027;" in rung(ladder, "tcp").hint


def test_a_data_session_just_opened_waits_for_the_first_message() -> None:
    device = snapshot([], state=NEVER, events=[event(TCP_GRACE_S - 60, "pdp_create")])
    ladder = ladder_of(device)
    assert statuses(ladder)["tcp"] == "unknown" and ladder.verdict is None


def test_a_tracker_that_reported_before_and_now_sends_elsewhere_is_told_the_server_address() -> None:
    device = snapshot([record(age_s=7200 + 60 * i) for i in range(30)],
                      state={"last_seen": NOW - 7199, "connected": 0}, events=[event(3600, "pdp_create")])
    ladder = ladder_of(device)
    assert ladder.verdict == "tcp"
    assert "(before that, at 2026-09-21 12:13 UTC): it now sends to a wrong server address" in \
        rung(ladder, "tcp").detail


def test_connected_but_never_identified_points_at_the_protocol_port_and_the_imei() -> None:
    device = snapshot([], state={**NEVER, "protocol_errors": 4, "last_error": "unknown codec 0x47",
                                 "last_error_at": NOW - 100},
                      errors_in_window=4, last_error={"message": "unknown codec 0x47", "excerpt": "78780d01"})
    ladder = ladder_of(device)
    assert ladder.verdict == "identified" and statuses(ladder)["tcp"] == "ok"
    identified = rung(ladder, "identified")
    assert "never identified itself: the server could not read them (unknown codec 0x47)" in identified.detail
    assert f"or sends an IMEI not registered here ({IMEI})" in identified.hint and "2005:5027" in identified.hint


def test_identified_but_nothing_decoded_is_the_protocol_or_firmware() -> None:
    device = snapshot([], state={"first_seen": NOW - 3600, "last_seen": None, "last_connected_at": NOW - 3600,
                                 "last_error": "CRC mismatch", "last_error_at": NOW - 60, "protocol_errors": 40},
                      errors_in_window=40, last_error={"message": "CRC mismatch", "excerpt": "00"})
    ladder = ladder_of(device)
    assert ladder.verdict == "decoded"
    decoded = rung(ladder, "decoded")
    assert decoded.detail == "The tracker logs in, but the server could not read any of its data (CRC mismatch)."
    assert "The server cannot read what the tracker sends (CRC mismatch)" in decoded.hint


def test_a_login_without_any_data_asks_for_the_sending_settings() -> None:
    device = snapshot([], state={"first_seen": NOW - 3600, "last_seen": None, "last_connected_at": NOW - 3600})
    ladder = ladder_of(device)
    assert ladder.verdict == "decoded" and "sending period" in rung(ladder, "decoded").hint


def test_data_that_stopped_decoding_is_the_verdict() -> None:
    device = snapshot([record(age_s=3000 + 60 * i) for i in range(30)],
                      state={"last_seen": NOW - 2999, "last_error": "bad length", "last_error_at": NOW - 20},
                      errors_in_window=30, first_error_at=NOW - 2900,
                      last_error={"message": "bad length", "excerpt": "00"})
    ladder = ladder_of(device)
    assert ladder.verdict == "decoded"
    assert rung(ladder, "decoded").detail == \
        "Since 2026-09-21 13:25 UTC, nothing the tracker sent could be read (bad length)."


def test_no_valid_fix_is_the_verdict_of_a_tracker_that_reports() -> None:
    blind = [record(age_s=60 * i, valid=0) for i in range(30)]
    ladder = ladder_of(snapshot(blind))
    assert ladder.verdict == "fix" and statuses(ladder)["decoded"] == "ok"
    assert "had no GPS position" in rung(ladder, "fix").detail and "GPS antenna" in rung(ladder, "fix").hint
    parked = [record(age_s=60 * i, valid=0, speed_kmh=0.0, ignition=0, motion=0) for i in range(5)]
    fix = rung(ladder_of(snapshot(parked)), "fix")
    assert (fix.status, fix.detail) == ("fail", "None of the latest 5 records has a GPS position.")
    cold_start = rung(ladder_of(snapshot(parked[:2])), "fix")
    assert cold_start.status == "unknown" and "needs a few minutes outdoors" in cold_start.detail


def test_an_insane_clock_is_the_last_rung() -> None:
    jumped = [record(age_s=60 * i, fix_time=NOW - 60 * i - 1024 * 7 * 86400) for i in range(30)]
    ladder = ladder_of(snapshot(jumped))
    assert ladder.verdict == "clock" and statuses(ladder)["fix"] == "ok"
    assert "dates its data 2007-" in rung(ladder, "clock").detail and rung(ladder, "clock").hint


def test_a_reject_followed_by_data_is_history() -> None:
    device = snapshot(events=[event(7200, "attach_reject", cause=15), event(7100, "pdp_reject", cause=27),
                              event(7000, "pdp_delete")])
    ladder = ladder_of(device)
    assert ladder.verdict is None and statuses(ladder)["attach"] == "ok" and statuses(ladder)["data"] == "ok"


def test_a_closed_data_session_and_silence_says_power_or_coverage() -> None:
    device = snapshot([record(age_s=7200 + 60 * i) for i in range(30)], state={"last_seen": NOW - 7199},
                      events=[event(7300, "pdp_create"), event(7000, "pdp_delete")])
    ladder = ladder_of(device)
    assert ladder.verdict == "data" and "closed at 2026-09-21 12:16 UTC" in rung(ladder, "data").detail


def test_without_a_feed_a_silent_tracker_fails_at_the_tcp_rung_with_the_silence_fix() -> None:
    device = snapshot([record(age_s=7200 + 60 * i) for i in range(30)], state={"last_seen": NOW - 7199})
    ladder = ladder_of(device)
    assert ladder.verdict == "tcp"
    assert rung(ladder, "tcp").detail == "Nothing has reached the server since 2026-09-21 12:13 UTC."
    assert "has not reported for 2 h" in rung(ladder, "tcp").hint


def test_a_tracker_never_heard_in_its_activation_window_is_not_yet_a_failure() -> None:
    device = snapshot([], state=NEVER, device={"activated_at": NOW - 3600, "registered_at": NOW - 3600})
    ladder = ladder_of(device)
    assert ladder.verdict is None and statuses(ladder)["tcp"] == "unknown"
    late = ladder_of(snapshot([], state=NEVER, device={"activated_at": NOW - 3 * 86400}))
    assert late.verdict == "tcp" and "inserted and active and that its APN is right" in rung(late, "tcp").hint


def test_no_sim_registered_is_unknown_not_a_failure() -> None:
    ladder = ladder_of(snapshot(device={"iccid": None, "activated_at": None}, state={"first_seen": None},
                                recent=[]))
    assert statuses(ladder)["sim"] == "ok"  # it was heard from
    unheard = ladder_of(snapshot([], state=NEVER, device={"iccid": None, "activated_at": None}))
    assert statuses(unheard)["sim"] == "unknown"


# In the self-check --------------------------------------------------------------------------------------------

def test_the_selfcheck_carries_the_ladder_and_tells_the_connection_line_by_its_broken_rung() -> None:
    device = snapshot([], state=NEVER, device={"activated_at": NOW - 3 * 86400},
                      events=[event(1200, "attach"), event(1190, "pdp_create", apn="fleet.example")])
    result = build_selfcheck(device, checks.evaluate(device, T), {})
    assert [c["id"] for c in result["checks"]] == ["activation", "connection", "connectivity", "coverage", "gnss",
                                                   "power", "ignition", "clock", "data_delay", "protocol"]
    assert result["ladder"]["verdict"] == "tcp" and result["overall"] == "problem"
    assert [r["id"] for r in result["ladder"]["rungs"]] == list(RUNG_IDS)
    assert set(result["ladder"]["rungs"][0]) == {"id", "status", "title", "detail", "hint"}
    [connection] = [c for c in result["checks"] if c["id"] == "connection"]
    assert connection["status"] == "fail" and "wrong server address or port" in connection["detail"]
    assert "2005:5027" in connection["hint"]
    text = render_text(result)
    assert ">> 4. [FAIL] Messages reach the server:" in text and "2005:5027" in text.split(">> 4.")[1]
    for language in ("pl", "ru", "sv"):
        said = translate_selfcheck(result, catalogue(language))
        for english, translated in zip(result["ladder"]["rungs"], said["ladder"]["rungs"], strict=True):
            assert translated["title"] != english["title"] and translated["detail"] != english["detail"]
            assert type(translated["detail"]) is str
        tcp = said["ladder"]["rungs"][3]
        assert "2004:<" in tcp["hint"] and ";2005:5027;2006:0" in tcp["hint"]
        assert render_text(said, catalogue(language)).count(">>") >= 1


def test_the_selfcheck_of_a_healthy_tracker_is_unchanged_but_for_its_ladder() -> None:
    device = snapshot()
    result = build_selfcheck(device, checks.evaluate(device, T), {})
    assert result["overall"] == "ok" and result["ladder"]["verdict"] is None
    [connection] = [c for c in result["checks"] if c["id"] == "connection"]
    assert (connection["status"], connection["detail"]) == ("ok", "The tracker reports regularly.")


def test_a_tracker_not_heard_yet_does_not_report_regularly() -> None:
    device = snapshot([], state=NEVER, device={"activated_at": NOW - 3600, "registered_at": NOW - 3600})
    result = build_selfcheck(device, checks.evaluate(device, T), {})
    [connection] = [c for c in result["checks"] if c["id"] == "connection"]
    assert connection["status"] == "unknown" and "normal in the first 24 h" in connection["detail"]


def test_in_an_outage_the_network_rung_s_fix_is_the_outage() -> None:
    device = snapshot([], state={"last_seen": NOW - 7200, "connected": 0},
                      events=[event(900, "attach_reject", cause=17), event(300, "attach_reject", cause=17)])
    outage = {"ticket_id": 41, "kind": "operator", "value": "26001", "country": "PL",
              "onset": "2026-09-21T12:13:20.000Z"}
    result = build_selfcheck(device, checks.evaluate(device, T), {}, outage=outage)
    assert result["ladder"]["verdict"] == "attach"
    assert "ticket 41" in result["ladder"]["rungs"][1]["hint"]
