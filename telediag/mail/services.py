"""The Twisted services of e-mail, for the composition root (``telediag.app``):

    mail-out       the mail outbox sent through ``[mail]``             (when ``[mail] host`` is set)
    notifications  the rules applied on the injected clock            (when ``[mail] host`` is set)
    mail-in        the support mail listener of ``[mail_intake]``     (when ``listen`` is set)

All three run once per deployment (the elected group): the rules' sweep and the sender each keep one
thread and connection, and the operator's mail system forwards to one listener.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from telediag.config import Config
from telediag.mail.intake import Intake
from telediag.mail.listener import IntakeService
from telediag.mail.notify import Notifier, Pseudonym, event_notifier
from telediag.mail.sender import MailSender
from telediag.store.database import Database
from telediag.store.worker import database_worker
from telediag.tickets.desk import Findings, SelfCheck, TicketDesk
from telediag.tickets.lifecycle import Notify


def ticket_notify(config: Config, inner: Notify | None) -> Notify | None:
    """The ticket lifecycle's ``notify`` with ticket events queued for the notification rules when
    mail is configured (``inner`` alone otherwise, so nothing piles up that nobody sends)."""
    return event_notifier(inner) if config.mail.enabled else inner


class NotificationService(Service):
    """Runs :meth:`Notifier.sweep` every ``sweep_interval_s`` on its own thread, then wakes the sender."""

    log = Logger()

    def __init__(self, reactor: Any, database: Database, notifier: Notifier, interval_s: float,
                 sender: MailSender | None = None, clock: Any = None) -> None:
        self.clock = clock or reactor
        self.notifier = notifier
        self.interval_s = interval_s
        self.sender = sender
        self.worker = database_worker(reactor, database, "telediag-notifications")
        self.queued = 0
        self._loop = LoopingCall(self.sweep)
        self._loop.clock = self.clock

    def startService(self) -> None:
        Service.startService(self)
        self._loop.start(self.interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        if self._loop.running:
            self._loop.stop()
        return self.worker.stop()

    def sweep(self) -> defer.Deferred[int]:
        """Apply the rules now; fires with the messages queued (0 after a logged failure)."""
        now = self.clock.seconds()
        done = self.worker.run(self.notifier.sweep, now)

        def queued(count: int) -> int:
            self.queued += count
            if count and self.sender is not None and self.sender.running:
                self.sender.send_now()
            return count

        def failed(failure: Any) -> int:
            self.log.failure("notification sweep failed", failure)
            return 0

        return done.addCallbacks(queued, failed)


def _installation_pseudonym(config: Config) -> Pseudonym:
    """The API's pseudonymiser, its secret read on the first message (the data directory is made when
    the store starts, after the tree is built)."""
    from telediag.api.pseudonyms import Pseudonymiser, load_or_create_secret

    loaded: list[Pseudonym] = []

    def account(name: str) -> str:
        if not loaded:
            loaded.append(Pseudonymiser(load_or_create_secret(config.store.data_dir)).account)
        return loaded[0](name)

    return account


def mail_services(
    config: Config, reactor: Any, database: Database, desk: TicketDesk, selfcheck: SelfCheck,
    findings: Findings, pseudonym: Pseudonym | None = None, clock: Any = None,
) -> list[tuple[str, Service]]:
    """``(name, service)`` pairs for what ``config`` turns on, in start order (possibly none).

    ``selfcheck`` and ``findings`` are the diagnostics view's (as the API files tickets with), called
    on the intake thread; ``pseudonym`` names accounts to the technical and IT teams (the API's
    pseudonymiser by default).
    """
    services: list[tuple[str, Service]] = []
    sender = None
    if config.mail.enabled:
        if pseudonym is None:
            pseudonym = _installation_pseudonym(config)
        sender = MailSender(reactor, database, config.mail, clock=clock)
        notifier = Notifier(config.notifications, config.mail, pseudonym)
        services.append(("mail-out", sender))
        services.append(("notifications", NotificationService(
            reactor, database, notifier, config.notifications.sweep_interval_s, sender, clock=clock)))
    if config.mail_intake.enabled:
        intake = Intake(desk, config.mail, selfcheck, findings)
        services.append(("mail-in", IntakeService(reactor, database, config.mail_intake, intake, clock=clock)))
    return services
