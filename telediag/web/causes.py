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
what it usually means and what to look at. Pure data and lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

GMM_CAUSES: dict[int, str] = {
    2: "IMSI unknown in HLR",
    3: "Illegal MS",
    5: "IMEI not accepted",
    6: "Illegal ME",
    7: "GPRS services not allowed",
    8: "GPRS services and non-GPRS services not allowed",
    9: "MS identity cannot be derived by the network",
    10: "Implicitly detached",
    11: "PLMN not allowed",
    12: "Location area not allowed",
    13: "Roaming not allowed in this location area",
    14: "GPRS services not allowed in this PLMN",
    15: "No suitable cells in location area",
    16: "MSC temporarily not reachable",
    17: "Network failure",
    20: "MAC failure",
    21: "Synch failure",
    22: "Congestion",
    23: "GSM authentication unacceptable",
    25: "Not authorized for this CSG",
    28: "SMS provided via GPRS in this routing area",
    40: "No PDP context activated",
    95: "Semantically incorrect message",
    96: "Invalid mandatory information",
    97: "Message type non-existent or not implemented",
    98: "Message type not compatible with the protocol state",
    99: "Information element non-existent or not implemented",
    100: "Conditional IE error",
    101: "Message not compatible with the protocol state",
    111: "Protocol error, unspecified",
}
"""TS 24.008 section 10.5.5.14 (GPRS mobility management)."""

EMM_CAUSES: dict[int, str] = {
    **GMM_CAUSES,
    2: "IMSI unknown in HSS",
    3: "Illegal UE",
    7: "EPS services not allowed",
    8: "EPS services and non-EPS services not allowed",
    9: "UE identity cannot be derived by the network",
    12: "Tracking area not allowed",
    13: "Roaming not allowed in this tracking area",
    14: "EPS services not allowed in this PLMN",
    15: "No suitable cells in tracking area",
    18: "CS domain not available",
    19: "ESM failure",
    23: "UE security capabilities mismatch",
    24: "Security mode rejected, unspecified",
    26: "Non-EPS authentication unacceptable",
    31: "Redirection to 5GCN required",
    35: "Requested service option not authorized in this PLMN",
    39: "CS service temporarily not available",
    40: "No EPS bearer context activated",
    42: "Severe network failure",
    78: "PLMN not allowed to operate at the present UE location",
}
"""TS 24.301 section 9.9.3.9 (EPS mobility management)."""
del EMM_CAUSES[28]  # GMM only

SM_CAUSES: dict[int, str] = {
    8: "Operator determined barring",
    24: "MBMS bearer capabilities insufficient for the service",
    25: "LLC or SNDCP failure",
    26: "Insufficient resources",
    27: "Missing or unknown APN",
    28: "Unknown PDP address or PDP type",
    29: "User authentication failed",
    30: "Activation rejected by GGSN, Serving GW or PDN GW",
    31: "Activation rejected, unspecified",
    32: "Service option not supported",
    33: "Requested service option not subscribed",
    34: "Service option temporarily out of order",
    35: "NSAPI already used",
    36: "Regular deactivation",
    37: "QoS not accepted",
    38: "Network failure",
    39: "Reactivation requested",
    40: "Feature not supported",
    41: "Semantic error in the TFT operation",
    42: "Syntactical error in the TFT operation",
    43: "Unknown PDP context",
    44: "Semantic errors in packet filter(s)",
    45: "Syntactical errors in packet filter(s)",
    46: "PDP context without TFT already activated",
    47: "Multicast group membership time-out",
    48: "Request rejected, bearer control mode violation",
    50: "PDP type IPv4 only allowed",
    51: "PDP type IPv6 only allowed",
    52: "Single address bearers only allowed",
    56: "Collision with network initiated request",
    60: "Bearer handling not supported",
    65: "Maximum number of PDP contexts reached",
    66: "Requested APN not supported in current RAT and PLMN combination",
    81: "Invalid transaction identifier value",
    95: "Semantically incorrect message",
    96: "Invalid mandatory information",
    97: "Message type non-existent or not implemented",
    98: "Message type not compatible with the protocol state",
    99: "Information element non-existent or not implemented",
    100: "Conditional IE error",
    101: "Message not compatible with the protocol state",
    111: "Protocol error, unspecified",
    112: "APN restriction value incompatible with active PDP context",
    113: "Multiple accesses to a PDN connection not allowed",
}
"""TS 24.008 section 10.5.6.6 (session management)."""

ESM_CAUSES: dict[int, str] = {
    **SM_CAUSES,
    28: "Unknown PDN type",
    30: "Request rejected by Serving GW or PDN GW",
    31: "Request rejected, unspecified",
    35: "PTI already in use",
    37: "EPS QoS not accepted",
    43: "Invalid EPS bearer identity",
    47: "PTI mismatch",
    49: "Last PDN disconnection not allowed",
    50: "PDN type IPv4 only allowed",
    51: "PDN type IPv6 only allowed",
    53: "ESM information not received",
    54: "PDN connection does not exist",
    55: "Multiple PDN connections for a given APN not allowed",
    57: "PDN type IPv4v6 only allowed",
    58: "PDN type non IP only allowed",
    59: "Unsupported QCI value",
    65: "Maximum number of EPS bearers reached",
    81: "Invalid PTI value",
    112: "APN restriction value incompatible with active EPS bearer context",
}
"""TS 24.301 section 9.9.4.4 (EPS session management)."""
for _gone in (24, 25, 40, 46, 48):  # GPRS/MBMS only
    del ESM_CAUSES[_gone]

MM_MEANING: dict[int, str] = {
    2: "The network does not know this SIM: it is not activated yet, or it was deactivated.",
    3: "The network refuses this SIM: it is barred. Ask the operator why.",
    6: "The network refuses this device (its IMEI is barred).",
    7: "The SIM has no data service. Ask the operator to enable data on it.",
    11: "The SIM may not use this network, typically abroad without roaming on the plan.",
    12: "The SIM may not use the network in this area.",
    13: "Roaming is not allowed for this SIM here: enable roaming, or the zone, on the plan.",
    14: "The SIM has no data service on this network (roaming data not enabled).",
    15: "There is no network cell this SIM may use here; it keeps searching.",
    17: "The operator's network failed to answer; this usually passes.",
    22: "The network is congested; the device will try again.",
}
"""What a mobility management cause usually means for a tracker."""

SM_MEANING: dict[int, str] = {
    8: "The operator has barred data for this SIM (suspended, unpaid or a blocked plan).",
    26: "The network had no resources for the data session; this usually passes.",
    27: "The APN set in the tracker is wrong or unknown to the operator: set the SIM's APN in the tracker.",
    29: "The APN user name or password set in the tracker is wrong.",
    33: "The SIM's plan does not include this APN or data service: check the APN, or the plan.",
    38: "The operator's network failed; this usually passes.",
}
"""What a session management cause usually means for a tracker."""

FOURTH_GENERATION = frozenset({"4G", "LTE", "LTE-M", "LTEM", "CAT-M1", "CATM1", "NB-IOT", "NBIOT", "5G", "NR"})
"""Radio access types whose causes come from TS 24.301 (EMM, ESM) rather than TS 24.008."""

EVENT_WORDS: dict[str, str] = {
    "attach": "Attached to the network",
    "attach_reject": "Attach rejected",
    "location_update": "Location update",
    "pdp_create": "Data session opened",
    "pdp_reject": "Data session rejected",
    "pdp_delete": "Data session closed",
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
        name = "Retry upon entry into a new cell" if 48 <= cause <= 63 and table is GMM_CAUSES else "Unknown cause"
    return Cause(cause, name, clause, meaning)
