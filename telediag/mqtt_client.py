"""The one MQTT client setup both directions share: ingest (``telediag.ingest.mqtt``) and MQTT out
(``telediag.outbound.mqtt``) each open their own connection with it, so a session, credentials and
reconnection behave the same on both.
"""

from __future__ import annotations

from paho.mqtt.client import Client, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion

from telediag.config import MqttSettings


def new_client(settings: MqttSettings, client_id: str, manual_ack: bool) -> Client:
    """A paho client with a persistent session and the configured credentials and backoff."""
    client = Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, protocol=MQTTv311,
        manual_ack=manual_ack,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)  # type: ignore[arg-type]
    return client
