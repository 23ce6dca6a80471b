"""Incident tickets: model, SLA calendar, lifecycle, correlation, notifications."""
