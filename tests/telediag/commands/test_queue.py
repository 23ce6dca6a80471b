"""The command queue in a real store (SQLite and PostgreSQL): the row claim that keeps two processes
from sending one command, one command in flight per device, expiry and lost claims, the SMS
selection and its backoff."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from telediag.commands import queue
from telediag.commands.model import CommandRefused
from telediag.store.database import transaction
from tests.stores import database_at

IMEI, OTHER = "356307042441013", "356307042441021"
T0 = 1_790_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Any:
    connection = database_at(tmp_path / "store.sqlite3").connect()
    connection.execute("INSERT INTO sim_profiles (iccid, msisdn, apn) VALUES ('8948', '48600111222', 'internet')")
    connection.execute("INSERT INTO devices (imei, protocol, registered_at, source, iccid) "
                       "VALUES (?, 'teltonika', 0, 'test', '8948')", (IMEI,))
    yield connection
    connection.close()


def queued(db: Any, imei: str = IMEI, text: str = "getstatus", at: float = T0, expires_in_s: float = 60.0) -> int:
    with transaction(db):
        return int(queue.enqueue(db, imei, text, "technical#1", at, expires_in_s, max_waiting=3)["id"])


def test_two_processes_claiming_the_same_devices_never_both_send_a_command(db: Any, tmp_path: Path) -> None:
    first, second = queued(db), queued(db, OTHER)
    other = database_at(tmp_path / "store.sqlite3").connect()  # the second process's connection
    try:
        taken_a = queue.claim_for(db, [IMEI, OTHER], "node-a", T0 + 1, 90.0, 10)
        taken_b = queue.claim_for(other, [IMEI, OTHER], "node-b", T0 + 1, 90.0, 10)
    finally:
        other.close()
    assert sorted(c.id for c in taken_a) == [first, second] and taken_b == []
    assert queue.get(db, first)["state"] == "sent" and queue.get(db, first)["channel"] == "tcp"


def test_one_command_per_device_in_flight_oldest_first(db: Any) -> None:
    first, second = queued(db, text="getinfo"), queued(db, text="getstatus")
    assert [c.text for c in queue.claim_for(db, [IMEI], "n", T0 + 1, 90.0, 10)] == ["getinfo"]
    assert queue.claim_for(db, [IMEI], "n", T0 + 2, 90.0, 10) == []  # the first awaits its answer
    assert queue.answered(db, first, "INI:2026/1/1", T0 + 3)
    assert [c.id for c in queue.claim_for(db, [IMEI], "n", T0 + 4, 90.0, 10)] == [second]
    assert queue.failed(db, second, "written, no answer within 30 s", T0 + 40)
    assert not queue.answered(db, second, "late", T0 + 41)  # a final state stays final
    history = queue.history(db, IMEI, 10)
    assert [(c["id"], c["state"]) for c in history] == [(second, "failed"), (first, "answered")]
    assert history[1]["answer"] == "INI:2026/1/1" and history[1]["answered_at"] is not None


def test_a_command_never_written_goes_back_to_the_queue(db: Any) -> None:
    command = queued(db)
    (claimed,) = queue.claim_for(db, [IMEI], "n", T0 + 1, 90.0, 10)
    assert queue.released(db, claimed.id, "not written: the device stayed busy", T0 + 61)
    found = queue.get(db, command)
    assert found["state"] == "queued" and found["sent_at"] is None and "stayed busy" in found["error"]


def test_expiry_and_lost_claims(db: Any) -> None:
    lapsing, kept, taken = queued(db, expires_in_s=10), queued(db, OTHER, expires_in_s=100), queued(db, "1" * 15)
    (claim,) = queue.claim_for(db, ["1" * 15], "gone", T0 + 1, 30.0, 10)
    assert queue.expire(db, T0 + 9.9) == 0
    assert queue.expire(db, T0 + 10) == 1
    assert queue.get(db, lapsing)["state"] == "expired" and queue.get(db, kept)["state"] == "queued"
    assert queue.claim_for(db, [IMEI], "n", T0 + 11, 30.0, 10) == []  # an expired command is never sent
    assert queue.expire(db, T0 + 31.1) == 1  # the claim of a process that stopped lapsed
    assert queue.get(db, taken)["state"] == "failed" and "stopped" in queue.get(db, taken)["error"]
    assert claim.id == taken


def test_the_queue_per_device_is_bounded_and_cancel_takes_only_waiting_commands(db: Any) -> None:
    first = queued(db)
    queued(db), queued(db)
    with pytest.raises(CommandRefused, match="already has 3 commands waiting"):
        queued(db)
    assert queue.cancel(db, first, T0, "cli")
    assert not queue.cancel(db, first, T0, "cli")
    assert queue.get(db, first)["state"] == "cancelled"


def test_sms_takes_commands_left_queued_past_the_delay_whose_sim_has_a_number(db: Any) -> None:
    command, unnumbered = queued(db, expires_in_s=600), queued(db, OTHER, expires_in_s=600)
    assert queue.due_for_sms(db, T0 + 299, 300.0, 10) == []
    assert queue.due_for_sms(db, T0 + 300, 300.0, 10) == [(command, IMEI, "getstatus", "48600111222")]
    assert queue.claim_sms(db, command, "n", T0 + 300, 70.0)
    assert queue.claim_for(db, [IMEI], "n", T0 + 301, 90.0, 10) == []  # the SMS has it
    assert queue.sms_failed(db, command, "SMS attempt 1 failed: 503", T0 + 320)
    assert queue.due_for_sms(db, T0 + 319, 300.0, 10) == []  # backing off
    assert [row[0] for row in queue.due_for_sms(db, T0 + 320, 300.0, 10)] == [command]
    assert queue.claim_sms(db, command, "n", T0 + 320, 70.0) and queue.sms_accepted(db, command, T0 + 321)
    found = queue.get(db, command)
    assert found["state"] == "sent" and found["channel"] == "sms" and queue.sms_attempts(db, command) == 2
    assert queue.expire(db, T0 + 10_000) == 1  # the unnumbered one; an accepted SMS holds no claim
    assert queue.get(db, command)["state"] == "sent" and queue.get(db, unnumbered)["state"] == "expired"


def test_an_sms_given_up_leaves_the_command_to_its_device(db: Any) -> None:
    command = queued(db, expires_in_s=600)
    assert queue.claim_sms(db, command, "n", T0 + 300, 70.0)
    assert queue.sms_failed(db, command, "SMS given up after 1 attempts: 400", math.inf)
    assert queue.due_for_sms(db, T0 + 500, 300.0, 10) == []
    assert [c.id for c in queue.claim_for(db, [IMEI], "n", T0 + 501, 90.0, 10)] == [command]
