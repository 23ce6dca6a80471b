"""After the poison: every endpoint for every role, the CLI, the sweep, the export and the webhooks work
for the poisoned device and for the others, and no role reads what it must not, in keys or in text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile import tally
from tests.hostile.seed import api_call
from tests.hostile.server import (
    ACME,
    BETA,
    BETA_DEVICE,
    CONTACTS,
    HEALTHY,
    PERSONAL_VALUES,
    PLATES,
    POISONED,
    ROLES,
    HostileServer,
    wait_for,
)
from tests.integration.harness import run_cli

pytestmark = pytest.mark.slow

ACME_DEVICES = (POISONED, HEALTHY)
TELEMETRY_ROLES = {"admin", "technical", "it", "customer", "customer_b"}
_POSITION_OR_TELEMETRY_WORDS = re.compile(
    r"(^|_)(lat|lon|latitude|longitude|altitude|speed|kmh|satellites|hdop|voltage|odometer|ignition|motion|"
    r"gsm|course)($|_)")
_POSITION_OR_TELEMETRY_KEYS = {"records", "attributes", "excerpt", "points", "track", "position", "positions",
                               "journeys"}
EXTRA_PERSONAL = ("601 222 333", "wx1234a")
"""Written by the customer into the ticket: a phone number and a plate as people type it."""


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def leaks(role: str, body: Any) -> list[str]:
    """What of ``body`` this role must not have received."""
    text = json.dumps(body, ensure_ascii=False).lower()
    found: list[str] = []
    if role in ("technical", "it"):
        found += [v for v in (*PERSONAL_VALUES, *EXTRA_PERSONAL) if v.lower() in text]
    if role == "customer_office":
        snake = [(k, re.sub(r"([a-z])([A-Z])", r"\1_\2", k).lower()) for k in keys(body)]
        found += [k for k, name in snake
                  if name in _POSITION_OR_TELEMETRY_KEYS or _POSITION_OR_TELEMETRY_WORDS.search(name)]
    if role in ("customer", "customer_office"):
        found += [k for k in keys(body) if k == "excerpt"]
    if role == "customer":
        found += [v for v in (BETA, PLATES[BETA_DEVICE], BETA_DEVICE, *CONTACTS[BETA]) if v.lower() in text]
    if role == "customer_b":
        found += [v for v in (ACME, *[PLATES[d] for d in ACME_DEVICES], *ACME_DEVICES, *CONTACTS[ACME])
                  if v.lower() in text]
    return found


def visible(role: str, imei: str) -> bool:
    return {"customer": imei in ACME_DEVICES, "customer_b": imei == BETA_DEVICE}.get(role, True)


def expectations(hostile: HostileServer, tickets: dict[int, str]) -> Iterator[tuple[str, str, set[int]]]:
    """(role, path, acceptable statuses) for every GET endpoint."""
    for role in ROLES:
        yield role, "/healthz", {200}
        yield role, "/api/v1/devices", {200}
        yield role, "/api/v1/findings?active=all", {200}
        yield role, "/api/v1/tickets", {200}
        for imei in (POISONED, HEALTHY, BETA_DEVICE):
            seen = visible(role, imei)
            yield role, f"/api/v1/devices/{imei}", {200} if seen else {404}
            yield role, f"/api/v1/devices/{imei}/selfcheck", {200} if seen else {404}
            for tail in ("records", "journeys"):
                expected = ({200} if seen else {404}) if role in TELEMETRY_ROLES else {403}
                yield role, f"/api/v1/devices/{imei}/{tail}", expected
            yield role, f"/api/v1/findings?imei={imei}&active=all", {200} if seen else {200, 404}
            yield role, f"/api/v1/connectivity/events?imei={imei}", (
                {200} if seen else {404}) if role in TELEMETRY_ROLES - {"customer_b"} | {"customer_b"} else {403}
        for ticket_id, account in tickets.items():
            own = {"customer": account == ACME, "customer_b": account == BETA}.get(role, True)
            yield role, f"/api/v1/tickets/{ticket_id}", {200} if own else {404}


def wait_for_diagnosis(hostile: HostileServer) -> dict[tuple[str, str], dict]:
    def active() -> dict[tuple[str, str], dict] | None:
        status, body = api_call(hostile, "GET", "/api/v1/findings", "admin")
        assert status == 200, body
        found = {(f["imei"], f["code"]): f for f in body["findings"]}
        wanted = {(POISONED, "CLOCK_INVALID"), (HEALTHY, "EXTERNAL_POWER_LOST"), (HEALTHY, "PROTOCOL_ERRORS")}
        return found if wanted <= set(found) else None

    return wait_for(active, timeout=40, every=0.5)


def test_the_sweep_diagnoses_the_poisoned_device_and_the_rest_of_the_fleet(hostile: HostileServer) -> None:
    found = wait_for_diagnosis(hostile)
    assert found[(HEALTHY, "PROTOCOL_ERRORS")]["evidence"].get("excerpt")
    tickets = wait_for(lambda: api_call(hostile, "GET", "/api/v1/tickets?origin=auto", "admin")[1]["tickets"], 30)
    devices = {imei for t in tickets for imei in t["devices"]}
    assert {POISONED, HEALTHY} <= devices
    def delivered() -> set[str]:
        return {imei for event in hostile.webhooks.events for imei in (POISONED, HEALTHY) if imei in json.dumps(event)}

    assert wait_for(lambda: delivered() == {POISONED, HEALTHY}, timeout=30)


def test_every_endpoint_for_every_role_answers_without_5xx_or_leaks(hostile: HostileServer) -> None:
    wait_for_diagnosis(hostile)
    _, listed = api_call(hostile, "GET", "/api/v1/tickets", "admin")
    tickets = {t["id"]: t["account"] for t in listed["tickets"]}
    assert hostile.customer_ticket in tickets
    failures = []
    for role, path, statuses in expectations(hostile, tickets):
        status, body = api_call(hostile, "GET", path, role)
        problem = None
        if status not in statuses:
            problem = f"status {status}, expected {sorted(statuses)}: {str(body)[:200]}"
        elif status >= 400 and not (isinstance(body, dict) and set(body.get("error", {})) >= {"code", "message"}):
            problem = f"error without the JSON error shape: {body!r:.200}"
        elif status == 200 and (leaked := leaks(role, body)):
            problem = f"leaks {leaked[:5]}"
        category = "cross-account" if role.startswith("customer") and status == 404 else "role matrix"
        tally.count(category, failures=1 if problem else 0)
        if problem:
            failures.append(f"{role} GET {path}: {problem}")
    assert not failures, "\n".join(failures)


def test_ticket_texts_per_role(hostile: HostileServer) -> None:
    path = f"/api/v1/tickets/{hostile.customer_ticket}"
    _, own = api_call(hostile, "GET", path, "customer")
    assert "Jan Kowalski" in own["description"]  # the customer reads its own words
    for role in ("technical", "it"):
        status, seen = api_call(hostile, "GET", path, role)
        assert status == 200
        assert "[number removed]" in seen["description"] and f"device {HEALTHY}" in seen["description"]
        tally.count("role matrix")
    _, auto = api_call(hostile, "GET", f"/api/v1/tickets?imei={POISONED}&origin=auto", "technical")
    assert auto["tickets"] and all(PLATES[POISONED] not in t["title"] for t in auto["tickets"])
    _, auto = api_call(hostile, "GET", f"/api/v1/tickets?imei={POISONED}&origin=auto", "customer")
    assert any(PLATES[POISONED] in t["title"] for t in auto["tickets"])


def test_other_accounts_cannot_write_either(hostile: HostileServer) -> None:
    attempts = [
        ("customer_b", "POST", "/api/v1/tickets", {"devices": [HEALTHY], "description": "mine?"}, 404),
        ("customer_b", "POST", f"/api/v1/tickets/{hostile.customer_ticket}/comments", {"text": "hello"}, 404),
        ("customer_b", "PATCH", f"/api/v1/tickets/{hostile.customer_ticket}", {"state": "open"}, 404),
        ("customer_b", "POST", f"/api/v1/tickets/{hostile.customer_ticket}/close", {"rating": "good"}, 404),
        ("customer", "POST", "/api/v1/tickets", {"devices": [BETA_DEVICE], "description": "mine?"}, 404),
        ("customer", "GET", f"/api/v1/connectivity/events?imei={BETA_DEVICE}", None, 404),
    ]
    failures = []
    for role, method, path, body, expected in attempts:
        status, answer = api_call(hostile, method, path, role, body)
        tally.count("cross-account", failures=0 if status == expected else 1)
        if status != expected:
            failures.append(f"{role} {method} {path}: {status} {answer}")
    assert not failures, failures


@pytest.mark.parametrize("args", [
    ["records", POISONED], ["records", POISONED, "--format", "csv"], ["selfcheck", POISONED],
    ["selfcheck", POISONED, "--json"], ["devices", "list"], ["devices", "show", POISONED],
    ["tickets", "list"], ["records", HEALTHY],
])
def test_every_cli_command_works_for_the_poisoned_store(hostile: HostileServer, args: list[str]) -> None:
    done = run_cli([*args, "--data-dir", str(hostile.server.data_dir)])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stdout.strip()


def test_the_export_carries_the_poisoned_device_and_the_others(hostile: HostileServer) -> None:
    def exported() -> set[str]:
        return {series["metric"].get("imei") for series in hostile.vm.export()}

    assert wait_for(lambda: {POISONED, HEALTHY, BETA_DEVICE} <= exported(), timeout=30)
