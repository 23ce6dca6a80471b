"""The shared MQTT connection: paho reconnects after waits drawn from the one backoff policy, and a
connection the broker accepts starts the count again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from telediag.config import MqttSettings
from telediag.mqtt_client import MqttClient
from tests.integration.harness import free_port
from tests.telediag.mqtt.broker import Mosquitto


def attempts_within(seconds: float, rand: Callable[[], float], port: int, **settings: float) -> int:
    """How many times a client gave up connecting to ``port`` (nobody listens) within ``seconds``."""
    client = MqttClient(MqttSettings(host="127.0.0.1", port=port, **settings), "telediag-test", manual_ack=False,
                        rand=rand)
    client.start()
    try:
        time.sleep(seconds)
        return client.failures
    finally:
        client.stop()


def test_the_waits_between_attempts_come_from_the_backoff() -> None:
    port = free_port()  # nothing listens there: every attempt is refused at once
    # the ceiling stays at 0.25 s; drawing close to it gives about four attempts a second
    slow = attempts_within(1.0, lambda: 0.99, port, reconnect_min_s=0.25, reconnect_max_s=0.25)
    assert 2 <= slow <= 6, slow
    # drawing 0 leaves no wait at all
    fast = attempts_within(0.5, lambda: 0.0, port, reconnect_min_s=0.25, reconnect_max_s=0.25)
    assert fast > 3 * slow, (fast, slow)


def test_a_connection_the_broker_accepts_starts_the_count_again(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    settings = MqttSettings(host="127.0.0.1", port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.1)
    client = MqttClient(settings, "telediag-test", manual_ack=False)
    client.start()
    try:
        deadline = time.monotonic() + 5
        while client.failures < 2:
            assert time.monotonic() < deadline, "no failed attempts while the broker is away"
            time.sleep(0.01)
        broker.start()
        while not client.is_connected():
            assert time.monotonic() < deadline + 5, "no connection once the broker is up"
            time.sleep(0.01)
        assert client.failures == 0
    finally:
        client.stop()
        broker.cleanup()
