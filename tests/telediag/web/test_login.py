"""Signing in over real HTTP against the real ApiService: form, CSRF, cookie, sessions, limits, routing."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer

from telediag.config import WebConfig
from telediag.web.users import create_user, disable_user
from tests.stores import database_at
from tests.telediag.api.support import ACME, ApiTestCase
from tests.telediag.web.support import PASSWORD, cookie_value, hidden_csrf, set_cookies


class LoginTests(ApiTestCase):
    """The sign-in hooks of DESIGN.md (Web console) and the cookie/CSRF/limit policy."""

    def setUp(self) -> None:
        super().setUp()
        db = database_at(self.config.database_path).connect()
        create_user(db, "alice", "customer", ACME, PASSWORD, 0.0)
        create_user(db, "root", "admin", None, PASSWORD, 0.0)
        db.close()

    @defer.inlineCallbacks
    def login_form(self) -> Any:
        """GET /login: (the CSRF cookie value, the form's hidden CSRF value)."""
        answer = yield self.call("GET", "/login")
        self.assertEqual(answer.status, 200)
        return cookie_value(set_cookies(answer)["telediag_login_csrf"]), hidden_csrf(answer.data)

    @defer.inlineCallbacks
    def post(self, path: str, fields: dict[str, str], cookies: dict[str, str] | None = None) -> Any:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        answer = yield self.call("POST", path, raw=urlencode(fields).encode(), headers=headers)
        return answer

    @defer.inlineCallbacks
    def sign_in(self, username: str = "alice", password: str = PASSWORD) -> Any:
        cookie, field = yield self.login_form()
        answer = yield self.post("/login", {"username": username, "password": password, "csrf_token": field},
                                 {"telediag_login_csrf": cookie})
        return answer

    @defer.inlineCallbacks
    def home(self, session: str) -> Any:
        answer = yield self.call("GET", "/", headers={"Cookie": f"telediag_session={session}"})
        return answer

    def session_rows(self) -> int:
        return self.db().execute("SELECT count(*) FROM web_sessions").fetchone()[0]

    @defer.inlineCallbacks
    def test_login_page_has_the_hooks_and_security_headers(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", "/login")
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.header("Content-Type"), "text/html; charset=utf-8")
        html = answer.data
        for needle in (b'<html lang="en">', b'name="viewport"', b'name="username"', b'name="password"',
                       b'<label for="username">', b'<label for="password">', b'autocomplete="username"',
                       b'autocomplete="current-password"', b'method="post" action="/login"'):
            self.assertIn(needle, html)
        self.assertNotIn(b"<script", html)
        csrf = set_cookies(answer)["telediag_login_csrf"]
        self.assertEqual(cookie_value(csrf), hidden_csrf(html))
        self.assertIn("httponly", csrf.lower())
        self.assertIn("samesite=strict", csrf.lower())  # attribute values compare without case (RFC 6265)
        self.assertEqual(answer.header("Cache-Control"), "no-store")
        self.assertEqual(answer.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(answer.header("X-Frame-Options"), "DENY")
        csp = answer.header("Content-Security-Policy") or ""
        self.assertIn("default-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        css_url = re.search(rb'<link rel="stylesheet" href="([^"]+)">', html).group(1).decode()
        css = yield self.call("GET", css_url)
        self.assertEqual(css.status, 200)
        self.assertEqual(css.header("Content-Type"), "text/css; charset=utf-8")
        self.assertIn("max-age=31536000", css.header("Cache-Control"))
        self.assertEqual(css.header("X-Content-Type-Options"), "nosniff")

    @defer.inlineCallbacks
    def test_right_password_sets_a_strict_cookie_and_the_session_shows_who(self) -> Any:
        yield self.start()
        answer = yield self.sign_in()
        self.assertEqual(answer.status, 303, answer.data)
        self.assertEqual(answer.header("Location"), "/")
        cookie = set_cookies(answer)["telediag_session"]
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        for part in ("httponly", "samesite=strict", "path=/", "max-age=43200"):
            self.assertIn(part, attributes)
        self.assertNotIn("secure", attributes)  # plain HTTP here
        session = cookie_value(cookie)
        stored = self.db().execute("SELECT token_hash FROM web_sessions").fetchall()
        self.assertEqual(len(stored), 1)
        self.assertNotIn(session.encode(), stored[0][0])
        home = yield self.home(session)
        self.assertEqual(home.status, 200)
        self.assertIn(b'data-username="alice"', home.data)
        self.assertIn(b'data-role="customer"', home.data)
        self.assertIn(b'action="/logout"', home.data)

    @defer.inlineCallbacks
    def test_not_signed_in_home_redirects_to_login(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", "/")
        self.assertEqual((answer.status, answer.header("Location")), (303, "/login"))
        answer = yield self.home("forged-session-token")
        self.assertEqual((answer.status, answer.header("Location")), (303, "/login"))

    @defer.inlineCallbacks
    def test_wrong_password_and_unknown_user_get_the_same_401(self) -> Any:
        yield self.start()
        wrong = yield self.sign_in("alice", PASSWORD + "x")
        unknown = yield self.sign_in("nobody", PASSWORD)
        self.assertEqual((wrong.status, unknown.status), (401, 401))
        self.assertIn(b"Wrong username or password.", wrong.data)
        self.assertEqual(wrong.data.replace(b"alice", b"").split(b"csrf_token")[0],
                         unknown.data.replace(b"nobody", b"").split(b"csrf_token")[0])
        self.assertNotIn("telediag_session", set_cookies(wrong))
        self.assertEqual(self.session_rows(), 0)

    @defer.inlineCallbacks
    def test_login_without_or_with_a_wrong_csrf_token_is_403(self) -> Any:
        yield self.start()
        cookie, field = yield self.login_form()
        fields = {"username": "alice", "password": PASSWORD}
        attempts = [
            (fields, {"telediag_login_csrf": cookie}),  # no field
            ({**fields, "csrf_token": field}, None),  # no cookie
            ({**fields, "csrf_token": field + "x"}, {"telediag_login_csrf": cookie}),  # wrong field
            ({**fields, "csrf_token": "a" * 43}, {"telediag_login_csrf": "b" * 43}),
        ]
        for sent, cookies in attempts:
            answer = yield self.post("/login", sent, cookies)
            self.assertEqual(answer.status, 403, (sent, cookies))
            self.assertEqual(answer.header("Content-Type"), "text/html; charset=utf-8")
            self.assertNotIn("telediag_session", set_cookies(answer))
        self.assertEqual(self.session_rows(), 0)

    @defer.inlineCallbacks
    def test_repeated_failures_are_refused_with_429_and_retry_after(self) -> Any:
        yield self.start()
        limit = self.config.web.login_failures_per_user
        for _ in range(limit):
            answer = yield self.sign_in("alice", "wrong password!")
            self.assertEqual(answer.status, 401)
        refused = yield self.sign_in("alice", PASSWORD)  # even the right password: not checked any more
        self.assertEqual(refused.status, 429)
        self.assertGreater(int(refused.header("Retry-After")), 0)
        self.assertIn(b"Too many failed sign-ins", refused.data)
        self.assertEqual(self.session_rows(), 0)
        other = yield self.sign_in("root", PASSWORD)
        self.assertEqual(other.status, 303)

    @defer.inlineCallbacks
    def test_logout_ends_the_session_and_needs_its_csrf_token(self) -> Any:
        yield self.start()
        answer = yield self.sign_in()
        session = cookie_value(set_cookies(answer)["telediag_session"])
        home = yield self.home(session)
        csrf = hidden_csrf(home.data)
        refused = yield self.post("/logout", {"csrf_token": "not-it"}, {"telediag_session": session})
        self.assertEqual(refused.status, 403)
        still = yield self.home(session)
        self.assertEqual(still.status, 200)
        out = yield self.post("/logout", {"csrf_token": csrf}, {"telediag_session": session})
        self.assertEqual((out.status, out.header("Location")), (303, "/login"))
        self.assertIn("Max-Age=0", set_cookies(out)["telediag_session"])
        after = yield self.home(session)
        self.assertEqual((after.status, after.header("Location")), (303, "/login"))
        self.assertEqual(self.session_rows(), 0)

    @defer.inlineCallbacks
    def test_state_changing_request_without_csrf_is_403_anywhere(self) -> Any:
        yield self.start()
        answer = yield self.sign_in()
        session = cookie_value(set_cookies(answer)["telediag_session"])
        for method, path in (("POST", "/"), ("DELETE", "/"), ("PUT", "/nowhere"), ("PATCH", "/login")):
            refused = yield self.call(method, path, headers={"Cookie": f"telediag_session={session}"})
            self.assertEqual(refused.status, 403, (method, path))

    @defer.inlineCallbacks
    def test_a_disabled_users_session_stops_at_once(self) -> Any:
        yield self.start()
        answer = yield self.sign_in()
        session = cookie_value(set_cookies(answer)["telediag_session"])
        db = database_at(self.config.database_path).connect()
        self.addCleanup(db.close)
        # as `telediag users disable` from another process does (the sessions go with the user)
        disable_user(db, "alice", 1.0)
        after = yield self.home(session)
        self.assertEqual((after.status, after.header("Location")), (303, "/login"))
        again = yield self.sign_in()
        self.assertEqual(again.status, 401)

    @defer.inlineCallbacks
    def test_a_disabled_users_session_stops_even_if_rows_stayed(self) -> Any:
        yield self.start()
        answer = yield self.sign_in()
        session = cookie_value(set_cookies(answer)["telediag_session"])
        db = self.db()
        db.execute("UPDATE users SET disabled_at = 1 WHERE username = 'alice'")
        db.commit()
        after = yield self.home(session)
        self.assertEqual(after.status, 303)

    @defer.inlineCallbacks
    def test_idle_and_absolute_expiry(self) -> Any:
        self.config = dataclasses.replace(self.config, web=WebConfig(session_idle_s=60.0, session_max_s=600.0))
        yield self.start()
        answer = yield self.sign_in()
        session = cookie_value(set_cookies(answer)["telediag_session"])
        self.assertIn("Max-Age=600", set_cookies(answer)["telediag_session"])
        db = self.db()
        db.execute("UPDATE web_sessions SET last_seen_at = last_seen_at - 30, created_at = created_at - 30")
        db.commit()
        fresh = yield self.home(session)  # 30 s idle: still live, and used again now
        self.assertEqual(fresh.status, 200)
        db.execute("UPDATE web_sessions SET last_seen_at = last_seen_at - 61")
        db.commit()
        idle = yield self.home(session)
        self.assertEqual(idle.status, 303)
        self.assertEqual(self.session_rows(), 0)
        answer = yield self.sign_in()
        session = cookie_value(set_cookies(answer)["telediag_session"])
        db.execute("UPDATE web_sessions SET created_at = created_at - 601")  # busy, but too old
        db.commit()
        old = yield self.home(session)
        self.assertEqual(old.status, 303)

    @defer.inlineCallbacks
    def test_api_paths_still_answer_json_and_unknown_pages_404_as_html(self) -> Any:
        yield self.start()
        health = yield self.call("GET", "/healthz")
        self.assertEqual(health.status, 200)
        missing = yield self.call("GET", "/api/v1/nosuch")
        self.assertError(missing, 404)
        devices = yield self.call("GET", "/api/v1/devices", token="admin")
        self.assertEqual(devices.status, 200)
        anonymous = yield self.call("GET", "/nosuch")
        self.assertEqual((anonymous.status, anonymous.header("Location")), (303, "/login"))
        signed_in = yield self.sign_in()
        session = cookie_value(set_cookies(signed_in)["telediag_session"])
        page = yield self.call("GET", "/nosuch", headers={"Cookie": f"telediag_session={session}"})
        self.assertEqual(page.status, 404)
        self.assertEqual(page.header("Content-Type"), "text/html; charset=utf-8")

    @defer.inlineCallbacks
    def test_requests_with_a_bearer_token_are_the_apis(self) -> Any:
        yield self.start()
        for path in ("/", "/login"):
            answer = yield self.call("GET", path, token="admin")
            self.assertError(answer, 404, "not_found")
