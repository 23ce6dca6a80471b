"""The finding codes of DESIGN.md: who handles each, how serious it is, which self-check shows it.

One table, so routing (tickets), the self-check and the API agree on every code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Team = Literal["customer_office", "technical", "it"]
Severity = Literal["info", "warning", "major", "critical"]


@dataclass(frozen=True)
class FindingSpec:
    """What a finding code means to the rest of the service."""

    code: str
    team: Team
    severity: Severity
    check: str
    """Self-check id that reports this code."""
    status: Literal["warn", "fail"]
    """Self-check status while the finding is active."""
    title: str

    @property
    def informational(self) -> bool:
        """Informational findings are shown but never open a ticket."""
        return self.severity == "info"


_SPECS = (
    FindingSpec("ACTIVATION_PENDING", "customer_office", "info", "activation", "warn",
                "The tracker is still in its activation window"),
    FindingSpec("NO_DATA_AFTER_ACTIVATION", "technical", "major", "activation", "fail",
                "No data since activation"),
    FindingSpec("DEVICE_SILENT", "technical", "major", "connection", "fail",
                "The tracker has stopped reporting"),
    FindingSpec("APN_MISCONFIGURED", "technical", "major", "connectivity", "fail",
                "The mobile data settings (APN) are wrong"),
    FindingSpec("ROAMING_REJECTED", "customer_office", "major", "connectivity", "fail",
                "The SIM card is refused by the network abroad"),
    FindingSpec("EU_COVERAGE_INACTIVE", "customer_office", "major", "coverage", "fail",
                "The vehicle is outside the countries its plan covers"),
    FindingSpec("GPS_NO_FIX", "technical", "major", "gnss", "fail",
                "No GPS position while the vehicle is in use"),
    FindingSpec("GPS_POOR_QUALITY", "technical", "warning", "gnss", "warn",
                "GPS positions are imprecise"),
    FindingSpec("IGNITION_ALWAYS_ON", "technical", "warning", "ignition", "warn",
                "The ignition never switches off"),
    FindingSpec("IGNITION_NOT_DETECTED", "technical", "warning", "ignition", "warn",
                "The vehicle drives while the ignition reads off"),
    FindingSpec("JOURNEY_FALSE_STARTS", "technical", "warning", "ignition", "warn",
                "Short false journeys while parked"),
    FindingSpec("EXTERNAL_POWER_LOST", "technical", "major", "power", "fail",
                "The tracker has lost the vehicle's power"),
    FindingSpec("BATTERY_LOW", "technical", "warning", "power", "warn",
                "The tracker's internal battery is low"),
    FindingSpec("CLOCK_INVALID", "technical", "major", "clock", "fail",
                "The tracker's clock is wrong"),
    FindingSpec("DATA_DELAYED", "technical", "warning", "data_delay", "warn",
                "Data arrives late"),
    FindingSpec("LOW_GSM_SIGNAL", "technical", "info", "connectivity", "warn",
                "Weak mobile signal"),
    FindingSpec("PROTOCOL_ERRORS", "it", "major", "protocol", "fail",
                "The tracker sends data the server cannot read"),
    FindingSpec("MASS_OUTAGE", "it", "critical", "connectivity", "fail",
                "Many trackers fail together"),
    FindingSpec("NETWORK_REJECTED", "technical", "major", "connectivity", "fail",
                "The mobile network rejects the tracker in its home country"),
)

FINDINGS: dict[str, FindingSpec] = {spec.code: spec for spec in _SPECS}

CHECK_IDS: tuple[str, ...] = (
    "activation", "connection", "connectivity", "coverage", "gnss", "power", "ignition", "clock",
    "data_delay", "protocol",
)
"""Self-check ids in the order a customer reads them."""

CORRELATION_CODES: tuple[str, ...] = ("MASS_OUTAGE", "NETWORK_REJECTED")
"""Codes only outage correlation gives: the outage's parent ticket, and the ticket of a device its home
network rejects as part of an outage (telediag.tickets.outages)."""
DEVICE_CODES: tuple[str, ...] = tuple(code for code in FINDINGS if code not in CORRELATION_CODES)
"""Codes the per-device diagnostics produce (mass outages are correlated across devices)."""


def codes_of_check(check: str) -> tuple[str, ...]:
    """Per-device finding codes a self-check id covers, most serious first."""
    return tuple(code for code in DEVICE_CODES if FINDINGS[code].check == check)
