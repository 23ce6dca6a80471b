"""The connection ladder: every step between a SIM card and a usable position, judged in order.

A tracker's data reaches a map only if each step works: the SIM card is active, the mobile network
lets it in, it opens a mobile data session, its TCP connection reaches this service, it identifies
itself, the service can read what it sends, the positions carry a GPS fix and its clock is right.
The first step that is broken is the verdict, with its fix: support no longer reasons from silence
alone ("no data: check the APN") when the store can say which step fails. Above all, a data session
that is up while nothing reaches us means the tracker sends to a wrong server address or port, never
a wrong APN.

Each rung is judged from what the store knows (the registry and SIM profile, the operator's
connectivity events, the device's connection state, ingest errors, records, the check verdicts). A
rung with nothing to judge it by (no connectivity feed for this SIM) is ``unknown`` and the ladder
goes on. A failure seen in the operator's feed is overruled by anything the tracker sent after it: a
reject followed by data is history, not the verdict.

Pure: the snapshot, the verdicts and ``now`` in, the rungs out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from protocols import registry
from protocols.record import iso_utc
from telediag.config import DEFAULT_LISTEN
from telediag.diagnostics.checks import Verdicts
from telediag.diagnostics.geography import country_of_mcc
from telediag.diagnostics.hints import apn_hint, hint, readable_time, server_hint
from telediag.diagnostics.snapshot import DeviceSnapshot
from telediag.diagnostics.wording import N_, Nn_, Text

Status = Literal["ok", "fail", "unknown"]

RUNG_IDS: tuple[str, ...] = ("sim", "attach", "data", "tcp", "identified", "decoded", "fix", "clock")
"""The rungs in the order data climbs them."""
CONNECTION_RUNGS = frozenset({"sim", "attach", "data", "tcp", "identified", "decoded"})
"""Rungs that explain why the tracker does not report (the self-check's ``connection`` line)."""
NETWORK_RUNGS = frozenset({"sim", "attach", "data"})
"""Rungs the mobile operator decides (a mass outage speaks for them)."""

TCP_GRACE_S = 300.0
"""How long after its data session opens a tracker may take to reach us (or after logging in, to send
its first data). Trackers connect within seconds of the session; five minutes covers a slow modem and
a retry, and is far shorter than the silence a customer notices."""

FIX_MIN_RECORDS = 5
"""Records without a GPS position before the rung fails: a tracker's first records after a cold start
often carry none for a minute or two."""
SIM_CAUSES = frozenset({2, 3, 6, 7, 8})
"""EMM causes (3GPP TS 24.301 9.9.3.9) of an attach reject that mean the SIM card itself is refused:
IMSI unknown in HSS, illegal UE, illegal ME, EPS services not allowed, EPS and non-EPS services not
allowed. The operator has not activated it, or has blocked it."""
ROAMING_CAUSES = frozenset({11, 12, 13, 14})
"""EMM causes of a network that does not take this SIM card where the tracker is: PLMN not allowed,
tracking area not allowed, roaming not allowed in this area, EPS services not allowed in this PLMN."""
APN_CAUSES = frozenset({27, 29, 33})
"""SM causes (3GPP TS 24.008 10.5.6.6) of a PDP reject that point at the APN: missing or unknown APN,
user authentication failed, requested service option not subscribed (same as the APN check's default)."""

_NETWORK_TYPES = frozenset({"attach", "attach_reject", "location_update", "pdp_create", "pdp_reject", "pdp_delete"})
_PDP_TYPES = frozenset({"pdp_create", "pdp_reject", "pdp_delete"})

_TITLES = {
    "sim": N_("SIM card active"),
    "attach": N_("Mobile network lets the tracker in"),
    "data": N_("Mobile data session open"),
    "tcp": N_("Messages reach the server"),
    "identified": N_("Tracker identified"),
    "decoded": N_("Data readable"),
    "fix": N_("Valid GPS position"),
    "clock": N_("Tracker clock right"),
}


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: its verdict and, when it fails, what to do."""

    id: str
    status: Status
    detail: Text
    hint: Text | None = None

    @property
    def title(self) -> Text:
        """The step's name, for people."""
        return _TITLES[self.id]

    def as_dict(self) -> dict[str, Any]:
        """The rung in the self-check document."""
        return {"id": self.id, "status": self.status, "title": self.title, "detail": self.detail, "hint": self.hint}


@dataclass(frozen=True)
class Ladder:
    """Every rung in order; the verdict is the first that fails (None: nothing is broken)."""

    rungs: tuple[Rung, ...]

    @property
    def broken(self) -> Rung | None:
        """The first failing rung: where the data stops."""
        return next((rung for rung in self.rungs if rung.status == "fail"), None)

    @property
    def verdict(self) -> str | None:
        """The id of the first failing rung."""
        broken = self.broken
        return broken.id if broken is not None else None

    def as_dict(self) -> dict[str, Any]:
        """The self-check's ``ladder`` key."""
        return {"verdict": self.verdict, "rungs": [rung.as_dict() for rung in self.rungs]}


def listen_ports(listen: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """The TCP port each protocol listens on, from a ``[listen]`` table (``tcp:5027:interface=...``)."""
    ports: dict[str, int] = {}
    for protocol, endpoints in listen.items():
        for endpoint in endpoints:
            parts = endpoint.split(":")
            if parts[0] in ("tcp", "tcp6") and len(parts) > 1 and parts[1].isdigit():
                ports.setdefault(protocol, int(parts[1]))
                break
    return ports


DEFAULT_PORTS: Mapping[str, int] = listen_ports(DEFAULT_LISTEN)
"""The ports of the default ``[listen]`` table."""


@dataclass(frozen=True)
class _Facts:
    """What the rungs share, derived once from the snapshot."""

    snapshot: DeviceSnapshot
    verdicts: Verdicts
    now: float
    ports: Mapping[str, int]

    @property
    def state(self) -> Mapping[str, Any]:
        return self.snapshot.state or {}

    @property
    def device(self) -> Mapping[str, Any]:
        return self.snapshot.device or {}

    @property
    def reached_at(self) -> float | None:
        """When anything from the tracker last reached us: a record, a connection, an unreadable frame."""
        state = self.state
        times = [state.get(key) for key in ("last_seen", "last_connected_at", "last_error_at")]
        times += [record["server_time"] for record in self.snapshot.recent[:1]]
        known = [float(t) for t in times if t is not None]
        return max(known) if known else None

    @property
    def identified_at(self) -> float | None:
        """When the tracker first identified itself (a login or a stored record)."""
        state = self.state
        known = [state.get(key) for key in ("first_seen", "last_connected_at", "last_seen")]
        known_times = [float(t) for t in known if t is not None]
        if self.snapshot.recent:
            known_times.append(float(self.snapshot.recent[-1]["server_time"]))
        return min(known_times) if known_times else None

    @property
    def last_record_at(self) -> float | None:
        """When the latest record arrived."""
        times = [self.state.get("last_seen")] + [r["server_time"] for r in self.snapshot.recent[:1]]
        known = [float(t) for t in times if t is not None]
        return max(known) if known else None

    def reached_since(self, at: float) -> bool:
        """Whether the tracker reached us after ``at`` (a feed's failure is then history)."""
        reached = self.reached_at
        return reached is not None and reached > at

    @property
    def port(self) -> int | None:
        protocol = self.snapshot.protocol
        if protocol is None:
            return None
        if protocol in self.ports:
            return self.ports[protocol]
        try:
            return registry.get(protocol).default_port
        except KeyError:
            return None

    def server_hint(self) -> Text:
        choices = ", ".join(f"{name} {port}" for name, port in sorted(self.ports.items()))
        return server_hint(self.snapshot.protocol, self.port, choices)


def _at(value: float | None) -> Any:
    return readable_time(iso_utc(value)) if value is not None else N_("an unknown time")


def _trailing(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The run of ``kind`` events at the end of ``events`` (the failures since the last success)."""
    run: list[dict[str, Any]] = []
    for event in reversed(events):
        if event["type"] != kind:
            break
        run.append(event)
    return run[::-1]


def _sim(f: _Facts) -> Rung:
    network = [e for e in f.snapshot.events if e["type"] in _NETWORK_TYPES]
    latest = network[-1] if network else None
    if latest is not None and latest["type"] == "attach_reject" and latest.get("cause") in SIM_CAUSES \
            and not f.reached_since(latest["at"]):
        return Rung("sim", "fail", N_(
            "The mobile network does not accept this SIM card (cause {cause}, last at {at}): the operator has "
            "not activated it, or has blocked it.", cause=latest["cause"], at=_at(latest["at"])), N_(
            "Have the SIM card activated or unblocked by the mobile operator (the customer office can do it on "
            "the operator's portal); if it is active there, replace the SIM card."))
    activated = f.device.get("activated_at")
    if activated is not None and activated > f.now and f.reached_at is None and latest is None:
        return Rung("sim", "fail", N_("The SIM card will be activated only on {at}.", at=_at(activated)), N_(
            "The tracker can send data only once its SIM card is active: wait until then, or ask the customer "
            "office to have it activated earlier."))
    if f.reached_at is not None or latest is not None:
        return Rung("sim", "ok", N_("The SIM card is active: the network or this server has heard from it."))
    if activated is not None:
        return Rung("sim", "ok", N_("The SIM card was activated on {at}.", at=_at(activated)))
    if not f.device.get("iccid"):
        return Rung("sim", "unknown", N_("No SIM card is registered for this tracker."))
    return Rung("sim", "unknown", N_("The SIM card's activation is not recorded, and it has not been heard from."))


def _attach_reason(event: dict[str, Any]) -> Text:
    cause = event.get("cause")
    if cause in SIM_CAUSES:
        return N_("the network does not know the SIM card or has blocked it")
    if cause in ROAMING_CAUSES:
        return N_("roaming: this network does not take the SIM card here")
    if cause == 15:
        return N_("no network cell the SIM card may use where the vehicle is")
    if cause is None:
        return N_("no cause given")
    return N_("network cause {cause}", cause=cause)


def _attach(f: _Facts, outage_hint: Text | None) -> Rung:
    network = [e for e in f.snapshot.events if e["type"] in _NETWORK_TYPES]
    if not network:
        return Rung("attach", "unknown", N_("The mobile operator has sent no network events for this SIM card."))
    latest = network[-1]
    if latest["type"] != "attach_reject" or f.reached_since(latest["at"]):
        return Rung("attach", "ok", N_("The mobile network lets the tracker in (last event {at}).",
                                       at=_at(latest["at"])))
    rejects = _trailing(network, "attach_reject")
    detail = Nn_(
        "The mobile network refused to let the tracker in {count} time, last at {at} ({reason}).",
        "The mobile network refused to let the tracker in {count} times, last at {at} ({reason}).",
        len(rejects), at=_at(latest["at"]), reason=_attach_reason(latest))
    cause = latest.get("cause")
    if outage_hint is not None:
        advice = outage_hint
    elif cause in SIM_CAUSES:
        advice = _sim(f).hint or N_("Contact support with the tracker's IMEI.")
    elif cause in ROAMING_CAUSES:
        country = country_of_mcc(latest["mcc"]) if latest.get("mcc") is not None else None
        advice = hint("ROAMING_REJECTED", f.snapshot.protocol, {"country": country}, f.device)
    else:
        advice = N_(
            "This is decided by the mobile network, not by a tracker setting: it often passes by itself when "
            "the vehicle moves or the network recovers. If it lasts, the customer office checks the SIM card "
            "with the operator.")
    return Rung("attach", "fail", detail, advice)


def _data(f: _Facts, outage_hint: Text | None) -> Rung:
    events = f.snapshot.events
    sessions = [e for e in events if e["type"] in _PDP_TYPES]
    if not sessions:
        if not events:
            return Rung("data", "unknown", N_("The mobile operator has sent no network events for this SIM card."))
        return Rung("data", "unknown", N_("The mobile operator has reported no data session of this SIM card."))
    latest = sessions[-1]
    if latest["type"] == "pdp_create":
        if latest.get("apn"):
            return Rung("data", "ok", N_("A mobile data session is open since {at} (APN \"{apn}\").",
                                         at=_at(latest["at"]), apn=latest["apn"]))
        return Rung("data", "ok", N_("A mobile data session is open since {at}.", at=_at(latest["at"])))
    if f.reached_since(latest["at"]):
        return Rung("data", "ok", N_("Mobile data works: the tracker has reached the server since {at}.",
                                     at=_at(latest["at"])))
    if latest["type"] == "pdp_delete":
        return Rung("data", "fail", N_(
            "The mobile data session closed at {at} and has not opened again.", at=_at(latest["at"])), N_(
            "The tracker is switched off, asleep or out of coverage. Check its power supply; it opens a new "
            "data session by itself once it is on and has coverage."))
    rejects = _trailing(sessions, "pdp_reject")
    cause = latest.get("cause")
    if cause in APN_CAUSES:
        detail = Nn_(
            "The network refused {count} mobile data session for APN \"{apn}\", last at {at}: the APN set in "
            "the tracker is wrong.",
            "The network refused {count} mobile data sessions for APN \"{apn}\", last at {at}: the APN set in "
            "the tracker is wrong.",
            len(rejects), apn=latest.get("apn") or "", at=_at(latest["at"]))
        return Rung("data", "fail", detail, apn_hint(f.snapshot.protocol, f.device.get("apn")))
    detail = Nn_(
        "The network refused {count} mobile data session, last at {at} (network cause {cause}).",
        "The network refused {count} mobile data sessions, last at {at} (network cause {cause}).",
        len(rejects), at=_at(latest["at"]), cause=cause if cause is not None else "?")
    return Rung("data", "fail", detail, outage_hint or N_(
        "This is decided by the mobile network, not by the tracker's APN: it usually passes by itself. If it "
        "lasts, the customer office checks the SIM card's data service with the operator."))


def _tcp(f: _Facts, data: Rung) -> Rung:
    reached = f.reached_at
    sessions = [e for e in f.snapshot.events if e["type"] in _PDP_TYPES]
    opened = sessions[-1]["at"] if sessions and sessions[-1]["type"] == "pdp_create" else None
    if opened is not None and (reached is None or reached < opened):
        if f.now - opened < TCP_GRACE_S:
            return Rung("tcp", "unknown", N_(
                "The mobile data session opened at {at}; the tracker's first message is expected within minutes.",
                at=_at(opened)))
        if reached is None:
            detail = N_(
                "The tracker has had mobile data since {at} (so its APN is right), but nothing from it has "
                "reached the server: it sends to a wrong server address or port.", at=_at(opened))
        else:
            detail = N_(
                "The tracker has had mobile data since {at} (so its APN is right), but nothing from it has "
                "reached the server since then (before that, at {last}): it now sends to a wrong server address "
                "or port.", at=_at(opened), last=_at(reached))
        return Rung("tcp", "fail", detail, f.server_hint())
    if reached is None:
        if f.verdicts.get("ACTIVATION_PENDING") is not None:
            return Rung("tcp", "unknown", N_(
                "Nothing has reached the server yet, which is normal in the first 24 h after activation."))
        advice = f.server_hint()
        if data.status != "ok":
            advice = Text(N_(
                "Check that the tracker is powered (LED on), that its SIM card is inserted and active and that "
                "its APN is right."), " ", advice)
        return Rung("tcp", "fail", N_("Nothing from this tracker has reached the server yet."), advice)
    silent = f.verdicts.get("DEVICE_SILENT")
    if silent is not None and f.now - reached > float(silent.get("limit_s") or 0):  # not even a connection
        return Rung("tcp", "fail", N_("Nothing has reached the server since {at}.", at=_at(reached)),
                    hint("DEVICE_SILENT", f.snapshot.protocol, silent, f.device))
    return Rung("tcp", "ok", N_("The tracker's messages reach the server (last at {at}).", at=_at(reached)))


def _identified(f: _Facts) -> Rung:
    if f.identified_at is not None:
        return Rung("identified", "ok", N_("The tracker identifies itself as {imei}.", imei=f.snapshot.imei))
    if f.reached_at is None:
        return Rung("identified", "unknown", N_("Nothing has reached the server yet."))
    error = (f.snapshot.last_error or {}).get("message") or f.state.get("last_error")
    return Rung("identified", "fail", N_(
        "Messages from this tracker reach the server, but it has never identified itself: the server could not "
        "read them ({error}).", error=error or N_("undecodable frames")), Text(N_(
            "The tracker speaks another protocol than the port it sends to expects, or sends an IMEI not "
            "registered here ({imei}).", imei=f.snapshot.imei), " ", f.server_hint()))


def _decoded(f: _Facts) -> Rung:
    identified = f.identified_at
    if identified is None:
        return Rung("decoded", "unknown", N_("The tracker has not identified itself yet."))
    last_record = f.last_record_at
    error = (f.snapshot.last_error or {}).get("message") or f.state.get("last_error")
    protocol_errors = f.verdicts.get("PROTOCOL_ERRORS")
    fix = hint("PROTOCOL_ERRORS", f.snapshot.protocol, {"last_error": error}, f.device)
    if last_record is None:
        if f.snapshot.errors_in_window or f.state.get("last_error_at"):
            return Rung("decoded", "fail", N_(
                "The tracker logs in, but the server could not read any of its data ({error}).",
                error=error or N_("undecodable frames")), fix)
        if f.now - identified < TCP_GRACE_S:
            return Rung("decoded", "unknown", N_("The tracker logged in at {at}; its first data is expected "
                                                 "within minutes.", at=_at(identified)))
        return Rung("decoded", "fail", N_("The tracker logged in at {at} but has sent no data since.",
                                          at=_at(identified)), N_(
            "The tracker connects but sends no positions: check its data sending settings (sending period "
            "while driving and while parked) and restart it."))
    failing_since = f.state.get("last_error_at")
    if protocol_errors is not None and failing_since is not None and failing_since > last_record:
        return Rung("decoded", "fail", N_(
            "Since {at}, nothing the tracker sent could be read ({error}).",
            at=_at(f.snapshot.first_error_at or failing_since), error=error or N_("undecodable frames")), fix)
    return Rung("decoded", "ok", N_("The server reads the tracker's data (last record at {at}).",
                                    at=_at(last_record)))


def _fix(f: _Facts) -> Rung:
    recent = f.snapshot.recent
    no_fix = f.verdicts.get("GPS_NO_FIX")
    if no_fix is not None:
        return Rung("fix", "fail", N_("{share} % of recent records while in use had no GPS position.",
                                      share=round(100 * no_fix.get("without_fix_share", 0))),
                    hint("GPS_NO_FIX", f.snapshot.protocol, no_fix, f.device))
    if not recent:
        return Rung("fix", "unknown", N_("No records yet to look for a GPS position."))
    valid = [r for r in recent if r["valid"] and r["lat"] is not None]
    if not valid and len(recent) < FIX_MIN_RECORDS:
        return Rung("fix", "unknown", N_("No GPS position in the first records yet: a tracker needs a few minutes "
                                         "outdoors for its first one."))
    if not valid:
        return Rung("fix", "fail", Nn_(
            "The latest record has no GPS position.",
            "None of the latest {count} records has a GPS position.", len(recent)),
            hint("GPS_NO_FIX", f.snapshot.protocol, {}, f.device))
    return Rung("fix", "ok", N_("The latest GPS position arrived at {at}.", at=_at(valid[0]["server_time"])))


def _clock(f: _Facts) -> Rung:
    if "CLOCK_INVALID" not in f.verdicts:
        return Rung("clock", "unknown", N_("No data yet to check the tracker's clock."))
    evidence = f.verdicts["CLOCK_INVALID"]
    if evidence is None:
        return Rung("clock", "ok", N_("The tracker's clock is right."))
    return Rung("clock", "fail", N_(
        "The tracker dates its data {reported_fix_time} although it arrived at {server_time}.",
        reported_fix_time=readable_time(evidence.get("reported_fix_time")),
        server_time=readable_time(evidence.get("server_time"))),
        hint("CLOCK_INVALID", f.snapshot.protocol, evidence, f.device))


def connection_ladder(
    snapshot: DeviceSnapshot, verdicts: Verdicts, now: float,
    ports: Mapping[str, int] | None = None, outage_hint: Text | None = None,
) -> Ladder:
    """Judge every rung for one device.

    ``ports`` maps protocols to the TCP port this service listens on (:func:`listen_ports` of the
    ``[listen]`` table; the default table's, else the codec registry's default port). ``outage_hint``
    (a mass outage is being worked on) replaces the fix of a rung the mobile network decides.
    """
    f = _Facts(snapshot, verdicts, now, DEFAULT_PORTS if ports is None else ports)
    data = _data(f, outage_hint)
    sim = _sim(f)
    if outage_hint is not None and sim.status == "fail":
        sim = Rung(sim.id, sim.status, sim.detail, outage_hint)
    return Ladder((sim, _attach(f, outage_hint), data, _tcp(f, data), _identified(f), _decoded(f), _fix(f),
                   _clock(f)))
