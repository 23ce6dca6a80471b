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
from dataclasses import astuple, dataclass
from typing import Any, Mapping

from protocols.record import parse_iso_utc
from telediag.problems import Problems

EVENT_TYPES = ("attach", "attach_reject", "location_update", "pdp_create", "pdp_reject", "pdp_delete")
FIELDS = ("iccid", "imei", "at", "type", "cause", "apn", "mcc", "mnc", "rat")
_IMEI = re.compile(r"\d{14,17}")
_ICCID = re.compile(r"\d{18,22}F?")


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


def _integer(raw: Mapping[str, Any], key: str, low: int, high: int, problems: list[str]) -> int | None:
    value = raw.get(key)
    if _blank(value):
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        problems.append(f"{key} {value!r} must be a whole number")
        return None
    if not low <= number <= high:
        problems.append(f"{key} {number} must be between {low} and {high}")
        return None
    return number


def _string(raw: Mapping[str, Any], key: str, problems: list[str], limit: int = 64) -> str | None:
    value = raw.get(key)
    if _blank(value):
        return None
    if not isinstance(value, (str, int)):
        problems.append(f"{key} must be text")
        return None
    text = str(value).strip()
    if len(text) > limit:
        problems.append(f"{key} is longer than {limit} characters")
        return None
    return text


def parse_event(raw: Mapping[str, Any]) -> ConnectivityEvent:
    """Check one event; raise InvalidEvent listing every problem."""
    if not isinstance(raw, Mapping):
        raise InvalidEvent(["an event must be a JSON object"])
    problems: list[str] = []
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        problems.append(f"type {kind!r} must be one of {', '.join(EVENT_TYPES)}")
    at = raw.get("at")
    when = None
    if _blank(at) or not isinstance(at, str):
        problems.append("at (ISO 8601 time) is required")
    else:
        try:
            when = parse_iso_utc(at)
        except ValueError:
            problems.append(f"at {at!r} is not an ISO 8601 time")
    iccid = _string(raw, "iccid", problems)
    imei = _string(raw, "imei", problems)
    if iccid is not None and not _ICCID.fullmatch(iccid.upper()):
        problems.append(f"iccid {iccid!r} must be 18-22 digits")
    if imei is not None and not _IMEI.fullmatch(imei):
        problems.append(f"imei {imei!r} must be 14-17 digits")
    if iccid is None and imei is None:
        problems.append("give the iccid or the imei (or both)")
    cause = _integer(raw, "cause", 0, 255, problems)
    mcc = _integer(raw, "mcc", 200, 799, problems)
    mnc = _integer(raw, "mnc", 0, 999, problems)
    apn = _string(raw, "apn", problems, limit=100)
    rat = _string(raw, "rat", problems, limit=16)
    if problems:
        raise InvalidEvent(problems)
    assert when is not None and isinstance(kind, str)
    return ConnectivityEvent(
        at=when, type=kind, iccid=iccid.upper() if iccid else None, imei=imei, cause=cause,
        apn=apn, mcc=mcc, mnc=mnc, rat=rat,
    )
