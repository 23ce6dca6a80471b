"""Support mail as the desk needs it: who wrote, about what, which ticket it answers, which devices it
names, what was attached. Pure: bytes in, an :class:`Incoming` out.

The text is the first ``text/plain`` part (else the ``text/html`` part with its tags removed), with the
quoted history of a reply (``>`` lines, and everything after an ``On ... wrote:`` line) left out, so a
comment holds what the person wrote now. Attachments are kept by name only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from email.utils import getaddresses

TICKET_TAG = re.compile(r"\[#([1-9][0-9]{0,17})\]")
"""``[#42]`` in a subject: the message answers ticket 42 (the ASCII digits only, like the API's ids)."""
IMEI_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{15})(?![0-9])")
_QUOTE_HEADER = re.compile(
    r"^(on .{0,200} wrote:|.{0,200} написал\(а\)?:|.{0,200} skrev:|.{0,200} napisał\(a\)?:"
    r"|-----original message-----)$",
    re.IGNORECASE)
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_PLATE_CHARACTERS = re.compile(r"[^0-9A-Za-zА-Яа-яЁё]")
MAX_ATTACHMENT_NAMES = 50


@dataclass(frozen=True)
class Incoming:
    """One support message."""

    sender: str
    """The ``From`` address, lower-cased ('' when there is none that parses)."""
    subject: str
    text: str
    ticket_id: int | None
    """The ticket a ``[#id]`` in the subject names."""
    attachments: tuple[str, ...]
    message_id: str | None
    automatic: bool
    """Sent by a machine (RFC 3834 ``Auto-Submitted``, a bulk or list ``Precedence``, a bounce): never
    answered, so two robots never write to each other for ever."""


def parse_message(raw: bytes, max_chars: int) -> Incoming:
    """Read a whole RFC 5322 message; the text is cut to ``max_chars`` (with a note saying so)."""
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    addresses = getaddresses([str(message.get("From", ""))])
    sender = addresses[0][1].strip().lower() if addresses and "@" in addresses[0][1] else ""
    subject = " ".join(str(message.get("Subject", "")).split())[:300]
    tag = TICKET_TAG.search(subject)
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError):  # an unknown charset or a broken encoding: read what decodes
            payload = body.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        text = _from_html(content) if body.get_content_type() == "text/html" else str(content)
    text = without_quotes(text)
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "\n[…]"
    names = [part.get_filename() or "" for part in message.iter_attachments()]
    attachments = tuple(" ".join(name.split())[:200] for name in names if name.strip())[:MAX_ATTACHMENT_NAMES]
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    automatic = (auto != "no" or precedence in ("bulk", "list", "junk") or not sender
                 or sender.startswith(("mailer-daemon@", "postmaster@")) or "List-Id" in message)
    message_id = str(message.get("Message-ID", "")).strip() or None
    return Incoming(sender, subject, text, int(tag[1]) if tag else None, attachments, message_id, automatic)


def _from_html(content: str) -> str:
    text = re.sub(r"<br\s*/?>|</p>|</div>|</li>", "\n", content, flags=re.IGNORECASE)
    return html.unescape(_TAGS.sub("", text))


def without_quotes(text: str) -> str:
    """The text without the quoted message a reply carries, and without trailing blank lines."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_HEADER.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def imeis_in(text: str) -> set[str]:
    """Fifteen-digit numbers standing alone: IMEIs the person named."""
    return set(IMEI_IN_TEXT.findall(text))


def plate_key(plate: str) -> str:
    """A plate as compared: letters and digits only, upper case (``wx 123-45`` is ``WX12345``)."""
    return _PLATE_CHARACTERS.sub("", plate).upper()


def devices_named(text: str, devices: Iterable[tuple[str, str | None]]) -> list[str]:
    """IMEIs of ``devices`` (``(imei, plate)``) that ``text`` names by IMEI or by plate (a plate counts
    as a whole word, spaces and dashes inside it as people type them)."""
    imeis = imeis_in(text)
    words = " " + " ".join(plate_key(word) for word in re.split(r"[\s,;:()\[\]\"'.!?/]+", text) if word) + " "
    squeezed = plate_key(text)
    found: list[str] = []
    for imei, plate in devices:
        key = plate_key(plate or "")
        if imei in imeis or (len(key) >= 4 and (f" {key} " in words or _spaced_plate(plate or "", text, squeezed))):
            found.append(imei)
    return sorted(set(found))


def _spaced_plate(plate: str, text: str, squeezed: str) -> bool:
    """A plate written with spaces or dashes (``WX 12345``) in the text, as a whole word."""
    parts = [p for p in re.split(r"[\s-]+", plate.strip()) if p]
    if len(parts) < 2 or plate_key(plate) not in squeezed:
        return False
    pattern = r"(?<![0-9A-Za-z])" + r"[\s-]*".join(re.escape(p) for p in parts) + r"(?![0-9A-Za-z])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def needed_permission(text: str) -> str:
    """What a contact must be allowed to ask about for this message: ``billing`` when it speaks of
    the contract, plans or invoices, ``technical`` (the trackers and the service) otherwise."""
    lowered = text.lower()
    return "billing" if any(word in lowered for word in BILLING_WORDS) else "technical"


BILLING_WORDS: Mapping[str, None] = dict.fromkeys((
    "invoice", "billing", "payment", "refund", "contract", "price", "subscription",
    "faktura", "płatność", "platnosc", "umowa", "abonament",
    "счёт", "счет", "оплат", "договор", "тариф", "возврат",
    "betalning", "avtal", "abonnemang", "återbetalning",
))
"""Words of contract and money questions in the console's languages (stems where words inflect)."""
