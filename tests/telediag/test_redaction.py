"""Personal data inside free text, masked for technical and IT staff."""

from __future__ import annotations

import pytest

from telediag.redaction import EMAIL_MASK, NAME_MASK, NUMBER_MASK, PersonalData, mask_text

IMEI = "356307042441013"
PERSONAL = PersonalData(plates={"GD 49668": IMEI, "WX 1234A": "356307042441021"},
                        names=frozenset({"Jan Kowalski", "Acme Logistics"}),
                        device_ids=frozenset({IMEI, "356307042441021"}))


def test_an_automatic_title_names_the_device_instead_of_the_plate() -> None:
    assert mask_text("No data since activation: GD 49668", PERSONAL) == f"No data since activation: device {IMEI}"


@pytest.mark.parametrize("written", ["GD 49668", "gd49668", "GD-49668", "Gd 4 9668"])
def test_plates_are_found_as_people_type_them(written: str) -> None:
    assert "49668" not in mask_text(f"my van {written} has no position", PERSONAL)


@pytest.mark.parametrize("number", ["+48 600 100 200", "600-100-200", "48600111222", "(22) 123 45 67",
                                    "+7 (912) 345-67-89", "0048600100200"])
def test_phone_numbers_and_msisdns_are_masked(number: str) -> None:
    masked = mask_text(f"call me on {number} after 5", PERSONAL)
    assert masked == f"call me on {NUMBER_MASK} after 5"


def test_names_and_e_mails_are_masked() -> None:
    text = "Jan Kowalski (jan.kowalski@acme.example) from ACME LOGISTICS asks"
    assert mask_text(text, PERSONAL) == f"{NAME_MASK} ({EMAIL_MASK}) from {NAME_MASK} asks"


def test_device_identifiers_dates_and_small_numbers_stay_readable() -> None:
    text = (f"IMEI {IMEI} and 490154203237518, ICCID 8948011234567890123, since 2026-11-23T08:00:05Z, "
            "voltage 12.4 V, 14 satellites, ticket 1234, odometer 152300 m")
    assert mask_text(text, PERSONAL) == text


def test_placeholders_cannot_be_forged() -> None:
    assert "\x00" not in mask_text("\x000\x00 +48 600 100 200", PERSONAL)
