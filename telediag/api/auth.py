"""Who is calling: ``Authorization: Bearer <token>`` to a Principal (role and, for customers, account)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from twisted.web.server import Request

from telediag.api.errors import bad_request, unauthorized
from telediag.api.tokens import MAX_TOKEN_CHARS, find_token
from telediag.store.database import Connection

_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*) *", re.IGNORECASE)
"""RFC 6750 ``b64token``; anything else is not a token we could have issued."""


@dataclass(frozen=True)
class Principal:
    """The caller as the policy sees it."""

    role: str
    account: str | None = None
    token_id: int | None = None


def bearer_token(request: Request) -> str:
    """The token of the request, or 401 when it carries none.

    More than one Authorization header is a 400: twisted.web's ``getHeader`` returns the last, and a
    proxy or a check in front may have looked at the first, so the two would disagree on who calls.
    """
    headers = request.requestHeaders.getRawHeaders(b"authorization") or []
    if len(headers) > 1:
        raise bad_request(f"{len(headers)} Authorization headers; send exactly one", code="duplicate_header")
    header = headers[0] if headers else None
    if header is None:
        raise unauthorized("send Authorization: Bearer <token>; create one with `telediag tokens create`")
    text = header.decode("latin-1")
    match = _BEARER.fullmatch(text)
    if match is None or len(match.group(1)) > MAX_TOKEN_CHARS:
        raise unauthorized("the Authorization header must be: Bearer <token>", invalid_token=True)
    return match.group(1)


def authenticate(db: Connection, token: str) -> Principal:
    """The principal of a live token; 401 for an unknown or revoked one (same answer for both)."""
    stored = find_token(db, token)
    if stored is None or stored.revoked:
        raise unauthorized("the token is unknown or revoked", invalid_token=True)
    return Principal(stored.role, stored.account, stored.id)
