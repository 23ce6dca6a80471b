"""The sections of server commands: ``[commands]`` (the per-device queue, its delivery and the proof
that a fix sent from a ticket took) and ``[sms]`` (the HTTP SMS gateway commands fall back to).

The queue works with no set-up; the SMS fallback is off until ``[sms] url`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telediag.config.schema import Positive, PositiveInt, Section, check_http_url


@dataclass(frozen=True)
class CommandsConfig(Section):
    """The ``[commands]`` section."""

    poll_interval_s: Positive = 1.0
    """How often each ingest process looks for queued commands of the devices connected to it (and
    marks expired ones): a command reaches a connected device within about this long."""
    batch: PositiveInt = 50
    """At most this many commands in flight per ingest process (one per device at a time)."""
    answer_timeout_s: Positive = 30.0
    """How long a written command waits for the device's answer before it counts as failed."""
    default_expires_in_s: Positive = 86400.0
    min_expires_in_s: Positive = 10.0
    max_expires_in_s: Positive = 7 * 86400.0
    """Bounds of ``expires_in_s``: a command nobody could deliver in this time is marked expired."""
    max_text_chars: PositiveInt = 160
    """One SMS worth: every channel can carry a command this long."""
    max_waiting_per_device: PositiveInt = 20
    """Queued commands one device may have; past it a new one is refused (409)."""
    proof_window_s: Positive = 3600.0
    """How long after a fix is sent from a ticket the proof that it took may arrive."""
    proof_interval_s: Positive = 10.0
    """How often fixes waiting for proof are looked at."""

    def check(self) -> None:
        if not self.min_expires_in_s <= self.default_expires_in_s <= self.max_expires_in_s:
            raise ValueError("default_expires_in_s must lie between min_expires_in_s and max_expires_in_s")


@dataclass(frozen=True)
class SmsConfig(Section):
    """The ``[sms]`` section: an HTTP SMS gateway taking ``{"msisdn", "text"}`` as a JSON POST. No
    ``url`` (the default) means no SMS is ever sent."""

    url: str = ""
    token_header: str = "Authorization"
    """The header carrying ``token`` (e.g. ``Authorization`` with ``Bearer ...``, or ``X-Api-Key``)."""
    token: str = field(default="", repr=False)
    timeout_s: Positive = 10.0
    """One POST, from connecting to the gateway's answer."""
    delay_s: Positive = 300.0
    """A command still queued this long after it was asked for (its device did not connect) goes by SMS."""
    poll_interval_s: Positive = 5.0
    max_attempts: PositiveInt = 5
    """Failed POSTs of one command before the SMS is given up (the command stays queued for TCP)."""
    backoff_initial_s: Positive = 5.0
    backoff_max_s: Positive = 600.0

    @property
    def enabled(self) -> bool:
        """Whether there is a gateway to send through."""
        return bool(self.url)

    def check(self) -> None:
        if self.url:
            check_http_url("url", self.url)
        if not self.token_header or not self.token_header.isascii() or not all(
                c.isalnum() or c == "-" for c in self.token_header):
            raise ValueError(f"token_header must be an HTTP header name, got {self.token_header!r}")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be smaller than backoff_initial_s")
