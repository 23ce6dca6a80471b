"""Fleet health for the technical team: devices per active finding code, totals, and one page of
devices worst first, filtered by finding code, protocol, operator and account.

Everything is counted and sorted by SQLite, and every answer is bounded: the table is one page of at
most ``MAX_PAGE_SIZE`` rows, the choices of the filter form have limits, and the only per-device
Python work is on the rows of that one page. A device's status is the worst self-check status of its
active findings (``fail`` a problem, ``warn`` attention, none ok), as on the tracker pages.

A device's operator is the network its newest records report (the normalised ``operator``, MCC and
MNC as one number), else the network of its SIM's newest connectivity event: the registry's SIM
profile holds no operator. Only the newest few rows of either are looked at, so a device whose
protocol never reports an operator costs a few index steps, never its whole history.

Account names pass through unchanged here; the pages run the answer through the API's output filter
(``telediag.api.policy.filter_body``), which gives technical and IT staff pseudonyms instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from protocols.record import iso_utc
from telediag.api import policy
from telediag.api.auth import Principal
from telediag.api.pseudonyms import Pseudonymiser
from telediag.api.reads import account_names
from telediag.diagnostics.catalogue import DEVICE_CODES, FINDINGS
from telediag.store.reader import Reader

FLEET_ROLES = frozenset({"technical", "it", "admin"})
"""Who may see the fleet page (the customer and the customer office get the 404 page)."""
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
PAGE_SIZES = (25, 50, 100, 200)
"""Page sizes the form offers; any size from 1 to ``MAX_PAGE_SIZE`` is accepted in the query."""
MAX_PAGE = 1_000_000
MAX_CHOICES = 300
"""Protocols, operators and accounts the filter form lists as choices at most."""
RECENT_ROWS = 5
"""Newest records (and connectivity events) looked at for a device's operator."""

RANK = {"fail": 2, "warn": 1}
STATUS_OF_RANK = {2: "problem", 1: "attention", 0: "ok"}
_PROTOCOL = re.compile(r"[a-z0-9_\-]{1,32}")
_OPERATOR_CODE = re.compile(r"[0-9]{5,6}")
_MAX_ACCOUNT_CHARS = 200

_SEVERITY = "severity(code, rank) AS (VALUES " + ", ".join("(?, ?)" for _ in FINDINGS) + ")"
_SEVERITY_PARAMS: tuple[Any, ...] = tuple(x for spec in FINDINGS.values() for x in (spec.code, RANK[spec.status]))
_PROBLEMS = (
    "problems AS (SELECT f.imei AS imei, max(s.rank) AS rank, max(f.first_seen) AS since "
    "FROM findings f JOIN severity s ON s.code = f.code WHERE f.active = 1 GROUP BY f.imei)"
)
_WITH = f"WITH {_SEVERITY}, {_PROBLEMS} "
_OPERATOR = (
    "coalesce("
    f"(SELECT CAST(operator AS TEXT) FROM (SELECT operator FROM records WHERE imei = d.imei "
    f"ORDER BY fix_time DESC NULLS LAST LIMIT {RECENT_ROWS}) AS recent WHERE operator IS NOT NULL LIMIT 1), "
    "(SELECT CAST(mcc AS TEXT) || CASE WHEN mnc < 10 THEN '0' ELSE '' END || CAST(mnc AS TEXT) "
    f"FROM (SELECT mcc, mnc FROM connectivity_events WHERE iccid = d.iccid "
    f"ORDER BY at DESC LIMIT {RECENT_ROWS}) AS recent WHERE mcc IS NOT NULL AND mnc IS NOT NULL LIMIT 1))"
)
"""A device's operator as text ("26001"), from the row ``d`` of ``devices``; NULL when unknown."""
_ORDER = "coalesce(p.rank, 0) DESC, p.since DESC NULLS LAST, st.last_seen ASC NULLS FIRST, d.imei"
"""Worst first; among equals the newest problem first, then the longest silent (never seen first)."""
_HAS_CODE = "d.imei IN (SELECT imei FROM findings WHERE code = ? AND active = 1)"


def N_(message: str) -> str:  # noqa: N802 (the marker name gettext tools look for)
    """``message`` unchanged: marks it for the catalogues; the page translates it when it shows it."""
    return message


class BadFilter(ValueError):
    """A filter value that cannot be one (``message`` is a translatable text with ``%(value)s``)."""

    def __init__(self, message: str, value: str) -> None:
        super().__init__(message % {"value": value})
        self.message = message
        self.value = value


@dataclass(frozen=True)
class FleetQuery:
    """What one request asks for: filters as the person gave them (an account as its pseudonym for
    technical and IT staff), and which page of how many rows."""

    code: str | None = None
    protocol: str | None = None
    operator: str | None = None
    account: str | None = None
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    def filters(self) -> dict[str, str]:
        """The filters that are set, by query name."""
        named = {"code": self.code, "protocol": self.protocol, "operator": self.operator, "account": self.account}
        return {name: value for name, value in named.items() if value is not None}

    def query_string(self, **changes: Any) -> str:
        """This query (with ``changes``) as a URL query string, without defaults."""
        wanted = replace(self, **changes)
        fields = wanted.filters()
        if wanted.size != DEFAULT_PAGE_SIZE:
            fields["size"] = str(wanted.size)
        if wanted.page != 1:
            fields["page"] = str(wanted.page)
        return urlencode(fields)


def parse_query(query: dict[str, str], principal: Principal) -> FleetQuery:
    """The query string's filters, checked; an empty value means "any". Raises :class:`BadFilter`."""

    def given(name: str) -> str | None:
        value = query.get(name, "").strip()
        return value or None

    code, protocol, operator, account = given("code"), given("protocol"), given("operator"), given("account")
    if code is not None and code not in FINDINGS:
        raise BadFilter(N_("There is no finding code %(value)s."), code[:40])
    if protocol is not None and not _PROTOCOL.fullmatch(protocol):
        raise BadFilter(N_("%(value)s is not a protocol name."), protocol[:40])
    if operator is not None and not _OPERATOR_CODE.fullmatch(operator):
        raise BadFilter(N_("The operator is its MCC and MNC as one number (e.g. 26001), not %(value)s."),
                        operator[:40])
    if account is not None:
        if principal.role in policy.PSEUDONYMISED and not Pseudonymiser.looks_like(account):
            raise BadFilter(N_("Give the account as its pseudonym (acct-...), not %(value)s."), account[:40])
        if len(account) > _MAX_ACCOUNT_CHARS:
            raise BadFilter(N_("The account name is too long: %(value)s..."), account[:40])
    page = _whole(given("page"), 1, N_("The page is a whole number from 1, not %(value)s."))
    size = _whole(given("size"), DEFAULT_PAGE_SIZE, N_("The page size is a whole number from 1, not %(value)s."))
    return FleetQuery(code, protocol, operator, account, min(page, MAX_PAGE), max(1, min(size, MAX_PAGE_SIZE)))


def _whole(value: str | None, default: int, message: str) -> int:
    """A positive whole number given in ASCII digits (at most 9 of them), or ``default`` when not given."""
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 9 and int(value) >= 1):
        raise BadFilter(message, value[:40])
    return int(value)


def _scope(wanted: FleetQuery, accounts: set[str] | None) -> tuple[str, list[Any]]:
    """SQL conditions on ``devices d`` for every filter but the finding code, and their parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if wanted.protocol is not None:
        clauses.append("d.protocol = ?")
        params.append(wanted.protocol)
    if accounts is not None:
        names = sorted(accounts)
        clauses.append(f"d.account IN ({', '.join('?' * len(names))})" if names else "1 = 0")
        params.extend(names)
    if wanted.operator is not None:  # last: the costliest test runs on the fewest rows
        clauses.append(f"{_OPERATOR} = ?")
        params.append(wanted.operator)
    return " AND ".join(clauses) or "1 = 1", params


def _count(condition: str) -> str:
    """SQL counting the rows where ``condition`` holds (0 when none does)."""
    return f"count(CASE WHEN {condition} THEN 1 END)"


def _summary(scope: str, code_test: str, costly: bool) -> str:
    """One statement for the totals (the row whose code is NULL) and the devices per active code (a row
    each). A ``costly`` scope (the operator filter looks at every device's newest rows) is worked out
    once for both; a cheap one is cheaper repeated than copied."""
    return (
        f"{_WITH}, scoped AS {'' if costly else 'NOT '}MATERIALIZED (SELECT d.imei FROM devices d WHERE {scope}) "
        f"SELECT NULL, count(*), {_count('p.rank = 2')}, {_count('p.rank = 1')}, {_count('p.rank IS NULL')}, "
        f"{_count('st.last_seen IS NULL')}, {_count(code_test)} "
        "FROM scoped d LEFT JOIN problems p ON p.imei = d.imei LEFT JOIN device_state st ON st.imei = d.imei "
        "UNION ALL SELECT f.code, count(*), 0, 0, 0, 0, 0 FROM findings f JOIN scoped d ON d.imei = f.imei "
        "WHERE f.active = 1 GROUP BY f.code"
    )


def fleet_view(
    principal: Principal, pseudonyms: Pseudonymiser, wanted: FleetQuery
) -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: totals, devices per active finding code, and one page of matching devices.

    Totals and code counts cover every filter but the code (so each count says what filtering by its
    code would give); the page and ``matching`` cover all of them. A page past the last one is the
    last one.
    """

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        accounts = policy.account_filter(principal, wanted.account, lambda: account_names(db), pseudonyms)
        scope, params = _scope(wanted, accounts)
        code_test, code_params = ("1 = 0", []) if wanted.code is None else (_HAS_CODE, [wanted.code])
        summary = db.execute(_summary(scope, code_test, wanted.operator is not None),
                             [*_SEVERITY_PARAMS, *params, *code_params]).fetchall()
        row = next(found for found in summary if found[0] is None)
        totals = {"devices": row[1], "problem": row[2], "attention": row[3], "ok": row[4], "never_seen": row[5]}
        matching = row[1] if wanted.code is None else row[6]
        counts = {code: count for code, count, *_ in summary if code is not None}
        codes = [{"code": code, "devices": counts[code], "status": STATUS_OF_RANK[RANK[FINDINGS[code].status]],
                  "title": FINDINGS[code].title} for code in FINDINGS if counts.get(code)]
        codes.sort(key=lambda c: (-RANK[FINDINGS[c["code"]].status], -c["devices"], c["code"]))
        pages = max(1, -(-matching // wanted.size))
        page = min(wanted.page, pages)
        where = scope if wanted.code is None else f"{scope} AND {_HAS_CODE}"
        rows = db.execute(
            f"{_WITH}SELECT d.imei, d.protocol, d.account, st.last_seen, coalesce(p.rank, 0), p.since "
            "FROM devices d LEFT JOIN problems p ON p.imei = d.imei LEFT JOIN device_state st ON st.imei = d.imei "
            f"WHERE {where} ORDER BY {_ORDER} LIMIT ? OFFSET ?",
            [*_SEVERITY_PARAMS, *params, *code_params, wanted.size, (page - 1) * wanted.size]).fetchall()
        devices = _page_rows(reader, rows)
        return {"totals": totals, "codes": codes, "matching": matching, "page": page, "pages": pages,
                "size": wanted.size, "devices": devices}

    return run


def _page_rows(reader: Reader, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The page's devices with their active codes (worst first) and operator: work on these rows only."""
    db = reader.connection
    imeis = [row[0] for row in rows]
    if not imeis:
        return []
    marks = ", ".join("?" * len(imeis))
    codes: dict[str, list[str]] = {}
    for imei, code in db.execute(f"SELECT imei, code FROM findings WHERE active = 1 AND imei IN ({marks})", imeis):
        if code in FINDINGS:
            codes.setdefault(imei, []).append(code)
    operators = dict(db.execute(f"SELECT d.imei, {_OPERATOR} FROM devices d WHERE d.imei IN ({marks})", imeis))
    return [{
        "imei": imei, "protocol": protocol, "account": account, "operator": operators.get(imei),
        "status": STATUS_OF_RANK[rank], "last_seen": iso_utc(last_seen), "problem_since": iso_utc(since),
        "codes": sorted(codes.get(imei, []), key=lambda c: (-RANK[FINDINGS[c].status], c)),
    } for imei, protocol, account, last_seen, rank, since in rows]


def fleet_choices() -> Callable[[Reader], dict[str, Any]]:
    """Reader-thread work: what the filter form offers (codes, protocols, operators, accounts).

    ``accounts`` are names (the output filter turns them into pseudonyms for technical and IT staff);
    ``accounts_truncated`` says there are more than the form can list, so it asks for text instead.
    """

    def run(reader: Reader) -> dict[str, Any]:
        db = reader.connection
        protocols = [row[0] for row in db.execute(
            "SELECT DISTINCT protocol FROM devices WHERE protocol IS NOT NULL ORDER BY protocol LIMIT ?",
            (MAX_CHOICES,))]
        operators = [row[0] for row in db.execute(
            f"SELECT operator FROM (SELECT {_OPERATOR} AS operator FROM devices d) AS known WHERE operator IS NOT NULL "
            "GROUP BY operator ORDER BY operator LIMIT ?", (MAX_CHOICES,))]
        accounts = [row[0] for row in db.execute(
            "SELECT DISTINCT account FROM devices WHERE account IS NOT NULL ORDER BY account LIMIT ?",
            (MAX_CHOICES + 1,))]
        return {"codes": list(DEVICE_CODES), "protocols": protocols, "operators": operators,
                "accounts": accounts[:MAX_CHOICES], "accounts_truncated": len(accounts) > MAX_CHOICES}

    return run
