"""The service tree of ``telediag.app.makeService``: children in dependency order, one diagnostics
engine and one ticket desk shared by ingest and the API, stop one child at a time in reverse order."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, reactor
from twisted.trial import unittest

from telediag.app import TelediagService, makeService
from telediag.config import (
    ApiConfig,
    Config,
    ConfigError,
    InfluxSettings,
    IngestConfig,
    MqttSettings,
    StoreConfig,
    WebhookConfig,
)
from telediag.store.database import UNAVAILABLE_ERRORS
from tests.stores import unopenable_store

LOCAL = "tcp:0:interface=127.0.0.1"


def config_in(data_dir: Path, store: StoreConfig | None = None, **sections: Any) -> Config:
    return Config(store=store or StoreConfig(data_dir=data_dir), api=ApiConfig(listen=LOCAL),
                  listen={"teltonika": (LOCAL,)}, **sections)


class TreeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="telediag-app-"))
        self.addCleanup(shutil.rmtree, self.data_dir, True)

    def test_children_are_named_in_dependency_order(self) -> None:
        plain = makeService(config_in(self.data_dir), reactor)
        self.assertEqual([child.name for child in plain], ["store", "elected", "commands", "listeners", "api"])
        self.assertEqual([child.name for child in plain.getServiceNamed("elected")],
                         ["tickets", "fix-proof", "diagnostics"])
        everything = makeService(config_in(
            self.data_dir, mqtt=MqttSettings(host="127.0.0.1"),
            influxdb=InfluxSettings(url="http://127.0.0.1:8086", org="fleet", bucket="records"),
            webhooks=WebhookConfig(urls=("http://127.0.0.1:9/hooks",), secret="s"),
        ), reactor)
        self.assertEqual([child.name for child in everything],
                         ["store", "elected", "mqtt-in", "commands", "listeners", "api"])
        self.assertEqual([child.name for child in everything.getServiceNamed("elected")], [
            "influxdb", "mqtt-out", "webhooks", "tickets", "fix-proof", "diagnostics"])
        self.assertFalse(self.data_dir.joinpath("telediag.sqlite3").exists(), "nothing is opened before start")

    def test_one_engine_one_desk_and_one_metrics_for_ingest_and_the_api(self) -> None:
        service = makeService(config_in(self.data_dir), reactor)
        api, diagnostics = service.getServiceNamed("api"), service.getServiceNamed("diagnostics")
        self.assertIs(api.desk, service.getServiceNamed("tickets").desk)
        self.assertIs(api.diagnostics.engine, diagnostics.engine)
        self.assertIs(api.metrics, service.getServiceNamed("listeners").metrics)
        self.assertIs(service.getServiceNamed("listeners").pipeline, diagnostics.pipeline)

    def test_what_this_version_cannot_run_is_refused_before_anything_starts(self) -> None:
        with self.assertRaisesRegex(ConfigError, r"^\[ingest\] workers = 2: \[listen\] teltonika: 'ssl:5027' cannot"):
            makeService(Config(store=StoreConfig(data_dir=self.data_dir), listen={"teltonika": ("ssl:5027",)},
                               ingest=IngestConfig(workers=2)), reactor)

    @defer.inlineCallbacks
    def test_a_store_that_cannot_open_fails_ready_and_binds_nothing(self) -> Any:
        blocked = self.data_dir / "file"
        service = makeService(config_in(blocked, unopenable_store(blocked)), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        with self.assertRaises((OSError, *UNAVAILABLE_ERRORS)):
            yield service.ready
        self.assertEqual([child.name for child in service if child.running], [])

    @defer.inlineCallbacks
    def test_it_listens_then_stops_cleanly(self) -> Any:
        service = makeService(config_in(self.data_dir), reactor)
        service.startService()
        yield service.ready
        self.assertTrue(self.data_dir.joinpath("listening.json").exists())
        self.assertTrue(all(child.running for child in service))
        yield service.stopService()
        self.assertFalse(any(child.running for child in service))


class Recorder(Service):
    """A child whose stop waits until the test lets it finish."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.stopping: defer.Deferred[None] = defer.Deferred()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self.log.append(f"stop {self.name}")
        return self.stopping


class StopOrderTests(unittest.TestCase):
    def test_each_child_stops_after_the_one_started_after_it_has_stopped(self) -> None:
        log: list[str] = []
        root = TelediagService(Config(), pipeline=None)  # type: ignore[arg-type]
        children = [Recorder(log) for _ in range(3)]
        for name, child in zip(("store", "listeners", "api"), children, strict=True):
            child.setName(name)
            child.setServiceParent(root)
            child.startService()
        root.running = 1
        stopped = root.stopService()
        self.assertEqual(log, ["stop api"])
        children[2].stopping.callback(None)
        self.assertEqual(log, ["stop api", "stop listeners"])
        children[1].stopping.callback(None)
        self.assertEqual(log, ["stop api", "stop listeners", "stop store"])
        self.assertFalse(stopped.called)
        children[0].stopping.callback(None)
        self.assertTrue(stopped.called)
