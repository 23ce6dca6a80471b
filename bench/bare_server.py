"""The ceiling: a bare Twisted server that frames Teltonika TCP and ACKs, with no decoding or storage.

It answers the IMEI handshake with 01 and each AVL packet with its record count, exactly the bytes
telediag sends, so the load client cannot tell the two apart.
"""

from __future__ import annotations

import struct
import sys

from twisted.internet import protocol, reactor


class BareTeltonika(protocol.Protocol):
    """Frame on the length fields; answer; nothing else."""

    def __init__(self) -> None:
        self.buffer = b""
        self.identified = False

    def dataReceived(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            if not self.identified:
                if len(buffer) < 2:
                    break
                size = 2 + struct.unpack_from(">H", buffer)[0]
                if len(buffer) < size:
                    break
                buffer = buffer[size:]
                self.identified = True
                self.transport.write(b"\x01")
                continue
            if len(buffer) < 8:
                break
            size = 12 + struct.unpack_from(">I", buffer, 4)[0]
            if len(buffer) < size:
                break
            count = buffer[9]
            buffer = buffer[size:]
            self.transport.write(struct.pack(">I", count))
        self.buffer = buffer


def main() -> None:
    """``bare_server.py PORT``: listen on 127.0.0.1:PORT until killed."""
    factory = protocol.Factory.forProtocol(BareTeltonika)
    port = reactor.listenTCP(int(sys.argv[1]), factory, interface="127.0.0.1", backlog=4096)
    print(f"listening {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
