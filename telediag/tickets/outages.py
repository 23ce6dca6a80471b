"""Mass outages from when failures began: many devices sharing an operator, an APN or an area whose
failures set in within one window.

Two kinds of failure count. A device's correlated finding counts from its onset (the evidence's
``onset``: the last record before a silence, the first reject, ...), never from when a sweep
detected it, so a first sweep, a registry import or a restart that finds many old failures at once
makes no outage. And the network's own word counts in its own right: attach and PDP rejects on the
device's home network, after the device was last seen working, begin a failure at the first reject,
so an operator outage is known within seconds of the events, long before the devices count as silent.

Pure: rows in, groups out; :mod:`telediag.tickets.incidents` reads the rows and writes the tickets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.record import parse_iso_utc
from telediag.diagnostics.geography import country_of_mcc

Key = tuple[str, str]
"""What devices share: ``("operator", "26003")``, ``("apn", "fleet.example")``, ``("area", "52.00,21.00")``."""

NETWORK_REJECTED = "NETWORK_REJECTED"
"""The failure of a device its home network rejects (the code of its ticket under the outage)."""
REJECTS = ("attach_reject", "pdp_reject")
SUCCESSES = ("attach", "pdp_create", "location_update")
"""Events that show the network accepting the device: a failure before one of them is over."""


@dataclass(frozen=True)
class Rules:
    """How many devices, within how long, looking how far back (``[tickets]`` mass_outage_*)."""

    min_devices: int
    window_s: float
    lookback_s: float


@dataclass(frozen=True)
class Device:
    """What correlation needs to know about one device."""

    imei: str
    registered_at: float | None = None
    home_country: str | None = None
    apn: str | None = None
    """The SIM profile's APN (shared by an account's SIMs)."""
    operator: str | None = None
    """MCC and MNC of its latest record, as the device reports them (``26003``)."""
    area: str | None = None
    """The grid cell of its last position."""
    last_seen: float | None = None
    """When it last sent data."""

    def keys(self, operator: str | None = None) -> tuple[Key, ...]:
        """What it shares with others; ``operator`` (the network that rejected it) before its own."""
        found: list[Key] = []
        for kind, value in (("operator", operator or self.operator), ("apn", self.apn), ("area", self.area)):
            if value:
                found.append((kind, value))
        return tuple(found)


@dataclass(frozen=True)
class Onset:
    """One device's failure and when it began."""

    imei: str
    at: float
    source: str
    """The finding code (``DEVICE_SILENT``...) or :data:`NETWORK_REJECTED`."""
    keys: tuple[Key, ...]
    detail: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """The rejects (count, causes, types, last one) for a network failure; the finding's row otherwise."""


@dataclass(frozen=True)
class Outage:
    """Devices sharing ``key`` whose failures began within one window."""

    key: Key
    onset: float
    """The earliest onset of the group."""
    onsets: tuple[Onset, ...]
    """One per device (its earliest failure in the window), by time."""

    @property
    def imeis(self) -> frozenset[str]:
        return frozenset(o.imei for o in self.onsets)

    def summary(self) -> dict[str, Any]:
        """What the parent ticket says about the group: the shared key, how many devices, the onset (epoch
        seconds), which failures, and for rejects their count and the devices per 3GPP cause."""
        kind, value = self.key
        sources = Counter(o.source for o in self.onsets)
        causes = Counter(c for o in self.onsets for c in o.detail.get("causes", ()))
        rejects = sum(int(o.detail.get("rejects", 0)) for o in self.onsets)
        found: dict[str, Any] = {kind: value, "devices": len(self.onsets), "onset": self.onset,
                                 "last_onset": self.onsets[-1].at, "sources": dict(sorted(sources.items()))}
        if rejects:
            found.update(rejects=rejects, causes={str(c): n for c, n in sorted(causes.items())})
        if kind == "operator" and value[:3].isdigit():
            found["country"] = country_of_mcc(int(value[:3]))
        return found


def operator_of(mcc: int | None, mnc: int | None) -> str | None:
    """MCC and MNC as one number, as devices report them (260 and 3 -> ``26003``)."""
    if mcc is None or mnc is None:
        return None
    return f"{mcc}{mnc:02d}"


def finding_onset(evidence: Mapping[str, Any], registered_at: float | None) -> float | None:
    """When a finding's failure began, or None when unknown or before the device was registered (a
    failure from before we knew the device is no news of today)."""
    raw = evidence.get("onset")
    if not isinstance(raw, str):
        return None
    try:
        onset = parse_iso_utc(raw)
    except (ValueError, OverflowError):
        return None
    if registered_at is not None and onset < registered_at:
        return None
    return onset


def finding_onsets(rows: Iterable[Mapping[str, Any]], devices: Mapping[str, Device], now: float,
                   rules: Rules) -> list[Onset]:
    """Onsets of correlated findings (rows with ``imei``, ``code``, ``evidence``) within the lookback."""
    found: list[Onset] = []
    for row in rows:
        device = devices.get(row["imei"])
        if device is None:
            continue
        onset = finding_onset(row["evidence"], device.registered_at)
        if onset is None or not now - rules.lookback_s <= onset <= now:
            continue
        found.append(Onset(device.imei, onset, row["code"], device.keys(), row))
    return found


def _home(event: Mapping[str, Any], device: Device) -> bool:
    mcc = event.get("mcc")
    return mcc is not None and device.home_country is not None and country_of_mcc(mcc) == device.home_country


def rejected_since(events: Sequence[Mapping[str, Any]], device: Device) -> tuple[float | None, list[Mapping[str, Any]]]:
    """When the device last worked (a success event or data) and its home network's rejects since,
    oldest first: no rejects when it works, or when nothing says it ever worked."""
    healthy = device.last_seen
    for event in events:
        if event["type"] in SUCCESSES and (healthy is None or event["at"] > healthy):
            healthy = event["at"]
    if healthy is None:
        return None, []
    return healthy, [e for e in events if e["type"] in REJECTS and e["at"] > healthy and _home(e, device)]


def network_onsets(events: Mapping[str, Sequence[Mapping[str, Any]]], devices: Mapping[str, Device],
                   now: float, rules: Rules) -> list[Onset]:
    """Devices their home network rejects after a healthy history, from the first reject.

    ``events`` are each device's connectivity events (oldest first) since well before the lookback.
    The healthy history must be recent (within the lookback before the first reject): a device that
    had not worked for weeks says nothing about the network today.
    """
    found: list[Onset] = []
    for imei, device_events in events.items():
        device = devices.get(imei)
        if device is None:
            continue
        worked, run = rejected_since(device_events, device)
        if worked is None or not run:
            continue
        first, last = run[0], run[-1]
        if first["at"] - worked > rules.lookback_s or not now - rules.lookback_s <= first["at"] <= now:
            continue
        if device.registered_at is not None and first["at"] < device.registered_at:
            continue
        detail = {
            "rejects": len(run), "causes": sorted({e["cause"] for e in run if e.get("cause") is not None}),
            "types": sorted({e["type"] for e in run}), "first_reject_at": first["at"], "last_reject_at": last["at"],
            "operator": operator_of(first.get("mcc"), first.get("mnc")), "rat": last.get("rat"),
            "requested_apn": next((e.get("apn") for e in reversed(run) if e.get("apn")), None),
        }
        found.append(Onset(imei, first["at"], NETWORK_REJECTED, device.keys(detail["operator"]), detail))
    return found


def _best_window(points: Sequence[Onset], window_s: float) -> tuple[int, int, int]:
    """(start, end, distinct devices) of the window [onset_i, onset_i + window_s] with most devices."""
    best = (0, 0, 0)
    counts: Counter[str] = Counter()
    end = 0
    for start, point in enumerate(points):
        while end < len(points) and points[end].at <= point.at + window_s:
            counts[points[end].imei] += 1
            end += 1
        if len(counts) > best[2]:
            best = (start, end, len(counts))
        counts[point.imei] -= 1
        if not counts[point.imei]:
            del counts[point.imei]
    return best


SILENCES = frozenset({"DEVICE_SILENT"})
"""Failures that only say nothing arrived: our own downtime looks the same from inside."""


def needs_witness(group: Outage) -> bool:
    """Whether the group is nothing but silences. Then it is an outage only if other devices were heard
    meanwhile: after a restart every device looks silent since the moment the service stopped, with
    onsets as clustered as any outage's (:meth:`Incidents.correlate` asks the store)."""
    return all(onset.source in SILENCES for onset in group.onsets)


def outages(onsets: Iterable[Onset], rules: Rules) -> list[Outage]:
    """Per shared key, the groups of at least ``min_devices`` devices whose failures began within one
    window (largest group first). A window has a fixed length: failures spread over hours never chain
    into one outage, however many there are."""
    by_key: dict[Key, list[Onset]] = defaultdict(list)
    for onset in onsets:
        for key in onset.keys:
            by_key[key].append(onset)
    groups: list[Outage] = []
    for key, points in by_key.items():
        remaining = sorted(points, key=lambda o: (o.at, o.imei))
        while remaining:
            start, end, devices = _best_window(remaining, rules.window_s)
            if devices < max(1, rules.min_devices):
                break
            earliest: dict[str, Onset] = {}
            for point in remaining[start:end]:
                earliest.setdefault(point.imei, point)
            members = tuple(sorted(earliest.values(), key=lambda o: (o.at, o.imei)))
            groups.append(Outage(key, members[0].at, members))
            remaining = [p for p in remaining if p.imei not in earliest]
    return sorted(groups, key=lambda g: (-len(g.onsets), g.onset, g.key))
