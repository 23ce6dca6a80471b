"""What the console's HTTP tests share on top of ``tests.telediag.api.support``: signing in with the form
as a browser does, reading the cookies and the form's CSRF field of an answer, and a signed-in session
per role for tests that look at pages role by role."""

from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer

from telediag.web.sessions import start_session
from telediag.web.users import create_user
from tests.telediag.api.support import ACME, Answer, ApiTestCase

PASSWORD = "correct horse battery"
"""Every test user's password."""
ROLE_USERS = (("tech", "technical", None), ("ops", "it", None), ("root", "admin", None),
              ("office", "customer_office", None), ("alice", "customer", ACME))
"""A console user per role: (username, role, account)."""
_CSRF_FIELD = re.compile(rb'<input type="hidden" name="csrf_token" value="([^"]*)"')


def set_cookies(answer: Answer) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the whole header text)."""
    return {h.split(b"=", 1)[0].decode(): h.decode() for h in answer.headers.getRawHeaders(b"set-cookie") or []}


def cookie_value(header: str) -> str:
    """The value of one Set-Cookie header."""
    return header.split(";", 1)[0].split("=", 1)[1]


def hidden_csrf(html: bytes) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF_FIELD.search(html)
    assert found is not None, html
    return found.group(1).decode()


@defer.inlineCallbacks
def form_sign_in(case: ApiTestCase, username: str, password: str = PASSWORD) -> Any:
    """Sign in with the form as a browser does (its CSRF cookie and field); the answer: a 303 with the
    session cookie on success (:func:`session_of`)."""
    form = yield case.call("GET", "/login")
    answer = yield case.call("POST", "/login", raw=urlencode(
        {"username": username, "password": password, "csrf_token": hidden_csrf(form.data)}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Cookie": f"telediag_login_csrf={cookie_value(set_cookies(form)['telediag_login_csrf'])}"})
    return answer


def session_of(answer: Answer) -> str:
    """The session cookie a successful sign-in set."""
    return cookie_value(set_cookies(answer)["telediag_session"])


class RolePagesCase(ApiTestCase):
    """The API test set-up with a signed-in console session per role (``ROLE_USERS``, made by
    ``sign_in_roles``); ``page(role, path)`` answers a page as that role."""

    def sign_in_roles(self, db: sqlite3.Connection, now: float) -> None:
        """Make the users of ``ROLE_USERS`` and a session for each, by role."""
        self.sessions = {role: start_session(db, create_user(db, username, role, account, PASSWORD, 0.0), now)
                         for username, role, account in ROLE_USERS}

    @defer.inlineCallbacks
    def page(self, role: str, path: str) -> Any:
        answer = yield self.call("GET", path, headers={"Cookie": f"telediag_session={self.sessions[role]}"})
        return answer
