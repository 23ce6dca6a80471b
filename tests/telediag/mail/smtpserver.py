"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 on a free port, keeping what arrives."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Arrived:
    """One message as the server received it."""

    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """aiosmtpd's handler: answers each DATA with the next queued answer (250 when none)."""

    answers: list[str] = field(default_factory=list)
    arrived: list[Arrived] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
            message = message_from_bytes(envelope.content, policy=default)
            assert isinstance(message, EmailMessage)
            self.arrived.append(Arrived(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def take(self) -> list[Arrived]:
        """What arrived since the last call."""
        with self.lock:
            arrived, self.arrived = self.arrived, []
        return arrived


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``port`` and ``inbox`` for the test."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
