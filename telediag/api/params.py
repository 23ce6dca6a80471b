"""Query-string parameters: typed, bounded, and strict about names.

Unknown or repeated parameters are a 400, so a typo such as ``?acount=`` is reported instead of
silently returning an unfiltered list.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from protocols.record import parse_iso_utc
from telediag.api.errors import bad_request

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
"""Records (and other list items) one response carries at most; ``truncated`` says when more exist."""
MAX_ITEMS_PER_POST = 10_000
"""Events or devices one POST may carry."""

IMEI = re.compile(r"[0-9]{14,17}")
"""An IMEI (14 digits without, 15 with the check digit) or IMEISV, in ASCII digits: ``\\d`` and
``str.isdigit`` also take other scripts' digits, which ``int()`` then reads as ASCII ones."""

_MAX_VALUE_CHARS = 200
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_WHOLE = re.compile(r"[0-9]{1,9}")


class Query:
    """The query parameters of one request, consumed by name; ``finish`` rejects the rest."""

    def __init__(self, uri: bytes) -> None:
        raw = urlsplit(uri.decode("latin-1")).query
        try:
            parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
        except ValueError:
            raise bad_request("too many query parameters", code="invalid_parameter") from None
        self._values: dict[str, str] = {}
        for name, values in parsed.items():
            if len(values) > 1:
                raise bad_request(f"query parameter {name!r} is given more than once", code="invalid_parameter")
            if len(values[0]) > _MAX_VALUE_CHARS:
                raise bad_request(f"query parameter {name!r} is too long", code="invalid_parameter")
            self._values[name] = values[0]
        self._known: list[str] = []

    def text(self, name: str) -> str | None:
        """A text value; an empty one counts as absent."""
        self._known.append(name)
        value = self._values.get(name, "").strip()
        return value or None

    def time(self, name: str) -> float | None:
        """An ISO 8601 time as epoch seconds (UTC when no zone is given)."""
        value = self.text(name)
        if value is None:
            return None
        try:
            return parse_iso_utc(value)
        except ValueError:
            raise bad_request(f"{name} {value!r} is not an ISO 8601 time, e.g. 2026-01-31T08:00:00Z",
                              code="invalid_parameter") from None

    def window(self) -> tuple[float | None, float | None]:
        """``since`` (inclusive) and ``until`` (exclusive)."""
        since, until = self.time("since"), self.time("until")
        if since is not None and until is not None and since >= until:
            raise bad_request("since must be before until", code="invalid_parameter")
        return since, until

    def limit(self) -> int:
        """``limit``: 1..MAX_LIMIT, DEFAULT_LIMIT when absent."""
        value = self.text("limit")
        if value is None:
            return DEFAULT_LIMIT
        if not _WHOLE.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
            raise bad_request(f"limit must be a whole number from 1 to {MAX_LIMIT}", code="invalid_parameter")
        return int(value)

    def active(self) -> bool | None:
        """``active``: true (default), false, or all (None)."""
        value = (self.text("active") or "true").lower()
        choices = {"true": True, "false": False, "all": None}
        if value not in choices:
            raise bad_request("active must be true, false or all", code="invalid_parameter")
        return choices[value]

    def code(self) -> str | None:
        """A finding code such as ``GPS_NO_FIX``."""
        value = self.text("code")
        if value is not None and not _CODE.fullmatch(value):
            raise bad_request(f"code {value!r} is not a finding code such as GPS_NO_FIX", code="invalid_parameter")
        return value

    def finish(self) -> None:
        """400 naming every parameter the endpoint does not take."""
        unknown = sorted(set(self._values) - set(self._known))
        if unknown:
            known = ", ".join(self._known) or "none"
            raise bad_request(f"unknown query parameter(s) {', '.join(unknown)}; this endpoint takes: {known}",
                              code="invalid_parameter")
