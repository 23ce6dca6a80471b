"""SIM and network events as a mobile operator's connectivity platform reports them.

Schema (one JSON object, a list of them, a JSON line, or a CSV row with these columns):

| field | meaning |
|---|---|
| ``at`` | ISO 8601 time of the event (required; UTC if no zone) |
| ``type`` | ``attach``, ``attach_reject``, ``location_update``, ``pdp_create``, ``pdp_reject``, ``pdp_delete`` |
| ``iccid``, ``imei`` | the SIM and/or the device (at least one) |
| ``cause`` | 3GPP cause code (EMM cause for attach rejects, e.g. 11/13/14; SM cause for PDP, e.g. 27/29/33) or null |
| ``apn`` | the APN the device asked for (PDP events) |
| ``mcc``, ``mnc`` | the network the SIM is on (roaming when it is not the home network) |
| ``rat`` | radio access type as reported (``2G``, ``3G``, ``4G``, ``5G``, ``LTE-M``, ``NB-IoT``, ...) |

Pure: parsing and checking only. Every problem of an event is reported at once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from typing import Any

from protocols.record import parse_iso_utc
from telediag.problems import Problems

EVENT_TYPES = ("attach", "attach_reject", "location_update", "pdp_create", "pdp_reject", "pdp_delete")
FIELDS = ("iccid", "imei", "at", "type", "cause", "apn", "mcc", "mnc", "rat")
_IMEI = re.compile(r"[0-9]{14,17}")
_ICCID = re.compile(r"[0-9]{18,22}F?")
_WHOLE = re.compile(r"[+-]?[0-9]+")
"""A whole number as text: ASCII digits only (``int()`` would also take ``1_0`` and Arabic-Indic digits)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

CAUSE_MIN, CAUSE_MAX = 0, 255
"""3GPP cause codes (EMM causes, TS 24.301 section 9.9.3.9; SM causes, TS 24.008 section 10.5.6.6) are one octet."""
MCC_MIN, MCC_MAX = 200, 799
"""ITU-T E.212: the serving network's mobile country code is a geographic one, 200-799."""
MNC_MIN, MNC_MAX = 0, 999
"""ITU-T E.212: a mobile network code has two or three decimal digits."""
APN_MAX_CHARS = 100
"""3GPP TS 23.003 section 9.1: an APN is at most 100 octets."""
RAT_MAX_CHARS = 16
"""Radio access types are short names (``2G``, ``LTE-M``, ``NB-IoT``)."""
AT_MIN = 946_684_800.0
"""2000-01-01T00:00:00Z: no operator platform reports events of this fleet from before."""
AT_MAX = 4_102_444_800.0
"""2100-01-01T00:00:00Z: the upper bound when no clock is given."""
AT_MAX_AHEAD_S = 86_400.0
"""With a clock (the API), an event may lie at most a day ahead of it: operator clocks drift and time
zones get mislabelled, but a later time is an error that would sort the event after everything real."""


class InvalidEvent(Problems):
    """An event with problems; ``problems`` lists each in plain words."""


@dataclass(frozen=True)
class ConnectivityEvent:
    """One checked event; times are epoch seconds (UTC)."""

    at: float
    type: str
    iccid: str | None = None
    imei: str | None = None
    cause: int | None = None
    apn: str | None = None
    mcc: int | None = None
    mnc: int | None = None
    rat: str | None = None

    @property
    def digest(self) -> bytes:
        """Identity of the event's content: importing the same feed twice stores it once."""
        return hashlib.blake2b(repr(astuple(self)).encode(), digest_size=12).digest()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shown(value: Any, limit: int = 40) -> str:
    """A value quoted for a problem message, cut so a huge input does not come back whole."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _integer(raw: Mapping[str, Any], key: str, low: int, high: int, problems: list[str]) -> int | None:
    value = raw.get(key)
    if _blank(value):
        return None
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():  # finite: NaN and infinity are not integers
        number = int(value)
    else:
        problems.append(f"{key} {_shown(value)} must be a whole number")
        return None
    if not low <= number <= high:
        problems.append(f"{key} {_shown(number)} must be between {low} and {high}")
        return None
    return number


def _string(raw: Mapping[str, Any], key: str, problems: list[str], limit: int = 64) -> str | None:
    value = raw.get(key)
    if _blank(value):
        return None
    if not isinstance(value, str):
        what = "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else "not text"
        problems.append(f"{key} must be text (a JSON string), got {what}: {_shown(value)}")
        return None
    text = value.strip()
    if len(text) > limit:
        problems.append(f"{key} is {len(text)} characters long; at most {limit} are allowed")
        return None
    if _CONTROL.search(text):
        problems.append(f"{key} {_shown(text)} must not contain control characters")
        return None
    return text


def _time(raw: Mapping[str, Any], now: float | None, problems: list[str]) -> float | None:
    at = raw.get("at")
    if _blank(at) or not isinstance(at, str):
        problems.append("at (ISO 8601 time) is required")
        return None
    try:
        when = parse_iso_utc(at)
    except (ValueError, OverflowError):
        problems.append(f"at {_shown(at)} is not an ISO 8601 time")
        return None
    latest = AT_MAX if now is None else min(AT_MAX, now + AT_MAX_AHEAD_S)
    if not AT_MIN <= when < latest:
        bound = "2099" if now is None else "a day from now"
        problems.append(f"at {_shown(at)} must lie between 2000 and {bound}")
        return None
    return when


def parse_event(raw: Mapping[str, Any], now: float | None = None) -> ConnectivityEvent:
    """Check one event; raise InvalidEvent listing every problem.

    ``now`` (epoch seconds), when given, also refuses events more than a day in the future.
    """
    if not isinstance(raw, Mapping):
        raise InvalidEvent(["an event must be a JSON object"])
    problems: list[str] = []
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        shown = ", ".join(_shown(name) if len(name) > 40 else name for name in unknown[:10])
        problems.append(f"unknown field(s) {shown}; known: {', '.join(FIELDS)}")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        problems.append(f"type {_shown(kind)} must be one of {', '.join(EVENT_TYPES)}")
    when = _time(raw, now, problems)
    iccid = _string(raw, "iccid", problems)
    imei = _string(raw, "imei", problems)
    if iccid is not None and not _ICCID.fullmatch(iccid.upper()):
        problems.append(f"iccid {_shown(iccid)} must be 18-22 digits")
    if imei is not None and not _IMEI.fullmatch(imei):
        problems.append(f"imei {_shown(imei)} must be 14-17 digits")
    if iccid is None and imei is None and _blank(raw.get("iccid")) and _blank(raw.get("imei")):
        problems.append("give the iccid or the imei (or both)")
    cause = _integer(raw, "cause", CAUSE_MIN, CAUSE_MAX, problems)
    mcc = _integer(raw, "mcc", MCC_MIN, MCC_MAX, problems)
    mnc = _integer(raw, "mnc", MNC_MIN, MNC_MAX, problems)
    apn = _string(raw, "apn", problems, limit=APN_MAX_CHARS)
    rat = _string(raw, "rat", problems, limit=RAT_MAX_CHARS)
    if problems:
        raise InvalidEvent(problems)
    assert when is not None and isinstance(kind, str)
    return ConnectivityEvent(
        at=when, type=kind, iccid=iccid.upper() if iccid else None, imei=imei, cause=cause,
        apn=apn, mcc=mcc, mnc=mnc, rat=rat,
    )
