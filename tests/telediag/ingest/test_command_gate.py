"""The command gate on its own: what the device awaits and the commands in, the command to write
(or the ones that expired) out."""

from __future__ import annotations

import pytest

from telediag.ingest.command_gate import CommandGate, CommandQueueFull, Expired


def gate(limit: int = 4, wait: float = 60.0, half_duplex: bool = False) -> CommandGate[str]:
    return CommandGate(queue_limit=limit, max_wait_s=wait, half_duplex=half_duplex)


def test_a_command_goes_out_at_once_when_the_device_awaits_nothing() -> None:
    g = gate()
    g.submit("getinfo", 30.0, now=100.0)
    assert g.writable(100.0) == "getinfo"
    assert g.outstanding == "getinfo" and g.queued == 0


def test_a_command_arriving_while_an_ack_is_pending_waits_for_it() -> None:
    g = gate()
    g.device_awaits(1, False)  # an AVL packet whose ACK waits for its commit
    g.submit("getinfo", 30.0, now=100.0)
    assert g.writable(100.0) is None
    assert g.device_waiting and g.queued == 1
    g.device_awaits(0, False)  # the ACK went out
    assert g.writable(100.5) == "getinfo"


def test_every_pending_reply_must_be_written_first() -> None:
    g = gate()
    g.device_awaits(2, False)
    g.submit("getinfo", 30.0, now=0.0)
    g.device_awaits(1, False)
    assert g.writable(1.0) is None
    g.device_awaits(0, False)
    assert g.writable(1.0) == "getinfo"


def test_half_duplex_waits_for_a_half_received_frame() -> None:
    g = gate(half_duplex=True)
    g.device_awaits(0, True)
    g.submit("getinfo", 30.0, now=0.0)
    assert g.writable(0.0) is None
    g.device_awaits(1, False)  # the frame completed: now its ACK is due
    assert g.writable(0.0) is None
    g.device_awaits(0, False)
    assert g.writable(0.0) == "getinfo"


def test_full_duplex_ignores_a_half_received_frame() -> None:
    g = gate(half_duplex=False)
    g.device_awaits(0, True)
    g.submit("getinfo", 30.0, now=0.0)
    assert g.writable(0.0) == "getinfo"


def test_one_outstanding_command_at_a_time_in_order() -> None:
    g = gate()
    for text in ("a", "b", "c"):
        g.submit(text, 30.0, now=0.0)
    assert g.writable(0.0) == "a"
    assert g.writable(0.0) is None  # "a" awaits its answer
    assert g.answer_received() == "a"
    assert g.writable(1.0) == "b"
    assert g.answer_received() == "b"
    assert g.writable(2.0) == "c"


def test_an_answer_with_no_command_outstanding_answers_nothing() -> None:
    g = gate()
    assert g.answer_received() is None
    g.device_awaits(1, False)
    g.submit("a", 30.0, now=0.0)
    assert g.answer_received() is None  # "a" was never written
    assert g.queued == 1


def test_the_queue_limit_refuses_with_a_clear_error() -> None:
    g = gate(limit=2)
    g.device_awaits(1, False)
    g.submit("a", 30.0, now=0.0)
    g.submit("b", 30.0, now=0.0)
    with pytest.raises(CommandQueueFull, match="2 commands already wait.*limit is 2"):
        g.submit("c", 30.0, now=0.0)
    g.device_awaits(0, False)
    assert g.writable(0.0) == "a"  # the outstanding one is not counted against the queue
    g.submit("c", 30.0, now=0.0)
    assert g.queued == 2


def test_the_answer_timeout_counts_from_writing() -> None:
    g = gate(wait=60.0)
    g.device_awaits(1, False)
    g.submit("a", 5.0, now=0.0)
    assert g.next_deadline() == 60.0  # the wait bound while unwritten
    g.device_awaits(0, False)
    assert g.writable(40.0) == "a"
    assert g.next_deadline() == 45.0
    assert g.expire(44.9) == []
    assert g.expire(45.0) == [Expired("a", sent=True)]
    assert g.idle and g.next_deadline() is None


def test_a_command_the_device_never_lets_through_fails_unsent_after_the_wait_bound() -> None:
    g = gate(wait=10.0)
    g.device_awaits(1, False)  # a commit that never completes
    g.submit("a", 30.0, now=0.0)
    g.submit("b", 30.0, now=4.0)
    assert g.expire(9.9) == []
    assert g.expire(10.0) == [Expired("a", sent=False)]
    assert g.next_deadline() == 14.0
    assert g.expire(14.0) == [Expired("b", sent=False)]
    assert g.idle


def test_an_expired_outstanding_command_frees_the_slot_for_the_next() -> None:
    g = gate()
    g.submit("a", 1.0, now=0.0)
    g.submit("b", 1.0, now=0.0)
    assert g.writable(0.0) == "a"
    assert g.expire(1.0) == [Expired("a", sent=True)]
    assert g.writable(1.0) == "b"
    assert g.answer_received() == "b"  # a late answer cannot be taken for the expired one


def test_withdraw_forgets_a_command_that_could_not_be_written() -> None:
    g = gate()
    g.submit("bad", 30.0, now=0.0)
    g.submit("good", 30.0, now=0.0)
    assert g.writable(0.0) == "bad"
    g.withdraw("bad")
    assert g.writable(0.0) == "good"


def test_close_fails_the_outstanding_and_every_queued_command() -> None:
    g = gate()
    for text in ("a", "b", "c"):
        g.submit(text, 30.0, now=0.0)
    assert g.writable(0.0) == "a"
    assert g.close() == [Expired("a", sent=True), Expired("b", sent=False), Expired("c", sent=False)]
    assert g.idle and g.close() == []


def test_a_gate_needs_room_for_one_command() -> None:
    with pytest.raises(ValueError):
        gate(limit=0)
