"""Answers leave in request order even when an error answer needs no commit and the ACKs before it
wait for theirs: pipelined HTTP requests to the OsmAnd listener get 200, 400, 200 in that order."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial import unittest

from telediag.app import makeService
from telediag.config import ApiConfig, Config, StoreConfig
from tests.telediag.ingest.test_service import RawDevice


def request(query: str) -> bytes:
    return f"GET /?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


class ReplyOrderTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_pipelined_requests_are_answered_in_order(self) -> Any:
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-order-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        config = Config(store=StoreConfig(data_dir=data_dir, batch_max_delay_ms=50.0),
                        api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
                        listen={"osmand": ("tcp:0:interface=127.0.0.1",)})
        service = makeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        yield service.ready
        device = RawDevice()
        port = service.getServiceNamed("listeners").port("osmand")
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), device)
        self.addCleanup(lambda: device.transport.loseConnection())
        device.transport.write(
            request("id=phone-1&lat=52.1&lon=21.0&timestamp=1790000000")
            + request("id=phone-1&timestamp=1790000001")  # no position: 400, without a commit
            + request("id=phone-1&lat=52.2&lon=21.1&timestamp=1790000002")
        )
        while device.received.count(b"HTTP/1.1 ") < 3:
            yield device.wait_for(len(device.received) + 1)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", device.received)  # the 400 carries a JSON body
        self.assertEqual(statuses, [b"200", b"400", b"200"])
