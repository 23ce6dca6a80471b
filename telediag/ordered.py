"""A ``MultiService`` whose children stop one at a time, the last started first.

Twisted's ``MultiService.stopService`` calls every child's ``stopService`` at once, which would let
the store close while a listener still hands it records; here each child's stop finishes before the
next one begins. The service root, the elected group and an ingest worker's tree all stop this way.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.logger import Logger


class OrderedService(MultiService):
    """Children start in the order they were added and stop in the reverse order, one at a time."""

    log = Logger()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Stop the running children one at a time, the last started first."""
        Service.stopService(self)
        yield stop_in_reverse(self)


@defer.inlineCallbacks
def stop_in_reverse(parent: MultiService) -> Any:
    """Stop ``parent``'s running children, the last first, each after the one before finished;
    a child whose stop fails is logged and the rest still stop."""
    for child in reversed(list(parent)):
        if not child.running:
            continue
        try:
            yield child.stopService()
        except Exception:
            OrderedService.log.failure("stopping {name} failed; stopping the rest", name=child.name)
