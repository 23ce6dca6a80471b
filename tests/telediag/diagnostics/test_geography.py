"""Offline geography: countries near EU land borders, MCC and operator countries, plan coverage.

Border points lie 2-5 km from the border on each side (distance measured against the Natural Earth
polygons the module uses), placed at or beside known towns so the expected country is certain.
"""

from __future__ import annotations

import math
import threading

import pytest

from telediag.diagnostics.geography import (
    EU_COVERAGE_COUNTRIES,
    _country_at_rounded,
    country_at,
    country_of_mcc,
    country_of_operator,
    covered,
)

BORDER_POINTS = [
    # PL-DE: the Oder and the Neisse
    ("Frankfurt (Oder), west", 52.3400, 14.5000, "DE"),
    ("Slubice, east", 52.3500, 14.6200, "PL"),
    ("Goerlitz, west", 51.1550, 14.9500, "DE"),
    ("Zgorzelec, east", 51.1500, 15.0300, "PL"),
    ("Tantow, near Pomellen", 53.2667, 14.3500, "DE"),
    ("Kolbaskowo, near Szczecin", 53.3367, 14.4358, "PL"),
    ("Gryfino", 53.2500, 14.4900, "PL"),
    ("Lubieszyn, near Linken", 53.5100, 14.3500, "PL"),
    # PL-CZ
    ("Cieszyn, east", 49.7500, 18.6600, "PL"),
    ("Cesky Tesin, west", 49.7350, 18.5700, "CZ"),
    ("Kudowa-Zdroj", 50.4400, 16.2700, "PL"),
    ("Nachod", 50.4100, 16.1500, "CZ"),
    # PL-SK
    ("Chyzne", 49.4300, 19.6700, "PL"),
    ("Trstena", 49.3600, 19.6100, "SK"),
    ("Bukowina Tatrzanska", 49.3400, 20.1000, "PL"),
    ("Tatranska Javorina", 49.2600, 20.1400, "SK"),
    # PL-LT: the Suwalki gap
    ("Budzisko", 54.3000, 22.9700, "PL"),
    ("south of Kalvarija", 54.3600, 23.1000, "LT"),
    ("Punsk, west", 54.2500, 23.1600, "PL"),
    ("Sejny, east", 54.1100, 23.4000, "PL"),
    ("south-west of Lazdijai", 54.1700, 23.5000, "LT"),
    # DE-FR: the Rhine at Strasbourg/Kehl, and the Saar
    ("Strasbourg cathedral", 48.5818, 7.7509, "FR"),
    ("Kehl, east", 48.5700, 7.8500, "DE"),
    ("Saarbruecken, St. Arnual", 49.2250, 6.9900, "DE"),
    ("Forbach", 49.1800, 6.8800, "FR"),
]


@pytest.mark.parametrize(("place", "lat", "lon", "expected"), BORDER_POINTS, ids=[p[0] for p in BORDER_POINTS])
def test_country_near_eu_land_borders(place: str, lat: float, lon: float, expected: str) -> None:
    assert country_at(lat, lon) == expected, place


def test_country_inland_and_on_islands() -> None:
    assert country_at(52.2297, 21.0122) == "PL"  # Warsaw
    assert country_at(52.5200, 13.4050) == "DE"  # Berlin
    assert country_at(41.8900, 12.4900) == "IT"  # Rome
    assert country_at(60.1000, 19.9400) == "AX"  # Mariehamn, Aland
    assert country_at(40.7128, -74.0060) == "US"  # New York


def test_coastal_towns_are_land() -> None:
    assert country_at(54.3500, 18.6500) == "PL"  # Gdansk
    assert country_at(53.9100, 14.2500) == "PL"  # Swinoujscie
    assert country_at(54.6000, 18.8000) == "PL"  # Hel, a thin spit in the 1:10m coastline
    assert country_at(28.1235, -15.4363) == "ES"  # Las Palmas de Gran Canaria


def test_sea_is_no_country() -> None:
    assert country_at(55.5, 17.5) is None  # Baltic, between Gotland and Poland
    assert country_at(55.0, 19.0) is None  # Gdansk Bay, offshore
    assert country_at(45.0, -30.0) is None  # mid-Atlantic


@pytest.mark.parametrize(("lat", "lon"), [
    (91.0, 10.0), (-90.5, 10.0), (50.0, 180.5), (50.0, -181.0),
    (math.nan, 10.0), (50.0, math.nan), (math.inf, 0.0), (None, 10.0), ("x", 10.0),
])
def test_invalid_positions_are_no_country(lat: object, lon: object) -> None:
    assert country_at(lat, lon) is None  # type: ignore[arg-type]


def test_country_at_is_safe_from_many_threads() -> None:
    # cold lookups (each thread its own uncached positions) at the same time, then the same again alone
    grid = [(lat + i * 1e-3, lon - i * 1e-3) for i in range(40) for _, lat, lon, _ in BORDER_POINTS]
    jobs = [[(lat + 1e-4 * (t + 1), lon) for lat, lon in grid] for t in range(4)]
    answers: list[list[str | None]] = [[] for _ in jobs]

    def work(t: int) -> None:
        answers[t] = [country_at(lat, lon) for lat, lon in jobs[t]]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _country_at_rounded.cache_clear()
    assert answers == [[country_at(lat, lon) for lat, lon in job] for job in jobs]


@pytest.mark.parametrize(("mcc", "country"), [
    (260, "PL"), (262, "DE"), (230, "CZ"), (231, "SK"), (246, "LT"), (208, "FR"),
    (232, "AT"), (234, "GB"), (250, "RU"), (255, "UA"), (257, "BY"), (401, "KZ"),
    (302, "CA"), (310, "US"), (311, "US"), (334, "MX"), (460, "CN"), (505, "AU"),
])
def test_country_of_mcc(mcc: int, country: str) -> None:
    assert country_of_mcc(mcc) == country


def test_unknown_mcc_is_no_country() -> None:
    assert country_of_mcc(901) is None  # international networks
    assert country_of_mcc(0) is None
    assert country_of_mcc(999) is None
    assert country_of_mcc(True) is None  # type: ignore[arg-type]
    assert country_of_mcc("260") is None  # type: ignore[arg-type]


def test_country_of_operator() -> None:
    assert country_of_operator(26001) == "PL"
    assert country_of_operator(26203) == "DE"
    assert country_of_operator(310410) == "US"
    assert country_of_operator(23001) == "CZ"


@pytest.mark.parametrize("operator", [None, 0, 999, 9999, 1_000_000, -26001, 90112])
def test_bad_operator_is_no_country(operator: int | None) -> None:
    assert country_of_operator(operator) is None


def test_eu_coverage_countries() -> None:
    assert len({"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
                "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
                "IS", "LI", "NO"} - EU_COVERAGE_COUNTRIES) == 0
    for outside in ("CH", "GB", "UA", "BY", "RU", "RS", "TR", "US"):
        assert outside not in EU_COVERAGE_COUNTRIES


def test_covered_by_plan() -> None:
    assert covered("PL", "PL", "domestic") is True
    assert covered("DE", "PL", "domestic") is False
    assert covered("DE", "PL", "eu") is True
    assert covered("NO", "PL", "eu") is True
    assert covered("CH", "PL", "eu") is False
    assert covered("UA", "PL", "eu") is False
    assert covered("CH", "CH", "eu") is True  # home is always covered
    assert covered("US", "PL", "world") is True
    assert covered("de", "pl", "EU") is True  # case does not matter


def test_covered_is_unknown_without_the_inputs() -> None:
    assert covered(None, "PL", "eu") is None  # position unknown
    assert covered("DE", "PL", None) is None
    assert covered("DE", "PL", "galaxy") is None
    assert covered("DE", None, "domestic") is None
    assert covered("CH", None, "eu") is None  # covered only if CH were home
    assert covered("DE", None, "eu") is True  # in the EU whatever the home
    assert covered("US", None, "world") is True


def test_position_to_coverage_end_to_end() -> None:
    # a Polish SIM on a domestic plan, parked in Frankfurt (Oder) 4 km past the border
    assert covered(country_at(52.34, 14.50), country_of_operator(26001), "domestic") is False
    # the same vehicle in Slubice, on the Polish bank
    assert covered(country_at(52.35, 14.62), country_of_operator(26001), "domestic") is True
