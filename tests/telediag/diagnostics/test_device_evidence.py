"""The running service asks a connected Teltonika device for its APN over Codec 12, keeps the answer
as evidence, and diagnoses a mismatch with the SIM profile."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from simulators.devices import SimDevice, TeltonikaTcpLink
from telediag.app import makeService
from telediag.config import ApiConfig, Config, StoreConfig
from telediag.registry.entries import parse_entry
from telediag.registry.repository import save
from tests.stores import database_at

IMEI = "356307042441013"


class AskingPipeline:
    """The pipeline as the diagnostics see it: one connected device, whose answers the test gives."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, defer.Deferred[str]]] = []

    def connected_devices(self) -> set[str]:
        return {IMEI}

    def send_command(self, imei: str, text: str, timeout_s: float | None = None) -> defer.Deferred[str]:
        answer: defer.Deferred[str] = defer.Deferred()
        self.asked.append((text, answer))
        return answer


class DeviceEvidenceTests(unittest.TestCase):
    @defer.inlineCallbacks
    def started_service(self) -> Any:
        """The service over a fresh store holding IMEI with its SIM profile's APN, ready."""
        data_dir = Path(tempfile.mkdtemp(prefix="telediag-evidence-"))
        self.addCleanup(shutil.rmtree, data_dir, True)
        config = Config(store=StoreConfig(data_dir=data_dir), api=ApiConfig(listen="tcp:0:interface=127.0.0.1"),
                        listen={"teltonika": ("tcp:0:interface=127.0.0.1",)})
        db = database_at(config.database_path).connect()
        save(db, [parse_entry({"imei": IMEI, "protocol": "teltonika", "iccid": "8948000000000000001",
                               "apn": "fleet.example"})], 0.0, "import")
        db.close()
        service = makeService(config, reactor)
        service.startService()
        self.addCleanup(lambda: service.stopService() if service.running else None)
        yield service.ready
        return service, config

    @defer.inlineCallbacks
    def test_a_question_is_not_asked_again_while_its_answer_is_being_filed(self) -> Any:
        service, _ = yield self.started_service()
        diagnostics = service.getServiceNamed("diagnostics")
        pipeline = AskingPipeline()
        diagnostics.pipeline = pipeline
        now = reactor.seconds()
        diagnostics._ask_devices(now)
        for _ in range(250):
            if pipeline.asked:
                break
            yield deferLater(reactor, 0.02, lambda: None)
        self.assertEqual([text for text, _ in pipeline.asked], ["getparam 2001"])
        diagnostics._ask_devices(now)  # its list of questions is read before the answer below is filed
        pipeline.asked[0][1].callback("Param ID:2001 Value:internet")
        for _ in range(250):
            if not diagnostics._queries and not diagnostics._in_flight:
                break
            yield deferLater(reactor, 0.02, lambda: None)
        yield deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(len(pipeline.asked), 1, "the device was asked again before its answer was filed")
        diagnostics._ask_devices(now)  # filed: nothing left to ask
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(len(pipeline.asked), 1)

    @defer.inlineCallbacks
    def test_apn_reported_by_the_device_is_kept_and_compared(self) -> Any:
        service, config = yield self.started_service()
        port = service.getServiceNamed("listeners").port("teltonika")

        link = TeltonikaTcpLink(SimDevice(IMEI, "teltonika", "tcp", 1, apn="internet"), 0x8E)
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), link)
        self.addCleanup(lambda: link.transport.loseConnection())
        for _ in range(200):
            if IMEI in service.pipeline.connected_devices():
                break
            yield deferLater(reactor, 0.02, lambda: None)

        yield service.getServiceNamed("diagnostics").sweep()
        reader = database_at(config.database_path).connect(readonly=True)
        self.addCleanup(reader.close)
        finding = None
        for _ in range(250):
            finding = reader.execute(
                "SELECT evidence FROM findings WHERE imei = ? AND code = 'APN_MISCONFIGURED' AND active = 1", (IMEI,)
            ).fetchone()
            if finding:
                break
            yield deferLater(reactor, 0.02, lambda: None)
        self.assertIsNotNone(finding, "no APN finding after the device answered")
        self.assertIn('"reported_apn":"internet"', finding[0])
        evidence = dict(reader.execute("SELECT name, value FROM device_evidence WHERE imei = ?", (IMEI,)))
        self.assertEqual(evidence["apn"], "internet")
        self.assertEqual(evidence["apn_answer"], "Param ID:2001 Value:internet")
        self.assertEqual(link.device.commands_answered, 1)
