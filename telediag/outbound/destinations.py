"""Where ticket events go: one outbox row per webhook URL, and one for MQTT out when it publishes.

The ticket lifecycle queues them inside the change's own transaction; each sender reads its rows
only after the commit, so a change that rolls back is never announced.
"""

from __future__ import annotations

from telediag.config import MqttSettings, WebhookConfig
from telediag.tickets import outbox
from telediag.tickets.lifecycle import Notify


def ticket_destinations(webhooks: WebhookConfig, mqtt: MqttSettings) -> tuple[str, ...]:
    """Every configured webhook URL, then MQTT out's destination when it publishes."""
    return webhooks.urls + ((outbox.MQTT,) if mqtt.publish_enabled else ())


def ticket_notifier(webhooks: WebhookConfig, mqtt: MqttSettings) -> Notify | None:
    """The lifecycle's ``notify``: queue each event for every destination (None when there is none)."""
    return outbox.notifier(ticket_destinations(webhooks, mqtt))
