"""Wrong-protocol detection: every codec's captured frames, refused by another port's codec, are
recognised as their own protocol, and random bytes are recognised as nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import gt06, registry, teltonika
from protocols.sniff import PREFERENCE, SNIFF_BYTES, Detection, _decoded, _identity, note, noted, sniff
from tests.conftest import traccar_vectors

PROTOCOLS = registry.names()


def payload(entry: dict[str, Any]) -> bytes:
    if entry["payload_kind"] == "hex":
        return bytes.fromhex(entry["payload"])
    return str(entry["payload"]).encode("latin-1")


def own_frames(vectors_dir: Path) -> list[tuple[str, bytes]]:
    """Every Traccar payload its own codec decodes into a message naming a device (or a report)."""
    found = []
    for protocol in PROTOCOLS:
        spec = registry.get(protocol)
        for entry in traccar_vectors(vectors_dir, protocol):
            data = payload(entry)[:SNIFF_BYTES]
            if _identity(_decoded(spec, data, datagram=False)) is not None:
                found.append((protocol, data))
    return found


def test_every_preferred_codec_is_registered() -> None:
    assert sorted(PREFERENCE) == PROTOCOLS


def test_captured_frames_are_recognised_on_every_other_port(vectors_dir: Path) -> None:
    frames = own_frames(vectors_dir)
    per_protocol = Counter(protocol for protocol, _ in frames)
    assert set(per_protocol) >= {"gt06", "teltonika", "h02", "gl200", "jt808", "meitrack", "tk103", "watch"}
    wrong = []
    for protocol, data in frames:
        for port in PROTOCOLS:
            if port == protocol:
                continue
            detection = sniff(data, port)
            if detection is None or detection.protocol != protocol:
                wrong.append((protocol, port, data[:24], detection))
    assert not wrong, f"{len(wrong)} misdetections, e.g. {wrong[:5]}"


def test_a_gt06_login_on_the_teltonika_port_names_gt06_its_port_and_the_imei() -> None:
    login = gt06.encode_login("356307042441013", 1)
    assert sniff(login, "teltonika") == Detection("gt06", 5023, "356307042441013")


def test_a_teltonika_login_on_the_gt06_port_names_teltonika() -> None:
    assert sniff(teltonika.encode_imei("356307042441013"), "gt06") == Detection("teltonika", 5027, "356307042441013")


def test_only_the_first_bytes_are_tried() -> None:
    login = gt06.encode_login("356307042441013", 1)
    assert sniff(bytes(SNIFF_BYTES) + login, "teltonika") is None
    assert sniff(login, "teltonika", limit=len(login) - 1) is None


def test_a_codec_is_not_tried_on_its_own_port() -> None:
    assert sniff(gt06.encode_login("356307042441013", 1), "gt06") is None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=SNIFF_BYTES), port=st.sampled_from(PROTOCOLS))
def test_random_bytes_are_no_protocol(data: bytes, port: str) -> None:
    assert sniff(data, port) is None


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=SNIFF_BYTES), port=st.sampled_from(PROTOCOLS))
def test_random_datagrams_are_no_protocol(data: bytes, port: str) -> None:
    assert sniff(data, port, datagram=True) is None


@pytest.mark.parametrize("imei", ["356307042441013", None])
def test_the_note_in_an_ingest_error_reads_back(imei: str | None) -> None:
    message = f"{note(Detection('gt06', 5023, imei), 'teltonika')}: IMEI length 30840 is not 15-17"
    found = noted(message)
    assert found is not None
    assert (found.protocol, found.port_protocol, found.default_port, found.imei) == ("gt06", "teltonika", 5023, imei)
    assert noted("IMEI length 30840 is not 15-17") is None
    assert noted(None) is None
