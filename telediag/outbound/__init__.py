"""What leaves the service after a commit: webhooks, MQTT out and the InfluxDB export.

Each reads what it sends from the store (the outbox rows a ticket change wrote in its own
transaction, the records table for the export) and only ever tells the outside world about what is
committed. They share one backoff policy (:mod:`telediag.outbound.backoff`).
"""
