"""``python -m telediag``: the same as the ``telediag`` command."""

from telediag.cli import run

run()
