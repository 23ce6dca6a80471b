"""Registry rows as values, and the checks that turn a CSV row or CLI flags into one.

Pure: no database, no clock. Every problem of a row is collected, so an import reports all of them
at once with their line numbers instead of stopping at the first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from protocols import registry as codecs
from protocols.record import parse_iso_utc
from telediag.problems import Problems

IMPORT_COLUMNS = (
    "imei", "protocol", "account", "vehicle_plate", "iccid", "apn", "roaming", "coverage",
    "home_country", "activated_at", "report_interval_s",
)
"""Columns of ``telediag devices import`` (DESIGN.md); extra columns are allowed and ignored."""

COVERAGES = ("domestic", "eu", "world")
_IMEI = re.compile(r"[0-9]{15,17}")
"""IMEI (15 digits) or IMEISV (16) as ASCII digits; ``\\d`` would also take Arabic-Indic and other digits."""
_ICCID = re.compile(r"[0-9]{18,22}F?")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
"""A number as CSV text or as a JSON number turned into text (``60``, ``60.0``, ``1e+308``); never
``nan``, ``inf`` or non-ASCII digits, which ``float()`` would all take."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}

NAME_MAX_CHARS = 200
"""Account names: long enough for any company name with its legal form, short enough to show in a
list and to keep one registry row from carrying a document."""
PLATE_MAX_CHARS = 32
"""Vehicle plates are at most about 10 characters in every country; 32 leaves room for notes like
"(trailer)" and refuses pasted text."""
APN_MAX_CHARS = 100
"""3GPP TS 23.003 section 9.1: an APN is at most 100 octets."""
PROFILE_MAX_CHARS = 64
"""Installation profile names are short labels chosen by the fleet."""
REPORT_INTERVAL_MIN_S = 1.0
REPORT_INTERVAL_MAX_S = 604_800.0
"""A tracker reports at most once a second and at least once a week (parked, deep sleep); the silence
checks multiply this interval, so an absurd value would switch them off for that device."""
TIME_MIN = 946_684_800.0
"""2000-01-01T00:00:00Z: no tracker of this fleet was activated before (it is also the RTC-reset year)."""
TIME_MAX = 4_102_444_800.0
"""2100-01-01T00:00:00Z: later activation times are typing errors, not plans."""


def _shown(value: str, limit: int = 40) -> str:
    """A value quoted for a problem message, cut so a huge input does not come back whole."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


class InvalidEntry(Problems):
    """A registry entry with problems; ``problems`` lists each one in plain words."""


@dataclass(frozen=True)
class DeviceEntry:
    """One device line: the device, and what it says about its account and SIM (None: unknown)."""

    imei: str
    protocol: str | None = None
    account: str | None = None
    vehicle_plate: str | None = None
    iccid: str | None = None
    apn: str | None = None
    roaming: bool | None = None
    coverage: str | None = None
    home_country: str | None = None
    activated_at: float | None = None
    report_interval_s: float | None = None
    install_profile: str | None = None


def _text(row: Mapping[str, str | None], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _label(row: Mapping[str, str | None], key: str, limit: int, problems: list[str]) -> str | None:
    """A free-text cell: at most ``limit`` characters, one line, no control characters."""
    value = _text(row, key)
    if value is None:
        return None
    if len(value) > limit:
        problems.append(f"{key} is {len(value)} characters long; at most {limit} are allowed")
        return None
    if _CONTROL.search(value):
        problems.append(f"{key} {_shown(value)} must not contain control characters (line breaks, tabs, ...)")
        return None
    return value


def parse_entry(row: Mapping[str, str | None]) -> DeviceEntry:
    """Check one row (CSV cells or CLI options as text); raise InvalidEntry listing every problem."""
    problems: list[str] = []
    imei = _text(row, "imei")
    if imei is None or not _IMEI.fullmatch(imei):
        problems.append(f"imei {_shown(imei or '')} must be 15-17 digits")
    protocol = _text(row, "protocol")
    known = [*codecs.names(), "mqtt"]
    if protocol is not None and protocol not in known:
        problems.append(f"protocol {_shown(protocol)} is not one of {', '.join(known)}")
    iccid = _text(row, "iccid")
    if iccid is not None and not _ICCID.fullmatch(iccid.upper()):
        problems.append(f"iccid {_shown(iccid)} must be 18-22 digits")
    account = _label(row, "account", NAME_MAX_CHARS, problems)
    plate = _label(row, "vehicle_plate", PLATE_MAX_CHARS, problems)
    apn = _label(row, "apn", APN_MAX_CHARS, problems)
    profile = _label(row, "install_profile", PROFILE_MAX_CHARS, problems)
    roaming = _text(row, "roaming")
    roaming_flag = None
    if roaming is not None:
        if roaming.lower() in _TRUE:
            roaming_flag = True
        elif roaming.lower() in _FALSE:
            roaming_flag = False
        else:
            problems.append(f"roaming {_shown(roaming)} must be true or false")
    coverage = _text(row, "coverage")
    if coverage is not None:
        coverage = coverage.lower()
        if coverage not in COVERAGES:
            problems.append(f"coverage {_shown(coverage)} must be one of {', '.join(COVERAGES)}")
    country = _text(row, "home_country")
    if country is not None:
        if not _COUNTRY.fullmatch(country):
            problems.append(f"home_country {_shown(country)} must be an ISO 3166 alpha-2 code such as PL")
        country = country.upper()
    activated_at = _time(row, "activated_at", problems)
    interval_s = _interval(row, problems)
    if iccid is None and (_text(row, "apn") is not None or roaming is not None):
        problems.append("apn and roaming describe a SIM: give its iccid too")
    if _text(row, "account") is None and (coverage is not None or country is not None):
        problems.append("coverage and home_country describe an account: give the account too")
    if problems:
        raise InvalidEntry(problems)
    assert imei is not None
    return DeviceEntry(
        imei=imei, protocol=protocol, account=account, vehicle_plate=plate,
        iccid=iccid.upper() if iccid else None, apn=apn, roaming=roaming_flag, coverage=coverage,
        home_country=country, activated_at=activated_at, report_interval_s=interval_s, install_profile=profile,
    )


def _time(row: Mapping[str, str | None], key: str, problems: list[str]) -> float | None:
    """An ISO 8601 time from 2000 to 2099 as epoch seconds."""
    text = _text(row, key)
    if text is None:
        return None
    try:
        moment = parse_iso_utc(text)
    except (ValueError, OverflowError):
        problems.append(f"{key} {_shown(text)} must be an ISO 8601 time")
        return None
    if not TIME_MIN <= moment < TIME_MAX:
        problems.append(f"{key} {_shown(text)} must lie between 2000 and 2099")
        return None
    return moment


def _interval(row: Mapping[str, str | None], problems: list[str]) -> float | None:
    """``report_interval_s``: a finite number of seconds within the plausible range."""
    text = _text(row, "report_interval_s")
    if text is None:
        return None
    bounds = f"from {REPORT_INTERVAL_MIN_S:g} to {REPORT_INTERVAL_MAX_S:g}"
    if not _DECIMAL.fullmatch(text):
        problems.append(f"report_interval_s {_shown(text)} must be a number of seconds {bounds}")
        return None
    value = float(text)
    if not (math.isfinite(value) and REPORT_INTERVAL_MIN_S <= value <= REPORT_INTERVAL_MAX_S):
        problems.append(f"report_interval_s {_shown(text)} must be {bounds} seconds")
        return None
    return value
