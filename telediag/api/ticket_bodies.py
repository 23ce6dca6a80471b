"""Bodies of the ticket endpoints, checked before anything is stored.

Every problem of a body is reported at once (400 ``invalid_ticket`` with ``details``); a list longer
than the desk takes is a 413. Pure: dicts in, values or ``ApiError`` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from telediag.api.errors import invalid_items, too_many_items
from telediag.api.params import IMEI
from telediag.tickets.desk import MAX_DEVICES_PER_TICKET
from telediag.tickets.model import RATINGS, STATES

TEXT_MAX_CHARS = 10_000
"""Descriptions, comments and state-change notes: ten thousand characters is several printed pages,
more than any report of a tracker problem; longer texts are pasted logs or abuse, which would then be
stored, mailed to webhooks and shown on every page of the ticket."""
TITLE_MAX_CHARS = 200
"""A title is one line in ticket lists."""
REASON_MAX_CHARS = 2_000
"""The reason given with a rating: a paragraph."""

_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters other than tab and line breaks: never typed, and NUL cuts texts in some readers."""


@dataclass(frozen=True)
class NewTicket:
    """``POST /tickets``."""

    devices: list[str]
    description: str
    title: str | None


@dataclass(frozen=True)
class StateChange:
    """``PATCH /tickets/{id}``."""

    state: str
    text: str | None


@dataclass(frozen=True)
class Closing:
    """``POST /tickets/{id}/close``."""

    rating: str
    reason: str | None


def _unknown(body: dict[str, Any], known: tuple[str, ...], problems: list[str]) -> None:
    unknown = sorted(str(key)[:40] for key in set(body) - set(known))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown[:10])}; this endpoint takes: {', '.join(known)}")


def _text(body: dict[str, Any], key: str, problems: list[str], *, required: bool, limit: int,
          one_line: bool = False) -> str | None:
    """A string field: present when required, not blank, at most ``limit`` characters, no control characters."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{key} must be a non-empty string")
        return None
    if len(value) > limit:
        problems.append(f"{key} is {len(value)} characters long; at most {limit} are allowed")
        return None
    if (_CONTROL_ONE_LINE if one_line else _CONTROL_TEXT).search(value):
        kind = "control characters or line breaks" if one_line else "control characters"
        problems.append(f"{key} must not contain {kind}")
        return None
    return value


def _choice(body: dict[str, Any], key: str, choices: tuple[str, ...], problems: list[str]) -> str | None:
    value = body.get(key)
    if not isinstance(value, str) or value not in choices:
        shown = repr(value)[:40]
        problems.append(f"{key} {shown} must be one of {', '.join(choices)}")
        return None
    return value


def _checked(problems: list[str]) -> None:
    if problems:
        raise invalid_items("ticket", problems)


def new_ticket(body: dict[str, Any]) -> NewTicket:
    """``{"devices": [imei, ...], "description": "...", "title": optional}``."""
    problems: list[str] = []
    _unknown(body, ("devices", "description", "title"), problems)
    description = _text(body, "description", problems, required=True, limit=TEXT_MAX_CHARS)
    title = _text(body, "title", problems, required=False, limit=TITLE_MAX_CHARS, one_line=True)
    devices = body.get("devices", [])
    if not isinstance(devices, list):
        problems.append("devices must be a list of IMEIs (JSON strings of 14-17 digits)")
        devices = []
    elif len(devices) > MAX_DEVICES_PER_TICKET:
        raise too_many_items("devices", MAX_DEVICES_PER_TICKET)
    for number, imei in enumerate(devices, start=1):
        if not isinstance(imei, str) or not IMEI.fullmatch(imei):
            problems.append(f"devices[{number}] {repr(imei)[:40]} must be an IMEI: a JSON string of 14-17 digits")
    _checked(problems)
    assert description is not None
    return NewTicket(list(devices), description, title)


def state_change(body: dict[str, Any]) -> StateChange:
    """``{"state": ..., "text": optional}``."""
    problems: list[str] = []
    _unknown(body, ("state", "text"), problems)
    state = _choice(body, "state", STATES, problems)
    text = _text(body, "text", problems, required=False, limit=TEXT_MAX_CHARS)
    _checked(problems)
    assert state is not None
    return StateChange(state, text)


def comment(body: dict[str, Any]) -> str:
    """``{"text": ...}``."""
    problems: list[str] = []
    _unknown(body, ("text",), problems)
    text = _text(body, "text", problems, required=True, limit=TEXT_MAX_CHARS)
    _checked(problems)
    assert text is not None
    return text


def closing(body: dict[str, Any]) -> Closing:
    """``{"rating": "good"|"none"|"bad", "reason": optional}`` (the desk requires a reason for "bad")."""
    problems: list[str] = []
    _unknown(body, ("rating", "reason"), problems)
    rating = _choice(body, "rating", RATINGS, problems)
    reason = _text(body, "reason", problems, required=False, limit=REASON_MAX_CHARS)
    _checked(problems)
    assert rating is not None
    return Closing(rating, reason)
