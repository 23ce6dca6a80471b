"""Names ``telediag.web`` imports from here; the service tree itself is built by :mod:`telediag.app`."""

from telediag.app import LISTENING_FILE, build_desk

__all__ = ["LISTENING_FILE", "build_desk"]
