"""``twistd telediag``: the same service tree as ``telediag serve`` (:func:`telediag.app.makeService`),
with twistd in charge of logging, the pid file and running in the background.

    twistd -n telediag [--config FILE] [--data-dir DIR]

A bad configuration is a usage error before anything starts. A service that cannot start (a port in
use, an unusable data directory) logs why and stops the reactor, so twistd exits; so does a node that
stops itself (an ingest worker that keeps dying, a lost election lock), with a critical log line.
With ``[ingest] workers`` > 1 the worker processes write their log lines to the standard error
twistd was started with: run it in the foreground (``-n``, as the container does) to keep them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.logger import Logger
from twisted.python import usage

from telediag import app
from telediag.config import Config, ConfigError, check_available, load_config
from telediag.runner import stop_reactor

log = Logger()


class Options(usage.Options):
    """The options of ``telediag serve`` that choose the config."""

    optParameters = [
        ["config", "c", None, "TOML config file (default: embedded defaults)"],
        ["data-dir", "d", None, "data directory (overrides [store] data_dir)"],
    ]

    def postOptions(self) -> None:
        try:
            self.parsed: Config = load_config(
                Path(self["config"]) if self["config"] else None,
                Path(self["data-dir"]) if self["data-dir"] else None,
            )
            check_available(self.parsed)
        except ConfigError as error:
            raise usage.UsageError(f"bad configuration: {error}") from None


def makeService(options: Options) -> app.TelediagService:
    """The service tree; if it cannot start, the reactor stops once it runs."""
    from twisted.internet import reactor

    service = app.makeService(options.parsed, reactor)

    def cannot_start(failure: Any) -> None:
        log.critical("telediag cannot start: {error}", error=failure.value)
        reactor.callWhenRunning(stop_reactor, reactor)

    service.ready.addErrback(cannot_start)
    return service
