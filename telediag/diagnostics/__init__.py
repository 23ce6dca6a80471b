"""Diagnostics: what the data says about each device (connectivity, and more to come)."""
