"""The adapters feed the traffic log: frames in and out in the order they happened, moved to the IMEI
at login; a connection or datagram source refused by its port's codec is sniffed once, and its ingest
error names the protocol it speaks (no store: a committer that commits when told)."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from protocols import gt06, teltonika
from protocols.registry import get as codec_spec
from protocols.sniff import noted
from telediag.ingest.tcp import DeviceStreamFactory, DeviceStreamProtocol
from telediag.ingest.udp import DeviceDatagramProtocol
from telediag.pipeline import Pipeline
from telediag.store.writer import IngestError
from tests.telediag.ingest.test_command_adapter import IMEI, HeldCommitter, Peer, record

ADDRESS = f"{Peer.host}:{Peer.port}"


class Recording(HeldCommitter):
    """Keeps what the pipeline notes (ingest errors among them)."""

    def __init__(self) -> None:
        super().__init__()
        self.noted: list[Any] = []

    def note(self, change: Any) -> None:
        self.noted.append(change)


def connection(protocol: str) -> tuple[Pipeline, Recording, DeviceStreamProtocol, StringTransport, Clock]:
    clock = Clock()
    clock.advance(1_760_000_000.0)
    committer = Recording()
    pipeline = Pipeline(clock, committer, set())  # type: ignore[arg-type]
    factory = DeviceStreamFactory(clock, codec_spec(protocol), pipeline, idle_timeout_s=3600.0, max_frame=65536,
                                  frame_timeout_s=30.0)
    conn = factory.buildProtocol(Peer())
    assert conn is not None
    transport = StringTransport(peerAddress=Peer())
    conn.makeConnection(transport)
    return pipeline, committer, conn, transport, clock


def test_frames_in_and_out_are_kept_in_order_under_the_imei() -> None:
    pipeline, committer, conn, _, clock = connection("teltonika")
    login = teltonika.encode_imei(IMEI)
    conn.dataReceived(login[:5])  # the login in two reads: the first before the IMEI is known
    assert pipeline.traffic.keys() == [ADDRESS]
    conn.dataReceived(login[5:])
    clock.advance(1)
    packet = teltonika.encode_avl([record(1)])
    conn.dataReceived(packet)
    committer.commit()
    assert pipeline.traffic.keys() == [IMEI]
    frames = pipeline.traffic.frames(IMEI)
    assert [(f["direction"], f["hex"]) for f in frames] == [
        ("in", login[:5].hex()), ("in", login[5:].hex()), ("out", "01"), ("in", packet.hex()), ("out", "00000001")]
    assert [f["summary"] for f in frames] == ["incomplete frame", f"login {IMEI}", "reply", "avl: 1 record", "reply"]
    assert frames[3]["at"] == "2025-10-09T08:53:21.000Z"


def test_a_gt06_tracker_on_the_teltonika_port_is_recognised_once() -> None:
    pipeline, committer, conn, transport, _ = connection("teltonika")
    conn.dataReceived(gt06.encode_login(IMEI, 1))
    (error,) = [c for c in committer.noted if isinstance(c, IngestError)]
    assert error.imei == IMEI and error.remote == ADDRESS and error.protocol == "teltonika"
    found = noted(error.message)
    assert found is not None and (found.protocol, found.default_port, found.imei) == ("gt06", 5023, IMEI)
    assert error.excerpt  # the bytes are kept with the error
    assert transport.value() == b"\x00"  # Teltonika's refusal still goes out
    (frame, refusal) = pipeline.traffic.frames(IMEI)
    assert frame["error"] == error.message and refusal["summary"] == "error reply"
    (detection,) = pipeline.traffic.detections()
    assert (detection["protocol"], detection["port_protocol"], detection["remote"]) == ("gt06", "teltonika", ADDRESS)


def test_an_identified_connection_is_not_sniffed() -> None:
    pipeline, committer, conn, _, _ = connection("gt06")
    conn.dataReceived(gt06.encode_login(IMEI, 1))
    conn.dataReceived(teltonika.encode_imei(IMEI))  # nonsense to GT06, from a device already known
    errors = [c for c in committer.noted if isinstance(c, IngestError)]
    assert errors and all(noted(e.message) is None for e in errors)
    assert pipeline.traffic.detections() == []


def test_a_frame_deadline_is_kept_as_an_error_without_bytes() -> None:
    pipeline, _, conn, _, clock = connection("teltonika")
    conn.dataReceived(teltonika.encode_imei(IMEI))
    conn.dataReceived(teltonika.encode_avl([record(1)])[:10])
    clock.advance(31)
    last = pipeline.traffic.frames(IMEI)[-1]
    assert last["hex"] == "" and last["error"] is not None and "incomplete frame" in last["error"]


class Datagrams(StringTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, Any]] = []

    def write(self, data: bytes, addr: Any = None) -> None:  # type: ignore[override]
        self.sent.append((data, addr))


def test_a_datagram_source_is_sniffed_once_and_its_frames_kept() -> None:
    clock = Clock()
    committer = Recording()
    pipeline = Pipeline(clock, committer, set())  # type: ignore[arg-type]
    spec = codec_spec("teltonika")
    assert spec.datagram_decoder is not None
    handler = DeviceDatagramProtocol("teltonika", spec.datagram_decoder, pipeline, 65536)
    handler.transport = Datagrams()  # type: ignore[assignment]
    login = gt06.encode_login(IMEI, 1)
    for _ in range(3):
        handler.datagramReceived(login, ("10.0.0.9", 7000))
    handler.datagramReceived(b"\xff" * 8, ("10.0.0.8", 7000))
    errors = [c for c in committer.noted if isinstance(c, IngestError)]
    assert [e.imei for e in errors] == [IMEI, IMEI, IMEI, None]
    assert all(noted(e.message) is not None for e in errors[:3]) and noted(errors[3].message) is None
    assert len(pipeline.traffic.detections()) == 1  # once per source
    assert [f["transport"] for f in pipeline.traffic.frames(IMEI)] == ["udp"] * 3
    assert pipeline.traffic.frames("10.0.0.8:7000")[0]["error"] is not None
