"""The pure parts of commands, with the time passed in: the queue's state machine and expiry, what a
person may ask for, the command a finding's hint names, and the verdict on a fix's proof."""

from __future__ import annotations

import pytest

from telediag.commands.fixes import FIX_CODES, fix_command, raised
from telediag.commands.model import (
    FINAL_STATES,
    MOVES,
    STATES,
    CommandRefused,
    IllegalMove,
    check_move,
    is_expired,
    parse_request,
)
from telediag.commands.proof import FixFacts, accepted, evaluate

LIMITS = {"default_expires_in_s": 3600.0, "min_expires_in_s": 10.0, "max_expires_in_s": 86400.0,
          "max_text_chars": 20}
T0 = 1_790_000_000.0


def test_final_states_go_nowhere_and_every_state_is_in_the_table() -> None:
    assert set(MOVES) == set(STATES)
    for state in FINAL_STATES:
        assert not MOVES[state]
        for target in STATES:
            with pytest.raises(IllegalMove):
                check_move(state, target)
    check_move("queued", "sent")
    check_move("sent", "queued")  # never written: back to the queue
    with pytest.raises(IllegalMove, match="from queued to answered"):
        check_move("queued", "answered")  # an answer needs a send


def test_only_a_command_no_channel_took_expires_and_only_at_its_time() -> None:
    assert not is_expired("queued", T0 + 10, T0 + 9.999)
    assert is_expired("queued", T0 + 10, T0 + 10)
    for state in ("sent", "answered", "failed", "cancelled"):
        assert not is_expired(state, T0, T0 + 1e6)


def test_a_request_is_checked_with_every_problem_named() -> None:
    assert parse_request({"text": "getstatus"}, **LIMITS).expires_in_s == 3600.0
    assert parse_request({"text": "getinfo", "expires_in_s": 10}, **LIMITS).expires_in_s == 10.0
    with pytest.raises(CommandRefused) as refused:
        parse_request({"text": "", "expires_in_s": 5, "ttl": 1}, **LIMITS)
    assert len(refused.value.problems) == 3
    assert "unknown field(s) ttl" in str(refused.value)
    for text, problem in (("x" * 21, "at most 20"), ("set\nparam", "printable ASCII"), ("zażółć", "ASCII"),
                          (7, "text is required")):
        with pytest.raises(CommandRefused, match=problem):
            parse_request({"text": text}, **LIMITS)
    for expires in (True, "60", 9.9, 86401, None):
        with pytest.raises(CommandRefused, match="expires_in_s must be a number of seconds from 10 to 86400"):
            parse_request({"text": "getinfo", "expires_in_s": expires}, **LIMITS)


def test_the_fix_is_the_command_the_hint_names_and_never_one_with_a_placeholder() -> None:
    evidence = {"expected_apn": "fleet.example", "causes": [27]}
    assert fix_command("APN_MISCONFIGURED", "teltonika", evidence, "other.apn") == "setparam 2001:fleet.example"
    assert fix_command("APN_MISCONFIGURED", "teltonika", {}, "sim.apn") == "setparam 2001:sim.apn"
    assert fix_command("NO_DATA_AFTER_ACTIVATION", "teltonika", {}, "sim.apn") == "setparam 2001:sim.apn"
    assert fix_command("APN_MISCONFIGURED", "teltonika", {}, None) is None  # "<APN from the SIM contract>"
    assert fix_command("APN_MISCONFIGURED", "gt06", evidence, None) is None  # an SMS, not a GPRS command
    assert fix_command("CLOCK_INVALID", "teltonika", {}, None) is None  # getgps asks, it fixes nothing
    assert "APN_MISCONFIGURED" in FIX_CODES


def test_priority_is_raised_one_step_and_p1_stays() -> None:
    assert [raised(p) for p in ("P4", "P3", "P2", "P1", "??")] == ["P3", "P2", "P1", "P1", "P3"]


def fix(**changes: object) -> FixFacts:
    base: dict[str, object] = {
        "code": "APN_MISCONFIGURED", "text": "setparam 2001:fleet.example", "state": "sent", "channel": "tcp",
        "created_at": T0, "sent_at": T0 + 5, "answer": None, "error": None, "proof_due": T0 + 3600,
    }
    base.update(changes)
    return FixFacts(**base)  # type: ignore[arg-type]


def test_an_accepting_answer_then_a_data_session_or_records_is_proof() -> None:
    answered = {"state": "answered", "answer": "New value 2001:fleet.example"}
    assert evaluate(fix(**answered), T0 + 60).outcome == "waiting"  # the answer alone proves nothing yet
    verdict = evaluate(fix(**answered, pdp_accepted_at=T0 + 30), T0 + 60)
    assert verdict.outcome == "proven"
    assert "answered \"New value 2001:fleet.example\"" in verdict.evidence and "data session" in verdict.evidence
    records = evaluate(fix(**answered, records_since=T0 + 40, records_count=3), T0 + 60)
    assert records.outcome == "proven" and "3 since" in records.evidence


def test_the_finding_clearing_is_proof_whatever_the_channel_said() -> None:
    verdict = evaluate(fix(state="queued", sent_at=None, finding_cleared_at=T0 + 100), T0 + 120)
    assert verdict.outcome == "proven" and "APN_MISCONFIGURED cleared" in verdict.evidence


def test_over_sms_no_answer_is_needed() -> None:
    assert evaluate(fix(channel="sms"), T0 + 60).outcome == "waiting"
    assert evaluate(fix(channel="sms", records_since=T0 + 50, records_count=1), T0 + 60).outcome == "proven"


def test_a_refusal_an_undelivered_command_or_the_window_passing_is_not_taken() -> None:
    refused = evaluate(fix(state="answered", answer="Param ID:2001 error"), T0 + 60)
    assert refused.outcome == "not_taken" and "refused" in refused.evidence
    for state, error in (("expired", "not delivered before it expired"), ("failed", "written, no answer")):
        verdict = evaluate(fix(state=state, error=error), T0 + 60)
        assert verdict.outcome == "not_taken" and error in verdict.evidence
    assert evaluate(fix(state="queued", sent_at=None), T0 + 3599).outcome == "waiting"
    lapsed = evaluate(fix(state="queued", sent_at=None), T0 + 3600)
    assert lapsed.outcome == "not_taken" and "never took the command" in lapsed.evidence
    silent = evaluate(fix(state="answered", answer="New value 2001:x"), T0 + 3600)
    assert silent.outcome == "not_taken" and "no data session or new record followed" in silent.evidence


def test_answers_that_accept_and_answers_that_refuse() -> None:
    assert accepted("New value 2001:fleet.example") and accepted("Param ID:2001 Value:internet")
    for answer in (None, "", "  ", "Unknown command: setparam", "ERROR", "Invalid parameter", "Failed"):
        assert not accepted(answer)
