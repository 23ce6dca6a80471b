"""Hypothesis-generated frames for every listening protocol, over real sockets: every record the codec
decodes reaches the store and every undecodable frame is counted as an error, exactly as the pure
codec says, and a normal device is served all along."""

from __future__ import annotations

import importlib
import re
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import registry
from protocols.teltonika.device import encode_imei, encode_udp
from tests.hostile import tally
from tests.hostile.payloads import _imei, fix, gt06_location, teltonika_tcp
from tests.hostile.server import HostileServer, wait_for
from tests.hostile.wire import send_datagram, send_stream
from tests.protocols.outcomes import Outcome, damaged, datagram_outcome, stream_outcome

pytestmark = pytest.mark.slow

EXAMPLES = 12
_COUNTER = re.compile(r'^telediag_(records|decode_errors)_total\{protocol="([a-z0-9]+)"\} ([0-9.e+]+)$', re.M)
DEVICES = st.integers(2000, 999_999)
"""The fuzzed devices' IMEI serials, drawn: a frame that depends on anything else (a counter shared by the
tests of the process) changes its length under Hypothesis between runs of the same example."""


def counters(hostile: HostileServer) -> dict[tuple[str, str], float]:
    """Records received and decode errors per protocol, from ``/metrics``."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{hostile.api}/metrics", timeout=10).read().decode()
    return {(kind, protocol): float(value) for kind, protocol, value in _COUNTER.findall(text)}


def valid_frames(protocol: str, imei: str) -> tuple[bytes, bytes]:
    """(login, one valid position frame) as a real device of ``protocol`` would send them."""
    record = fix(imei, protocol)
    if protocol == "teltonika":
        return encode_imei(imei), teltonika_tcp(imei, record)
    if protocol == "gt06":
        from protocols.gt06.device import encode_login

        return encode_login(imei, 1), gt06_location(imei, record)
    codec = importlib.import_module(f"protocols.{protocol}").DeviceCodec(imei)
    return codec.login(), codec.encode([record])


def stream_protocols() -> Iterator[str]:
    for name in registry.names():
        if registry.get(name).stream_session is not None:
            yield name


def check_exact(hostile: HostileServer, protocol: str, before: dict, expected: Outcome, label: str) -> None:
    """Wait until the server's counters moved by exactly the oracle's outcome."""
    def moved() -> tuple[float, float]:
        now = counters(hostile)
        return (now.get(("records", protocol), 0) - before.get(("records", protocol), 0),
                now.get(("decode_errors", protocol), 0) - before.get(("decode_errors", protocol), 0))

    if expected.silent:
        tally.count("bad ingest input", failures=1)
        raise AssertionError(f"{label}: the codec consumes this without a record, an answer or an error: {expected}")
    try:
        wait_for(lambda: moved() == (expected.records, expected.errors), timeout=5, every=0.02)
    except AssertionError:
        tally.count("bad ingest input", failures=1)
        raise AssertionError(f"{label}: the codec decodes {expected}, the server counted "
                             f"records/errors {moved()}") from None
    tally.count("bad ingest input")


@pytest.mark.parametrize("protocol", list(stream_protocols()))
def test_fuzzed_stream_frames_are_stored_or_counted_exactly(hostile: HostileServer, protocol: str) -> None:
    port = hostile.port(protocol)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        imei = _imei(data.draw(DEVICES))
        login, frame = valid_frames(protocol, imei)
        fuzzed = data.draw(damaged(frame))
        chunks = (login, fuzzed) if login else (fuzzed,)
        expected = stream_outcome(protocol, chunks)
        before = counters(hostile)
        send_stream(port, chunks, linger_s=0.0)
        check_exact(hostile, protocol, before, expected, f"{protocol} {fuzzed.hex()[:120]}")

    run()


def test_fuzzed_teltonika_datagrams_are_stored_or_counted_exactly(hostile: HostileServer) -> None:
    port = hostile.port("teltonika")

    @settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        imei = _imei(data.draw(DEVICES))
        datagram = data.draw(damaged(encode_udp(imei, 7, 7, [fix(imei, "teltonika")])))
        expected = datagram_outcome("teltonika", datagram)
        before = counters(hostile)
        send_datagram(port, datagram, wait_s=0.05)
        check_exact(hostile, "teltonika", before, expected, f"udp {datagram.hex()[:120]}")

    run()


def test_a_normal_device_is_served_after_all_that(hostile: HostileServer) -> None:
    imei = _imei(1999)  # below every fuzzed device's serial
    login, frame = valid_frames("teltonika", imei)
    _, answer = send_stream(hostile.port("teltonika"), (login, frame))
    assert answer == b"\x01" + b"\x00\x00\x00\x01"  # login accepted, one record acknowledged
