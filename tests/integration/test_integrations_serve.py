"""``telediag serve`` with its integrations configured, against real servers on 127.0.0.1: telemetry
published to Mosquitto is stored, exported to VictoriaMetrics through the InfluxDB v2 write API, and
findings come back out on the account's MQTT topic; ``/metrics`` counts the MQTT records."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from protocols.record import Record
from telediag.ingest.mqtt_schema import encode_telemetry, telemetry_topic
from telediag.store.reader import Reader
from tests.integration.harness import ServerProcess, run_cli
from tests.stores import database_at
from tests.telediag.mqtt.broker import Mosquitto
from tests.telediag.outbound.vmserver import VmServer

pytestmark = pytest.mark.slow
IMEI = "356307042441013"
START = time.time() - 600


def wait_for(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_mqtt_in_influx_out_findings_out_and_metrics(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mqtt").start()
    vm = VmServer(tmp_path / "vm").start()
    server = ServerProcess(tmp_path / "data", extra_toml=(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f'[influxdb]\nurl = "{vm.url}"\norg = "telediag"\nbucket = "telemetry"\ntoken = "t"\n'
        "[diagnostics]\nbatch_check_min_interval_s = 1\n"
    ))
    findings: list[dict] = []
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="findings-reader")
    subscriber.on_message = lambda client, userdata, message: findings.append(json.loads(message.payload))
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tracker")
    try:
        added = run_cli(["devices", "add", IMEI, "--account", "Acme", "--data-dir", str(server.data_dir)])
        assert added.returncode == 0
        server.start()
        subscriber.connect("127.0.0.1", broker.port)
        subscriber.subscribe("telediag/v1/accounts/+/findings", qos=1)
        subscriber.loop_start()
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        for i in range(20):  # the tracker has lost its external power
            record = Record(imei=IMEI, protocol="mqtt", fix_time=START + 10 * i, valid=True, lat=52.23, lon=21.01,
                            speed_kmh=40.0, ext_voltage_v=0.0, battery_voltage_v=4.0)
            sent = publisher.publish(telemetry_topic("telediag/v1", IMEI), encode_telemetry([record]), qos=1)
            sent.wait_for_publish(5)

        def stored() -> int:
            reader = Reader(database_at(server.database))
            try:
                return reader.count_records(IMEI)
            finally:
                reader.close()

        wait_for(lambda: stored() == 20)
        voltage = '{__name__="telemetry_ext_voltage_v"}'
        wait_for(lambda: sum(len(v) for v in vm.samples(voltage).values()) == 20)
        [(series, samples)] = vm.samples(voltage).items()
        assert dict(series[1])["imei"] == IMEI and dict(series[1])["account"] == "Acme"
        assert {value for _, value in samples} == {0.0}
        wait_for(lambda: any(f["finding"]["code"] == "EXTERNAL_POWER_LOST" for f in findings))
        assert findings[0]["kind"] == "raised" and findings[0]["finding"]["imei"] == IMEI

        api = next(e["port"] for e in json.loads((server.data_dir / "listening.json").read_text())["listeners"]
                   if e["protocol"] == "http-api")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{api}/metrics", timeout=10).read().decode()
        assert 'telediag_records_total{protocol="mqtt"} 20.0' in metrics
        assert 'telediag_findings_active{code="EXTERNAL_POWER_LOST"} 1.0' in metrics
    finally:
        publisher.loop_stop()
        subscriber.loop_stop()
        assert server.stop() == 0, server.log()
        vm.stop()
        broker.stop()
        broker.cleanup()
