"""Thin Twisted adapter for datagram (UDP) devices: one datagram, its records, its ACK after commit."""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from protocols.core import Login, ProtocolError
from protocols.registry import DatagramDecoder
from telediag.pipeline import Pipeline


class DeviceDatagramProtocol(DatagramProtocol):
    """Every device of one protocol on one UDP port."""

    noisy = False

    def __init__(self, protocol: str, decode: DatagramDecoder, pipeline: Pipeline, max_frame: int) -> None:
        self.protocol_name = protocol
        self.decode = decode
        self.pipeline = pipeline
        self.max_frame = max_frame

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        remote = f"{addr[0]}:{addr[1]}"
        try:
            if len(data) > self.max_frame:
                raise ProtocolError(
                    f"datagram of {len(data)} bytes over the {self.max_frame}-byte limit", excerpt=data
                )
            messages = self.decode(data)
        except ProtocolError as error:
            self.pipeline.protocol_error(None, self.protocol_name, remote, error)
            if error.reply:
                self.transport.write(error.reply, addr)
            return
        decoded_at = self.pipeline.now()
        for message in messages:
            if isinstance(message, Login):
                continue  # datagram protocols carry the IMEI in every packet
            imei = next((r.imei for r in message.records if r.imei), None)
            if imei is None:
                if message.ack:
                    self.transport.write(message.ack, addr)
                continue
            if not self.pipeline.identify(imei, self.protocol_name):
                continue
            committed = self.pipeline.submit(imei, self.protocol_name, message.records)
            committed.addCallbacks(self._send_ack, self._no_ack, (message.ack, addr, decoded_at))

    def _send_ack(self, _: object, ack: bytes | None, addr: Any, decoded_at: float) -> None:
        if self.transport is not None:
            if ack:
                self.transport.write(ack, addr)
            self.pipeline.ack_sent(self.protocol_name, decoded_at)

    def _no_ack(self, failure: Failure) -> None:
        """Not committed: stay silent, the device resends the datagram."""
        failure.trap(Exception)
