"""Registry rows as values, and the checks that turn a CSV row or CLI flags into one.

Pure: no database, no clock. Every problem of a row is collected, so an import reports all of them
at once with their line numbers instead of stopping at the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from protocols import registry as codecs
from protocols.record import parse_iso_utc
from telediag.problems import Problems

IMPORT_COLUMNS = (
    "imei", "protocol", "account", "vehicle_plate", "iccid", "apn", "roaming", "coverage",
    "home_country", "activated_at", "report_interval_s",
)
"""Columns of ``telediag devices import`` (DESIGN.md); extra columns are allowed and ignored."""

COVERAGES = ("domestic", "eu", "world")
_IMEI = re.compile(r"\d{15,17}")
_ICCID = re.compile(r"\d{18,22}F?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


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


def parse_entry(row: Mapping[str, str | None]) -> DeviceEntry:
    """Check one row (CSV cells or CLI options as text); raise InvalidEntry listing every problem."""
    problems: list[str] = []
    imei = _text(row, "imei")
    if imei is None or not _IMEI.fullmatch(imei):
        problems.append(f"imei {imei!r} must be 15-17 digits")
    protocol = _text(row, "protocol")
    known = [*codecs.names(), "mqtt"]
    if protocol is not None and protocol not in known:
        problems.append(f"protocol {protocol!r} is not one of {', '.join(known)}")
    iccid = _text(row, "iccid")
    if iccid is not None and not _ICCID.fullmatch(iccid.upper()):
        problems.append(f"iccid {iccid!r} must be 18-22 digits")
    roaming = _text(row, "roaming")
    roaming_flag = None
    if roaming is not None:
        if roaming.lower() in _TRUE:
            roaming_flag = True
        elif roaming.lower() in _FALSE:
            roaming_flag = False
        else:
            problems.append(f"roaming {roaming!r} must be true or false")
    coverage = _text(row, "coverage")
    if coverage is not None:
        coverage = coverage.lower()
        if coverage not in COVERAGES:
            problems.append(f"coverage {coverage!r} must be one of {', '.join(COVERAGES)}")
    country = _text(row, "home_country")
    if country is not None:
        country = country.upper()
        if not _COUNTRY.fullmatch(country):
            problems.append(f"home_country {country!r} must be an ISO 3166 alpha-2 code such as PL")
    activated = _text(row, "activated_at")
    activated_at = None
    if activated is not None:
        try:
            activated_at = parse_iso_utc(activated)
        except ValueError:
            problems.append(f"activated_at {activated!r} must be an ISO 8601 time")
    interval = _text(row, "report_interval_s")
    interval_s = None
    if interval is not None:
        try:
            interval_s = float(interval)
            if interval_s <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"report_interval_s {interval!r} must be a positive number of seconds")
    if iccid is None and (_text(row, "apn") is not None or roaming is not None):
        problems.append("apn and roaming describe a SIM: give its iccid too")
    if _text(row, "account") is None and (coverage is not None or country is not None):
        problems.append("coverage and home_country describe an account: give the account too")
    if problems:
        raise InvalidEntry(problems)
    assert imei is not None
    return DeviceEntry(
        imei=imei, protocol=protocol, account=_text(row, "account"),
        vehicle_plate=_text(row, "vehicle_plate"), iccid=iccid.upper() if iccid else None,
        apn=_text(row, "apn"), roaming=roaming_flag, coverage=coverage, home_country=country,
        activated_at=activated_at, report_interval_s=interval_s,
        install_profile=_text(row, "install_profile"),
    )
