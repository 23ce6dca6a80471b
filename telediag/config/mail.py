"""The sections of e-mail: ``[mail]`` (the SMTP server messages leave through), ``[notifications]``
(rules that turn findings and ticket events into messages to people) and ``[mail_intake]`` (the SMTP
listener that turns support mail into tickets).

Everything is off by default: no ``[mail] host`` means nothing is sent, no ``[mail_intake] listen``
means nothing is received.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from telediag.config.schema import NonNegative, NonNegativeInt, Positive, PositiveInt, Section
from telediag.languages import LANGUAGES

TEAMS = ("customer_office", "technical", "it")
"""The staff teams a rule may write to (``[notifications.teams]`` holds their addresses)."""
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
"""A plain ``local@domain`` address (RFC 5321's dot-atom forms; no quoted local parts, no display names)."""


def check_address(key: str, address: str) -> None:
    """ValueError naming ``key`` unless ``address`` is a plain ASCII e-mail address."""
    if not address.isascii() or not ADDRESS.fullmatch(address) or len(address) > 254:
        raise ValueError(f"{key}: {address!r} is not an e-mail address like support@example.com")


@dataclass(frozen=True)
class MailConfig(Section):
    """The ``[mail]`` section: where outgoing messages go. No host (the default) means mail is off:
    nothing is queued, so nothing piles up waiting for a server that was never configured."""

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    require_tls: bool = False
    """STARTTLS is required before anything is sent (always true when a username is set)."""
    sender: str = "telediag@localhost"
    """The ``From`` address and the envelope sender of every message."""
    helo_name: str = "localhost"
    timeout_s: Positive = 30.0
    """One SMTP conversation, from connecting to the server's answer to the message."""
    poll_interval_s: Positive = 2.0
    batch: PositiveInt = 20
    max_attempts: NonNegativeInt = 20
    """A message failing this many times (temporary failures) is given up; 0: retried for ever. A
    permanent refusal (5xx) gives it up at once."""
    backoff_initial_s: Positive = 5.0
    backoff_max_s: Positive = 1800.0
    keep_sent_s: NonNegative = 7 * 86400.0

    @property
    def enabled(self) -> bool:
        """Whether there is a server to send through."""
        return bool(self.host)

    def check(self) -> None:
        if self.host != self.host.strip():
            raise ValueError("host must not have spaces around it")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        if self.password and not self.username:
            raise ValueError("password needs a username")
        check_address("sender", self.sender)
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be smaller than backoff_initial_s")


@dataclass(frozen=True)
class NotificationsConfig(Section):
    """The ``[notifications]`` section: how rules are applied (the rules themselves are in the store,
    managed with ``telediag notifications`` and ``/api/v1/notifications/rules``)."""

    sweep_interval_s: Positive = 15.0
    """How often findings and ticket events are checked against the rules."""
    digest_window_s: Positive = 600.0
    """After a message about an account (or a mass outage), further events of it within this long are
    held and then sent together as one digest."""
    default_timezone: str = "UTC"
    """Quiet hours of a rule without a timezone, for an account whose home country has no zone."""
    default_language: str = "en"
    """Messages to a rule without a language (and to staff teams)."""
    teams: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """Staff team -> its addresses (``[notifications.teams] technical = ["tech@example.com"]``)."""
    console_url: str = ""
    """When set, messages link to the ticket at ``<console_url>/tickets/<id>``."""

    def check(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"default_timezone: {self.default_timezone!r} is not an IANA time zone "
                             "like Europe/Warsaw") from None
        if self.default_language not in LANGUAGES:
            raise ValueError(f"default_language must be one of {', '.join(LANGUAGES)}")
        for team, addresses in self.teams.items():
            if team not in TEAMS:
                raise ValueError(f"teams.{team}: unknown team; known: {', '.join(TEAMS)}")
            for address in addresses:
                check_address(f"teams.{team}", address)
        object.__setattr__(self, "teams", MappingProxyType(dict(self.teams)))
        if self.console_url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.console_url):
            raise ValueError(f"console_url: {self.console_url!r} must be an http:// or https:// URL")


@dataclass(frozen=True)
class MailIntakeConfig(Section):
    """The ``[mail_intake]`` section: the SMTP listener the operator's mail system forwards support
    mail to. Off by default; ``listen = "tcp:2525:interface=127.0.0.1"`` turns it on."""

    listen: str = ""
    """A Twisted endpoint string; empty: no listener."""
    hostname: str = "telediag.localhost"
    """The name the listener greets with."""
    recipients: tuple[str, ...] = ()
    """Addresses accepted in RCPT TO (any when empty: the listener is for the forwarding system only)."""
    max_message_bytes: PositiveInt = 10 * 1024 * 1024
    """Larger messages are refused with 552 (and advertised as ESMTP SIZE)."""
    max_recipients: PositiveInt = 20
    """RCPT TO per message; more are refused with 452."""
    max_connections: PositiveInt = 50
    max_connections_per_address: PositiveInt = 10
    """Open connections in all and from one address; more are answered 421 and closed."""
    idle_timeout_s: Positive = 120.0
    max_body_chars: PositiveInt = 10_000
    """The text kept from a message (a longer one is cut, with a note); a ticket takes at most 20 000."""

    @property
    def enabled(self) -> bool:
        """Whether the listener runs."""
        return bool(self.listen)

    def check(self) -> None:
        if self.listen and not self.listen.startswith(("tcp:", "tcp6:", "unix:")):
            raise ValueError(f"listen: {self.listen!r} must be a TCP endpoint like tcp:2525:interface=127.0.0.1")
        for address in self.recipients:
            check_address("recipients", address)
        if self.max_body_chars > 19_000:
            raise ValueError("max_body_chars must be at most 19000 (the ticket keeps 20000 with the subject)")
