"""The mobile network side of a simulated tracker: its SIM, registry row and connectivity events.

The events are what an operator's connectivity platform would report for the SIM (DESIGN.md,
"Registry import and connectivity events"): an attach and a data session (PDP context) on the home
network, hourly location updates, and the rejects a misconfigured SIM or device causes. They are
made from the device's state at each report, so the offline scenarios and the live fleet agree.
"""

from __future__ import annotations

import math
import random
from typing import Any

from protocols.record import iso_utc

HOME_MCC = 260
"""Poland."""
VISITED = (262, 2)
"""Vodafone Germany: the network a Polish SIM meets past the Oder."""
APNS = {1: "m2m.plus.pl", 2: "m2m.t-mobile.pl", 3: "m2m.orange.pl", 6: "m2m.play.pl"}
"""The SIM profile's APN per home MNC."""
FACTORY_APN = "internet"
"""What a tracker asks for when nobody configured its APN: rejected by every M2M SIM here."""
ACCOUNTS = {"eu": "Trans-Euro Logistyka", "domestic": "Kurier Krajowy"}
"""Account name per coverage; both are Polish companies."""
HOME_COUNTRY = "PL"
RATS = {"teltonika": "4G", "gt06": "2G"}

CAUSE_ROAMING_NOT_ALLOWED = 13
"""EMM cause 13: roaming not allowed in this tracking area."""
CAUSE_MISSING_APN = 27
"""SM cause 27: missing or unknown APN."""
RETRY_S = 300.0
"""A rejected device tries again every few minutes ..."""
QUICK_RETRY_S = 10.0
QUICK_RETRIES = 3
"""... after a few quick retries right after a refusal."""
LOCATION_UPDATE_S = 3600.0


def luhn(body: str) -> str:
    """``body`` plus its Luhn check digit (IMEIs, ICCIDs)."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return body + str((10 - total % 10) % 10)


def iccid_for(imei: str, operator: int) -> str:
    """A 19-digit Polish ICCID (89 48 ...) tied to the IMEI and the home operator."""
    return luhn(f"8948{operator % 100:02d}{imei[-12:].rjust(12, '0')}")


def apn_for(operator: int) -> str:
    """The APN of the SIM profile of a home operator (MCC+MNC code)."""
    return APNS.get(operator % 100, "m2m.plus.pl")


def registry_row(imei: str, protocol: str, plate: str, operator: int, coverage: str, roaming: bool,
                 activated_at: float, interval_s: float) -> dict[str, str]:
    """One line of ``telediag devices import`` (every column of DESIGN.md, as text)."""
    return {
        "imei": imei,
        "protocol": protocol,
        "account": ACCOUNTS[coverage],
        "vehicle_plate": plate,
        "iccid": iccid_for(imei, operator),
        "apn": apn_for(operator),
        "roaming": "true" if roaming else "false",
        "coverage": coverage,
        "home_country": HOME_COUNTRY,
        "activated_at": iso_utc(activated_at) or "",
        "report_interval_s": f"{interval_s:g}",
    }


def event(kind: str, at: float, imei: str, iccid: str, plmn: tuple[int, int], rat: str,
          cause: int | None = None, apn: str | None = None) -> dict[str, Any]:
    """One connectivity event in the DESIGN.md JSON shape."""
    return {"iccid": iccid, "imei": imei, "at": iso_utc(at), "type": kind, "cause": cause, "apn": apn,
            "mcc": plmn[0], "mnc": plmn[1], "rat": rat}


class Network:
    """What the operator sees of one SIM: attach, data session, location updates, rejects."""

    def __init__(self, imei: str, iccid: str, sim_apn: str, operator: int, roaming_allowed: bool,
                 rat: str, rng: random.Random) -> None:
        self.imei, self.iccid, self.sim_apn, self.rat = imei, iccid, sim_apn, rat
        self.home = (HOME_MCC, operator % 100)
        self.roaming_allowed = roaming_allowed
        self.rng = rng
        self.plmn: tuple[int, int] | None = None
        self.session = False
        """A data session is up: the device can reach the server."""
        self.retry_at = -math.inf
        self.refusals = 0
        self.next_update = math.inf

    def power_off(self) -> None:
        """The device went dark: the network forgets it."""
        self.plmn, self.session, self.retry_at = None, False, -math.inf

    def update(self, now: float, abroad: bool, device_apn: str) -> list[dict[str, Any]]:
        """Events caused by the device being powered at ``now`` (abroad or not, asking for ``device_apn``)."""
        plmn = VISITED if abroad else self.home
        if plmn != self.plmn:
            self.plmn, self.session, self.retry_at, self.refusals = plmn, False, now, 0
        if self.session:
            if now < self.next_update:
                return []
            self.next_update += LOCATION_UPDATE_S
            return [self._event("location_update", now)]
        if now < self.retry_at:
            return []
        if abroad and not self.roaming_allowed:
            events = [self._event("attach_reject", now, cause=CAUSE_ROAMING_NOT_ALLOWED)]
        elif device_apn != self.sim_apn:
            events = [self._event("attach", now),
                      self._event("pdp_reject", now + 1.0, cause=CAUSE_MISSING_APN, apn=device_apn)]
        else:
            self.session = True
            self.next_update = now + LOCATION_UPDATE_S
            return [self._event("attach", now), self._event("pdp_create", now + 1.0, apn=device_apn)]
        self.refusals += 1
        pause = QUICK_RETRY_S if self.refusals <= QUICK_RETRIES else RETRY_S
        self.retry_at = now + pause * self.rng.uniform(0.9, 1.1)
        return events

    def _event(self, kind: str, at: float, cause: int | None = None, apn: str | None = None) -> dict[str, Any]:
        assert self.plmn is not None
        return event(kind, at, self.imei, self.iccid, self.plmn, self.rat, cause, apn)


REGISTRY_COLUMNS = (
    "imei", "protocol", "account", "vehicle_plate", "iccid", "apn", "roaming", "coverage",
    "home_country", "activated_at", "report_interval_s",
)
"""The columns of ``telediag devices import`` (DESIGN.md), in order."""
