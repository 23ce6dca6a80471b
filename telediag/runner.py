"""Run the service in the foreground: logging, reactor, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sys
from typing import Any, cast

from twisted.internet.error import ReactorNotRunning
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from telediag.config import Config


def start_logging(level: str, system: str | None = None) -> None:
    """Log lines to stderr at ``level`` and above; ``system`` names the process at the start of each
    line's brackets (``[worker 1 telediag.store.service.StoreService#info]``)."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    text = textFileLogObserver(sys.stderr)
    if system is None:
        observer = FilteringLogObserver(text, [predicate])
    else:
        def named(event: LogEvent) -> None:
            own = event.get("log_system")
            if own is None:
                level = event.get("log_level")
                own = f"{system} {event.get('log_namespace', '-')}#{level.name if level else '-'}"
            elif own == "-":
                own = system
            text({**event, "log_system": own})

        observer = FilteringLogObserver(cast(ILogObserver, named), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def stop_reactor(reactor: Any) -> None:
    """Stop the reactor unless it is already stopping (a second request is not an error)."""
    try:
        reactor.stop()
    except ReactorNotRunning:
        pass


def stop_on_signals(reactor: Any, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """SIGINT and SIGTERM (or ``signals``) stop the reactor once; a second signal while it stops is not
    an error.

    Ctrl-C in a terminal signals the whole process group, and a wrapper script then often sends
    SIGTERM as well: Twisted's own handlers would call ``reactor.stop()`` twice and print a
    ``ReactorNotRunning`` traceback. Call this from ``callWhenRunning`` (after Twisted installed its
    handlers, which these replace for the two signals only).
    """
    def handler(number: int, frame: Any) -> None:
        reactor.callFromThread(stop_reactor, reactor)

    for number in signals:
        signal.signal(number, handler)


def run_service(config: Config, log_level: str = "info") -> int:
    """Start the service tree and run the reactor; SIGTERM stops it after a final commit. Exit status 1
    when it could not start or stopped itself (a worker that keeps dying, a lost election lock).

    ConfigError (before anything starts) when the config asks for what this version cannot run.
    """
    from twisted.internet import reactor

    from telediag.app import makeService

    service = makeService(config, reactor, log_level)
    start_logging(log_level)
    status = {"code": 0}

    def failed(failure: object) -> None:
        status["code"] = 1
        print(f"telediag: cannot start: {getattr(failure, 'value', failure)}", file=sys.stderr)
        stop_reactor(reactor)

    service.ready.addErrback(failed)
    reactor.callWhenRunning(stop_on_signals, reactor)
    reactor.callWhenRunning(service.startService)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 1 if service.failure is not None else status["code"]
