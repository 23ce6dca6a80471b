"""Simulated trackers: vehicles on synthetic routes speaking real protocols to a telediag server."""
