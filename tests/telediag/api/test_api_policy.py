"""The output filters on their own: key names in any spelling and nesting, pseudonym stability."""

from __future__ import annotations

from pathlib import Path

import pytest

from telediag.api.auth import Principal
from telediag.api.errors import ApiError
from telediag.api.policy import ENDPOINT_ROLES, account_filter, check_allowed, filter_body
from telediag.api.pseudonyms import Pseudonymiser, load_or_create_secret
from telediag.api.tokens import ROLES

PSEUDONYMS = Pseudonymiser(b"k" * 32)
BODY = {
    "imei": "356307042441013",
    "lastLat": 1.0, "last-lon": 2.0, "Latitude": 3.0, "end_lng": 4.0, "geometry": {"type": "LineString"},
    "speed_kmh": 5.0, "extVoltageV": 12.0, "course_deg": 90, "attributes": {"io66": 1},
    "nested": [{"evidence": {"track": [[1, 2]], "hdop": 9, "satellites": 3, "ok": True}}],
    "account": "Acme", "accounts": ["Acme", "Beta"], "owner": {"account": {"name": "Acme", "email": "a@b.example"}},
    "contactName": "Jan", "E-mail": "jan@acme.example", "phone_number": "+48", "MSISDN": "48600",
    "driver_name": "Ola", "vehicle_plate": "WX1", "text": "mail jan@acme.example now", "platform": "ok",
}


def test_customer_office_loses_every_position_and_telemetry_key() -> None:
    out = filter_body(Principal("customer_office"), BODY, PSEUDONYMS)
    assert set(out) == {"imei", "nested", "account", "accounts", "owner", "contactName", "E-mail",
                        "phone_number", "MSISDN", "driver_name", "vehicle_plate", "text", "platform"}
    assert out["nested"] == [{"evidence": {"ok": True}}]
    assert BODY["lastLat"] == 1.0, "the input is not changed"


@pytest.mark.parametrize("role", ["technical", "it"])
def test_technical_and_it_get_pseudonyms_and_no_contact_data(role: str) -> None:
    out = filter_body(Principal(role), BODY, PSEUDONYMS)
    acme, beta = PSEUDONYMS.account("Acme"), PSEUDONYMS.account("Beta")
    assert out["account"] == acme and out["accounts"] == [acme, beta]
    assert out["owner"] == {"account": {"name": acme}}
    assert out["text"] == "mail [e-mail removed] now"
    for key in ("contactName", "E-mail", "phone_number", "MSISDN", "driver_name", "vehicle_plate"):
        assert key not in out
    assert out["lastLat"] == 1.0, "technical staff see positions"


def test_admin_and_customer_see_the_body_as_is() -> None:
    assert filter_body(Principal("admin"), BODY, PSEUDONYMS) is BODY
    assert filter_body(Principal("customer", "Acme"), BODY, PSEUDONYMS) == BODY


@pytest.mark.parametrize("role, sees", [("customer", False), ("customer_office", False), ("technical", True),
                                        ("it", True), ("admin", True)])
def test_raw_frame_excerpts_only_for_technical_it_and_admin(role: str, sees: bool) -> None:
    body = {"findings": [{"code": "PROTOCOL_ERRORS", "evidence": {"message": "bad CRC", "excerpt": "00ff"}}]}
    out = filter_body(Principal(role, "Acme"), body, PSEUDONYMS)
    assert ("excerpt" in out["findings"][0]["evidence"]) is sees
    assert out["findings"][0]["evidence"]["message"] == "bad CRC"


def test_pseudonyms_are_stable_keyed_and_resolvable(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == secret
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    first, again = Pseudonymiser(secret), Pseudonymiser(secret)
    assert first.account("Acme") == again.account("Acme") != Pseudonymiser(b"x" * 32).account("Acme")
    assert Pseudonymiser.looks_like(first.account("Acme"))
    assert first.resolve(first.account("Acme"), ["Beta", "Acme"]) == {"Acme"}
    (tmp_path / "pseudonym.key").write_bytes(b"short")
    with pytest.raises(ValueError):
        load_or_create_secret(tmp_path)


def test_every_role_and_endpoint_is_in_the_table() -> None:
    assert all(roles <= set(ROLES) for roles in ENDPOINT_ROLES.values())
    assert all("admin" in roles for roles in ENDPOINT_ROLES.values())
    with pytest.raises(ApiError) as refused:
        check_allowed(Principal("customer_office"), "device.records")
    assert refused.value.status == 403


def test_account_filters() -> None:
    names = lambda: ["Acme", "Beta"]  # noqa: E731
    assert account_filter(Principal("customer", "Acme"), None, names, PSEUDONYMS) == {"Acme"}
    assert account_filter(Principal("customer", "Acme"), "Beta", names, PSEUDONYMS) == set()
    assert account_filter(Principal("admin"), None, names, PSEUDONYMS) is None
    assert account_filter(Principal("it"), PSEUDONYMS.account("Beta"), names, PSEUDONYMS) == {"Beta"}
    with pytest.raises(ApiError):
        account_filter(Principal("technical"), "Beta", names, PSEUDONYMS)
