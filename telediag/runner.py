"""Run the service in the foreground: logging, reactor, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from telediag.config import Config


def start_logging(level: str) -> None:
    """Log lines to stderr at ``level`` and above."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run_service(config: Config, log_level: str = "info") -> int:
    """Start the service and run the reactor; SIGTERM stops it after a final commit."""
    from twisted.internet import reactor

    from telediag.service import IngestService

    start_logging(log_level)
    service = IngestService(config, reactor)
    status = {"code": 0}

    def failed(failure: object) -> None:
        status["code"] = 1
        print(f"telediag: cannot start: {getattr(failure, 'value', failure)}", file=sys.stderr)
        reactor.stop()

    def start() -> None:
        try:
            service.startService()
        except Exception as error:  # unusable data directory, corrupt store, ...
            failed(error)
            return
        service.ready.addErrback(failed)

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return status["code"]
