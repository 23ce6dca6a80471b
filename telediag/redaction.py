"""Personal data inside free text: masked for the roles that must not see it.

Key-based filtering (``telediag.api.policy``) removes a ``phone`` field; it cannot see the phone
number a customer typed into a ticket ("call me on +48 600 100 200, truck WX 1234A"), nor the plate
an automatic ticket names in its title. For technical and IT staff the texts of a ticket pass through
:func:`mask_text` with the personal data of its account: plates become the device they belong to
(what staff work with), contact names, e-mail addresses, phone numbers and MSISDN-like digit runs
become placeholders. Device identifiers (IMEIs, ICCIDs), dates and times stay readable.

Pure: the caller loads :class:`PersonalData` (``telediag.registry.repository.personal_data``); the policy
(``telediag.api.policy``) decides who gets masked text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

EMAIL_MASK = "[e-mail removed]"
NAME_MASK = "[name removed]"
NUMBER_MASK = "[number removed]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_NUMBER = re.compile(r"(?<![\w+])\+?\(?\d(?:[\d\s\-()]{0,24}\d)?(?![\w])")
"""A run of digits with the separators people write phone numbers with (spaces, dashes, brackets)."""
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")

MIN_PHONE_DIGITS = 7
"""Shorter runs are counts, amounts and cell ids; 7 digits is the shortest subscriber number."""
MAX_PHONE_DIGITS = 15
"""E.164's longest number; longer runs are ICCIDs and other device identifiers."""


@dataclass(frozen=True)
class PersonalData:
    """What of an account is personal: plates (with the device each names), names and numbers."""

    plates: Mapping[str, str] = field(default_factory=dict)
    """Vehicle plate -> the IMEI of the device in that vehicle."""
    names: frozenset[str] = frozenset()
    device_ids: frozenset[str] = frozenset()
    """IMEIs that must stay readable even though they look like long phone numbers."""


def _plate_pattern(plate: str) -> re.Pattern[str] | None:
    """The plate as people type it: any case, with or without the spaces and dashes."""
    characters = [c for c in plate if c.isalnum()]
    if len(characters) < 2:
        return None
    body = r"[\s\-]?".join(re.escape(c) for c in characters)
    return re.compile(rf"(?<![\w]){body}(?![\w])", re.IGNORECASE)


def _is_device_id(digits: str, personal: PersonalData) -> bool:
    """A known device, or any 15-digit run with a valid Luhn check digit (an IMEI, not a person)."""
    if digits in personal.device_ids:
        return True
    if len(digits) != 15:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask_text(text: str, personal: PersonalData) -> str:
    """``text`` with the account's plates, names, e-mails and phone-like numbers masked."""
    if not text:
        return text
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _TIMESTAMP.sub(keep, text.replace("\x00", ""))
    text = _EMAIL.sub(EMAIL_MASK, text)
    for plate, imei in sorted(personal.plates.items(), key=lambda item: -len(item[0])):
        pattern = _plate_pattern(plate)
        if pattern is not None:
            text = pattern.sub(f"device {imei}", text)
    for name in sorted(personal.names, key=len, reverse=True):
        if len(name.strip()) >= 3:
            text = re.sub(rf"(?<!\w){re.escape(name.strip())}(?!\w)", NAME_MASK, text, flags=re.IGNORECASE)

    def number(match: re.Match[str]) -> str:
        found = match.group(0)
        digits = "".join(c for c in found if c.isdigit())
        if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS or _is_device_id(digits, personal):
            return found
        return NUMBER_MASK

    text = _NUMBER.sub(number, text)
    return _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
