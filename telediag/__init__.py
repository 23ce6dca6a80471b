"""telediag: ingest GPS tracker protocols, store the records, diagnose misbehaving devices."""

__version__ = "0.1.0"
