"""The ``mosquitto`` fixture (a real broker on a free port) for the plain pytest tests here."""

from tests.telediag.mqtt.broker import mosquitto  # noqa: F401
