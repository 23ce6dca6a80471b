"""The trackers a signed-in person may see, for the console's pages (one tracker's page gathers its
own parts: ``telediag.web.device_detail``).

Everything goes through the same read functions and the same policy as the JSON API
(``telediag.api.reads``, ``telediag.api.policy``): another account's tracker is a 404 exactly as in
the API, and a role that may not see positions or personal data gets neither on a page either.
Each tracker's status comes from its active findings, as the self-check's verdict would say it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telediag.api import policy, reads
from telediag.api.auth import Principal
from telediag.api.backend import ApiBackend
from telediag.diagnostics.catalogue import FINDINGS
from telediag.store.reader import Reader

MAX_LISTED = 500
"""Trackers one page lists; the page says when there are more (paging comes with the fleet views)."""
_STATUS = {"fail": "problem", "warn": "attention"}


ReaderWork = Callable[[Reader], dict[str, Any]]


def tracker_list(api: ApiBackend, principal: Principal) -> ReaderWork:
    """Reader-thread work: ``{"devices": [...], "truncated"}``, each visible tracker with a status."""

    def run(reader: Reader) -> dict[str, Any]:
        listed = reads.devices_with_state(reader, principal, None, MAX_LISTED, api.pseudonyms)
        imeis = {device["imei"] for device in listed["devices"]}
        worst: dict[str, str] = {}
        for finding in api.diagnostics.findings(imeis, None, True) if imeis else []:
            spec = FINDINGS.get(finding["code"])
            if spec is None:
                continue
            if worst.get(finding["imei"]) != "fail":
                worst[finding["imei"]] = spec.status
        for device in listed["devices"]:
            device["status"] = _STATUS.get(worst.get(device["imei"], ""), "ok")
        return listed

    return run


def visible_part(api: ApiBackend, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """What of ``body`` this principal may see: the API's own output filter."""
    visible: dict[str, Any] = policy.filter_body(principal, body, api.pseudonyms)
    return visible
