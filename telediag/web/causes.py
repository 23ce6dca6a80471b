"""3GPP reject causes in words, for the connectivity timeline on a tracker's page.

An operator's connectivity platform reports a rejected attach or data session with a bare cause
number (``telediag.diagnostics.connectivity_events``). The same number means different things in
different layers, so the table is chosen by the event:

- ``attach_reject``: a mobility management cause. 2G/3G: GMM cause, 3GPP TS 24.008 section
  10.5.5.14; LTE, LTE-M, NB-IoT (and 5G, whose 5GMM causes in TS 24.501 keep these numbers): EMM
  cause, TS 24.301 section 9.9.3.9.
- ``pdp_reject`` (and ``pdp_delete`` with a cause): a session management cause. 2G/3G: SM cause,
  TS 24.008 section 10.5.6.6; 4G: ESM cause, TS 24.301 section 9.9.4.4 (same numbers, a few names
  differ).

The names are the specifications' own; for the causes a tracker meets most, a plain sentence says
what it usually means and what to look at. Names, meanings and event words are marked ``N_`` for the
catalogues (``make messages``) and stay English here: the page says them in its reader's language
(``telediag.web.device_view``). The clause is a reference into the specifications and is not
translated. Pure data and lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

from telediag.diagnostics.wording import N_

PROTOCOL_ERRORS: dict[int, str] = {
    95: N_("Semantically incorrect message"),
    96: N_("Invalid mandatory information"),
    97: N_("Message type non-existent or not implemented"),
    98: N_("Message type not compatible with the protocol state"),
    99: N_("Information element non-existent or not implemented"),
    100: N_("Conditional IE error"),
    101: N_("Message not compatible with the protocol state"),
    111: N_("Protocol error, unspecified"),
}
"""Causes 95 to 111: a message the protocol does not allow. Every table here has them with the same
numbers and names (TS 24.008 10.5.5.14 and 10.5.6.6, TS 24.301 9.9.3.9 and 9.9.4.4)."""

GMM_CAUSES: dict[int, str] = {
    2: N_("IMSI unknown in HLR"),
    3: N_("Illegal MS"),
    5: N_("IMEI not accepted"),
    6: N_("Illegal ME"),
    7: N_("GPRS services not allowed"),
    8: N_("GPRS services and non-GPRS services not allowed"),
    9: N_("MS identity cannot be derived by the network"),
    10: N_("Implicitly detached"),
    11: N_("PLMN not allowed"),
    12: N_("Location area not allowed"),
    13: N_("Roaming not allowed in this location area"),
    14: N_("GPRS services not allowed in this PLMN"),
    15: N_("No suitable cells in location area"),
    16: N_("MSC temporarily not reachable"),
    17: N_("Network failure"),
    20: N_("MAC failure"),
    21: N_("Synch failure"),
    22: N_("Congestion"),
    23: N_("GSM authentication unacceptable"),
    25: N_("Not authorized for this CSG"),
    28: N_("SMS provided via GPRS in this routing area"),
    40: N_("No PDP context activated"),
    **PROTOCOL_ERRORS,
}
"""TS 24.008 section 10.5.5.14 (GPRS mobility management)."""

EMM_CAUSES: dict[int, str] = {
    **GMM_CAUSES,
    2: N_("IMSI unknown in HSS"),
    3: N_("Illegal UE"),
    7: N_("EPS services not allowed"),
    8: N_("EPS services and non-EPS services not allowed"),
    9: N_("UE identity cannot be derived by the network"),
    12: N_("Tracking area not allowed"),
    13: N_("Roaming not allowed in this tracking area"),
    14: N_("EPS services not allowed in this PLMN"),
    15: N_("No suitable cells in tracking area"),
    18: N_("CS domain not available"),
    19: N_("ESM failure"),
    23: N_("UE security capabilities mismatch"),
    24: N_("Security mode rejected, unspecified"),
    26: N_("Non-EPS authentication unacceptable"),
    31: N_("Redirection to 5GCN required"),
    35: N_("Requested service option not authorized in this PLMN"),
    39: N_("CS service temporarily not available"),
    40: N_("No EPS bearer context activated"),
    42: N_("Severe network failure"),
    78: N_("PLMN not allowed to operate at the present UE location"),
}
"""TS 24.301 section 9.9.3.9 (EPS mobility management)."""
del EMM_CAUSES[28]  # GMM only

SM_CAUSES: dict[int, str] = {
    8: N_("Operator determined barring"),
    24: N_("MBMS bearer capabilities insufficient for the service"),
    25: N_("LLC or SNDCP failure"),
    26: N_("Insufficient resources"),
    27: N_("Missing or unknown APN"),
    28: N_("Unknown PDP address or PDP type"),
    29: N_("User authentication failed"),
    30: N_("Activation rejected by GGSN, Serving GW or PDN GW"),
    31: N_("Activation rejected, unspecified"),
    32: N_("Service option not supported"),
    33: N_("Requested service option not subscribed"),
    34: N_("Service option temporarily out of order"),
    35: N_("NSAPI already used"),
    36: N_("Regular deactivation"),
    37: N_("QoS not accepted"),
    38: N_("Network failure"),
    39: N_("Reactivation requested"),
    40: N_("Feature not supported"),
    41: N_("Semantic error in the TFT operation"),
    42: N_("Syntactical error in the TFT operation"),
    43: N_("Unknown PDP context"),
    44: N_("Semantic errors in packet filter(s)"),
    45: N_("Syntactical errors in packet filter(s)"),
    46: N_("PDP context without TFT already activated"),
    47: N_("Multicast group membership time-out"),
    48: N_("Request rejected, bearer control mode violation"),
    50: N_("PDP type IPv4 only allowed"),
    51: N_("PDP type IPv6 only allowed"),
    52: N_("Single address bearers only allowed"),
    56: N_("Collision with network initiated request"),
    60: N_("Bearer handling not supported"),
    65: N_("Maximum number of PDP contexts reached"),
    66: N_("Requested APN not supported in current RAT and PLMN combination"),
    81: N_("Invalid transaction identifier value"),
    **PROTOCOL_ERRORS,
    112: N_("APN restriction value incompatible with active PDP context"),
    113: N_("Multiple accesses to a PDN connection not allowed"),
}
"""TS 24.008 section 10.5.6.6 (session management)."""

ESM_CAUSES: dict[int, str] = {
    **SM_CAUSES,
    28: N_("Unknown PDN type"),
    30: N_("Request rejected by Serving GW or PDN GW"),
    31: N_("Request rejected, unspecified"),
    35: N_("PTI already in use"),
    37: N_("EPS QoS not accepted"),
    43: N_("Invalid EPS bearer identity"),
    47: N_("PTI mismatch"),
    49: N_("Last PDN disconnection not allowed"),
    50: N_("PDN type IPv4 only allowed"),
    51: N_("PDN type IPv6 only allowed"),
    53: N_("ESM information not received"),
    54: N_("PDN connection does not exist"),
    55: N_("Multiple PDN connections for a given APN not allowed"),
    57: N_("PDN type IPv4v6 only allowed"),
    58: N_("PDN type non IP only allowed"),
    59: N_("Unsupported QCI value"),
    65: N_("Maximum number of EPS bearers reached"),
    81: N_("Invalid PTI value"),
    112: N_("APN restriction value incompatible with active EPS bearer context"),
}
"""TS 24.301 section 9.9.4.4 (EPS session management)."""
for _gone in (24, 25, 40, 46, 48):  # GPRS/MBMS only
    del ESM_CAUSES[_gone]

MM_MEANING: dict[int, str] = {
    2: N_("The network does not know this SIM: it is not activated yet, or it was deactivated."),
    3: N_("The network refuses this SIM: it is barred. Ask the operator why."),
    6: N_("The network refuses this device (its IMEI is barred)."),
    7: N_("The SIM has no data service. Ask the operator to enable data on it."),
    11: N_("The SIM may not use this network, typically abroad without roaming on the plan."),
    12: N_("The SIM may not use the network in this area."),
    13: N_("Roaming is not allowed for this SIM here: enable roaming, or the zone, on the plan."),
    14: N_("The SIM has no data service on this network (roaming data not enabled)."),
    15: N_("There is no network cell this SIM may use here; it keeps searching."),
    17: N_("The operator's network failed to answer; this usually passes."),
    22: N_("The network is congested; the device will try again."),
}
"""What a mobility management cause usually means for a tracker."""

SM_MEANING: dict[int, str] = {
    8: N_("The operator has barred data for this SIM (suspended, unpaid or a blocked plan)."),
    26: N_("The network had no resources for the data session; this usually passes."),
    27: N_("The APN set in the tracker is wrong or unknown to the operator: set the SIM's APN in the tracker."),
    29: N_("The APN user name or password set in the tracker is wrong."),
    33: N_("The SIM's plan does not include this APN or data service: check the APN, or the plan."),
    38: N_("The operator's network failed; this usually passes."),
}
"""What a session management cause usually means for a tracker."""

FOURTH_GENERATION = frozenset({"4G", "LTE", "LTE-M", "LTEM", "CAT-M1", "CATM1", "NB-IOT", "NBIOT", "5G", "NR"})
"""Radio access types whose causes come from TS 24.301 (EMM, ESM) rather than TS 24.008."""

EVENT_WORDS: dict[str, str] = {
    "attach": N_("Attached to the network"),
    "attach_reject": N_("Attach rejected"),
    "location_update": N_("Location update"),
    "pdp_create": N_("Data session opened"),
    "pdp_reject": N_("Data session rejected"),
    "pdp_delete": N_("Data session closed"),
}


@dataclass(frozen=True)
class Cause:
    """A cause number in words: its name in the specification, the clause, and what it usually means."""

    code: int
    name: str
    clause: str
    meaning: str | None


def explain(event_type: str, cause: int | None, rat: str | None = None) -> Cause | None:
    """The cause of one event in words; None without a cause. An unknown number still says which
    table it was looked up in."""
    if cause is None or isinstance(cause, bool) or not isinstance(cause, int):
        return None
    lte = (rat or "").strip().upper() in FOURTH_GENERATION
    if event_type == "attach_reject" or (event_type not in ("pdp_reject", "pdp_delete", "pdp_create")):
        table, clause = (EMM_CAUSES, "EMM cause, TS 24.301 9.9.3.9") if lte else \
            (GMM_CAUSES, "GMM cause, TS 24.008 10.5.5.14")
        meaning = MM_MEANING.get(cause)
    else:
        table, clause = (ESM_CAUSES, "ESM cause, TS 24.301 9.9.4.4") if lte else \
            (SM_CAUSES, "SM cause, TS 24.008 10.5.6.6")
        meaning = SM_MEANING.get(cause)
    name = table.get(cause)
    if name is None:
        retry = 48 <= cause <= 63 and table is GMM_CAUSES
        name = N_("Retry upon entry into a new cell") if retry else N_("Unknown cause")
    return Cause(cause, name, clause, meaning)
