"""The command gate on its own: what the device awaits and the commands in, the command to write
(or the ones that expired) out; which command an answer belongs to, by the reference it echoes
where the protocol echoes one, by order where it does not."""

from __future__ import annotations

import pytest

from telediag.ingest.command_gate import RECENT, CommandGate, CommandQueueFull, Expired


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
    assert g.answer_received() == "b"  # without a reference, order is all there is: any answer now is "b"'s


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


# --- answers matched by the reference the protocol echoes ---------------------------------------


def test_a_late_answer_is_not_taken_for_the_next_command() -> None:
    g = gate()
    first, second = "first", "second"
    g.submit(first, 5.0, now=0.0)
    assert g.writable(0.0) == first
    g.sent(first, "r1")
    assert g.expire(5.0) == [Expired(first, sent=True)]  # reported unanswered
    g.submit(second, 5.0, now=6.0)
    assert g.writable(6.0) == second
    g.sent(second, "r2")
    assert g.answer_received("r1") is None  # the first one's answer, late: it answers nothing
    assert g.outstanding == second and g.earlier("r1") == first
    assert g.next_deadline() == 11.0  # the second still waits, on its own clock
    assert g.answer_received("r2") == second  # then its own answer answers it
    assert g.idle


def test_a_second_answer_to_an_answered_command_answers_nothing() -> None:
    g = gate()
    a, b = "a", "b"
    g.submit(a, 30.0, now=0.0)
    g.submit(b, 30.0, now=0.0)
    assert g.writable(0.0) == a
    g.sent(a, "r1")
    assert g.answer_received("r1") == a
    assert g.writable(1.0) == b
    g.sent(b, "r2")
    assert g.answer_received("r1") is None and g.earlier("r1") == a  # the device repeated its answer
    assert g.answer_received("r2") == b


def test_an_answer_with_a_reference_never_written_answers_nothing() -> None:
    g = gate()
    g.submit("a", 30.0, now=0.0)
    assert g.writable(0.0) == "a"
    g.sent("a", "r1")
    assert g.answer_received("zz") is None and g.earlier("zz") is None
    assert g.outstanding == "a"


def test_answers_without_a_reference_keep_the_order_rule() -> None:
    g = gate()
    for text in ("a", "b"):
        g.submit(text, 30.0, now=0.0)
    assert g.writable(0.0) == "a"
    g.sent("a", "r1")
    assert g.answer_received(None) == "a"  # e.g. a Queclink +NACK, which names no serial
    assert g.writable(1.0) == "b"
    g.sent("b", None)  # written without a reference (a command text with no serial field)
    assert g.answer_received("r9") == "b"  # nothing to compare with: order decides


def test_sent_names_only_the_outstanding_command() -> None:
    g = gate()
    g.submit("a", 30.0, now=0.0)
    g.submit("b", 30.0, now=0.0)
    assert g.writable(0.0) == "a"
    g.sent("b", "r2")  # "b" is not written: nothing changes
    g.sent("a", "r1")
    assert g.answer_received("r2") is None
    assert g.answer_received("r1") == "a"


def test_only_the_last_few_references_are_kept_to_name_a_late_answer() -> None:
    g = gate(limit=RECENT + 2)
    items = [f"c{i}" for i in range(RECENT + 1)]
    for i, item in enumerate(items):
        g.submit(item, 1.0, now=float(i))
        assert g.writable(float(i)) == item
        g.sent(item, f"r{i}")
        assert g.expire(float(i) + 1.0) == [Expired(item, sent=True)]
    assert g.earlier("r0") is None  # forgotten: a bounded memory
    assert g.earlier(f"r{RECENT}") == items[-1]
    assert g.earlier(None) is None
