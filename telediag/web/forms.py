"""Form bodies and the CSRF checks every state-changing page request passes.

The service does not let twisted.web parse bodies (``parsePOSTFormSubmission=False``), so forms are
parsed here with a small size and field limit. Signed-in forms echo the session's CSRF token. The
sign-in form has no session yet, so it uses a double-submit token: a random value in a short-lived
HttpOnly SameSite=Strict cookie that the form must echo (a cross-site page can neither read the
cookie nor make the browser send it).
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import parse_qs

from twisted.web.server import Request

MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 20
CSRF_FIELD = "csrf_token"
LOGIN_CSRF_COOKIE = b"telediag_login_csrf"
LOGIN_CSRF_MAX_AGE_S = 900
STATE_CHANGING = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})


def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of the request body, first value per field; empty for anything else."""
    content_type = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or request.content is None:
        return {}
    request.content.seek(0)
    data = request.content.read(MAX_FORM_BYTES + 1)
    if len(data) > MAX_FORM_BYTES:
        return {}
    try:
        parsed = parse_qs(data.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in parsed.items()}


_LOGIN_CSRF_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_login_csrf() -> str:
    """A fresh pre-session CSRF token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(32)


def reusable_login_csrf(request: Request) -> str | None:
    """The sign-in CSRF cookie this browser already holds, when it looks like one of ours: kept, so a
    second tab or a background request that loads the form again does not void the first form."""
    cookie = (request.getCookie(LOGIN_CSRF_COOKIE) or b"").decode("ascii", "replace")
    return cookie if _LOGIN_CSRF_SHAPE.fullmatch(cookie) else None


def login_csrf_matches(request: Request, form: dict[str, str]) -> bool:
    """Whether the sign-in form echoed the value of its CSRF cookie (constant-time)."""
    cookie = request.getCookie(LOGIN_CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not cookie or not sent:
        return False
    return hmac.compare_digest(cookie, sent.encode("utf-8", "replace"))
