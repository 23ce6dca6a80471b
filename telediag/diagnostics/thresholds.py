"""The diagnostic thresholds: the ``[diagnostics]`` schema, with every default, is
:class:`telediag.config.diagnostics.Thresholds`; it is named here too, where the checks' readers look."""

from telediag.config.diagnostics import Thresholds

__all__ = ["Thresholds"]
