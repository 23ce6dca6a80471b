"""The web console's pages: sign-in, sign-out and the signed-in home page.

Order for every request: resolve the session from its cookie, then for a state-changing method the
CSRF check (403 page, before anything else happens), then the route. Every answer is an HTML page
(or the stylesheet) with the security headers below; store work runs on the API's worker threads,
never on the reactor, and the clock is the service's reactor.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from telediag.api.backend import ApiBackend
from telediag.api.errors import ApiError
from telediag.api.policy import sees_positions
from telediag.api.resources import path_segments
from telediag.store.sqlite import Reader
from telediag.tickets.model import TEAMS
from telediag.web.answers import Page, redirect
from telediag.web.auth import remember, session_of
from telediag.web.forms import (
    CSRF_FIELD, LOGIN_CSRF_COOKIE, LOGIN_CSRF_MAX_AGE_S, STATE_CHANGING, login_csrf_matches, new_login_csrf,
    read_form,
)
from telediag.web.pages import Pages
from telediag.web.ratelimit import LoginLimiter
from telediag.web.sessions import Session, end_session, purge_expired, resume_session, start_session
from telediag.web.desk import STAFF_ROLES, queue, team_of
from telediag.web.ticket_pages import TicketPages
from telediag.web.trackers import tracker_list, tracker_selfcheck, visible_part
from telediag.web.users import User, check_credentials

SESSION_COOKIE = b"telediag_session"
DEVICE_ID = re.compile(r"[0-9]{14,17}")
"""An IMEI in a page path: ASCII digits only, as in the API."""
WRONG_CREDENTIALS = "Wrong username or password."
"""One message for an unknown user and a wrong password: the page must not tell which usernames exist."""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
HTML = "text/html; charset=utf-8"


def _begin(db: sqlite3.Connection, user_id: int, now: float, idle_s: float, max_s: float) -> str:
    """Start a session; expired ones (left by people who never came back) are purged first."""
    purge_expired(db, now, idle_s, max_s)
    return start_session(db, user_id, now)


def _query(request: Request) -> dict[str, str]:
    """The query string's first value per name, as text (undecodable bytes replaced)."""
    return {name.decode("utf-8", "replace"): values[0].decode("utf-8", "replace")
            for name, values in (request.args or {}).items() if values}


def _check(reader: Reader, username: str, password: str) -> User | None:
    return check_credentials(reader.connection, username, password)


class WebResource(Resource):
    """Every web page of the console under one leaf (routing by path segments, as the API does)."""

    isLeaf = True
    log = Logger()

    def __init__(self, api: ApiBackend) -> None:
        super().__init__()
        self.api = api
        self.settings = api.config.web
        self.pages = Pages()
        self.tickets = TicketPages(api, self.pages)
        self.limiter = LoginLimiter(self.settings.login_failures_per_user, self.settings.login_failures_per_address,
                                    self.settings.login_window_s)

    def render(self, request: Request) -> Any:
        gone = [False]
        request.notifyFinish().addErrback(lambda _: gone.__setitem__(0, True))
        answering = defer.Deferred.fromCoroutine(self._answer(request))
        answering.addErrback(lambda failure: self._internal(request, failure))
        answering.addCallback(self._send, request, gone)
        answering.addErrback(lambda failure: self.log.failure("web answer could not be written", failure=failure))
        return NOT_DONE_YET

    async def _answer(self, request: Request) -> Page:
        try:
            return await self._route(request)
        except sqlite3.OperationalError as error:
            self.log.warn("web {method} {path}: store unavailable: {error}",
                          method=request.method, path=request.path, error=error)
            return Page(503, self.pages.message("Busy", "The service is busy. Try again in a moment."),
                        {"Retry-After": "5"})

    async def _route(self, request: Request) -> Page:
        settings = self.settings
        token = request.getCookie(SESSION_COOKIE)
        session: Session | None = None
        if token:
            session = await self.api.write(resume_session, token.decode("latin-1"), self.api.now(),
                                           settings.session_idle_s, settings.session_max_s)
        remember(request, session)
        segments = path_segments(request)
        form: dict[str, str] = {}
        if request.method in STATE_CHANGING:
            form = read_form(request)
            allowed = (login_csrf_matches(request, form) if segments == ["login"]
                       else session is not None and session.csrf_matches(form.get(CSRF_FIELD)))
            if not allowed:
                return Page(403, self.pages.message(
                    "Forbidden", "This form has expired or did not come from this site. Go back, reload it "
                    "and try again.", "/login" if session is None else "/", "Start again"))
        method = b"GET" if request.method == b"HEAD" else request.method
        if segments == [""]:
            if method != b"GET":
                return self._not_allowed("GET, HEAD")
            if session is None:
                return redirect("/login")
            return Page(200, self.pages.render("home.html", session=session))
        if segments == ["login"]:
            if method == b"GET":
                return self._login_form(200, "", "")
            if method == b"POST":
                return await self._login(request, form, session)
            return self._not_allowed("GET, HEAD, POST")
        if segments == ["logout"]:
            if method != b"POST":
                return self._not_allowed("POST")
            assert session is not None  # the CSRF check above refused requests without one
            await self.api.write(end_session, session.id)
            remember(request, None)
            return Page(303, b"", {"Location": "/login"}, [(SESSION_COOKIE, b"", 0, b"/")])
        if segments[0] == "devices" and len(segments) <= 2:
            if method != b"GET":
                return self._not_allowed("GET, HEAD")
            if session is None:
                return redirect("/login")
            return await self._trackers(session, segments[1] if len(segments) == 2 else None)
        if segments == ["desk"]:
            if method != b"GET":
                return self._not_allowed("GET, HEAD")
            if session is None:
                return redirect("/login")
            if session.role not in STAFF_ROLES:
                return self._not_found()
            team = team_of(_query(request).get("team"))
            found = await self.api.read(queue(session.principal, team))
            visible = visible_part(self.api, session.principal, found)
            return Page(200, self.pages.render("desk.html", tickets=visible["tickets"], truncated=visible["truncated"],
                                               team=team, teams=TEAMS))
        if segments[0] == "tickets":
            if session is None:
                return redirect("/login")
            page = await self.tickets.answer(session, method, segments, form, _query(request))
            return page if page is not None else self._not_found()
        if segments == ["static", "web.css"] and method == b"GET":
            return Page(200, self.pages.css, {"Content-Type": "text/css; charset=utf-8",
                                               "Cache-Control": "public, max-age=31536000, immutable"})
        return self._not_found()

    async def _trackers(self, session: Session, imei: str | None) -> Page:
        """``/devices``: the trackers this person may see; ``/devices/{imei}``: one tracker's self-check."""
        principal = session.principal
        if imei is None:
            listed = await self.api.read(tracker_list(self.api, principal))
            visible = visible_part(self.api, principal, listed)
            return Page(200, self.pages.render("devices.html", devices=visible["devices"],
                                               truncated=visible["truncated"], positions=sees_positions(principal)))
        if not DEVICE_ID.fullmatch(imei):
            return self._not_found()
        try:
            found = await self.api.read(tracker_selfcheck(self.api, principal, imei))
        except ApiError as error:
            if error.status == 404:
                return self._not_found()
            raise
        visible = visible_part(self.api, principal, found)
        return Page(200, self.pages.render("device.html", device=visible["device"], selfcheck=visible["selfcheck"]))

    def _not_found(self) -> Page:
        return Page(404, self.pages.message("Not found", "There is no such page.", "/", "Home"))

    def _not_allowed(self, allow: str) -> Page:
        return Page(405, self.pages.message("Not allowed", "This page does not take that request."),
                    {"Allow": allow})

    def _login_form(self, status: int, message: str, username: str, csrf: str | None = None) -> Page:
        csrf = csrf or new_login_csrf()
        body = self.pages.render("login.html", message=message, username=username, csrf_token=csrf)
        return Page(status, body, {}, [(LOGIN_CSRF_COOKIE, csrf.encode(), LOGIN_CSRF_MAX_AGE_S, b"/login")])

    async def _login(self, request: Request, form: dict[str, str], session: Session | None) -> Page:
        """Check the limits, then the password; a session cookie and a redirect home on success."""
        username = form.get("username", "")[:200]
        password = form.get("password", "")
        address = str(getattr(request.getClientAddress(), "host", "") or "")
        csrf = form.get(CSRF_FIELD)
        now = self.api.now()
        wait = self.limiter.retry_after(username, address, now)
        if wait is not None:
            self.log.info("web sign-in for {user!r} from {address} refused: too many failures",
                          user=username, address=address)
            return Page(429, self.pages.message(
                "Too many attempts", f"Too many failed sign-ins. Try again in {wait} seconds.", "/login",
                "Back to sign-in"), {"Retry-After": str(wait)})
        user = await self.api.read(_check, username, password)
        if user is None:
            self.limiter.failed(username, address, now)
            self.log.info("web sign-in for {user!r} from {address} failed", user=username, address=address)
            return self._login_form(401, WRONG_CREDENTIALS, username, csrf)
        self.limiter.succeeded(username)
        if session is not None:  # a new sign-in never keeps the old session (no fixation)
            await self.api.write(end_session, session.id)
        token = await self.api.write(_begin, user.id, now, self.settings.session_idle_s, self.settings.session_max_s)
        self.log.info("web sign-in: {user} ({role})", user=user.username, role=user.role)
        return Page(303, b"", {"Location": "/"}, [
            (SESSION_COOKIE, token.encode(), int(self.settings.session_max_s), b"/"),
            (LOGIN_CSRF_COOKIE, b"", 0, b"/login"),
        ])

    def _internal(self, request: Request, failure: Failure) -> Page:
        """A 500 page naming a reference; the traceback goes to the server log only."""
        ref = secrets.token_hex(4)
        self.log.failure("web {method} {path} failed (ref {ref})", failure=failure,
                         method=request.method, path=request.path, ref=ref)
        return Page(500, self.pages.message("Error", f"Something went wrong (reference {ref})."))

    def _send(self, page: Page, request: Request, gone: list[bool]) -> None:
        if gone[0]:
            return
        request.setResponseCode(page.status)
        headers = {"Content-Type": HTML, **SECURITY_HEADERS, "Cache-Control": "no-store", **page.headers}
        headers["Content-Length"] = str(len(page.body))
        for name, value in headers.items():
            request.setHeader(name, value)
        request.setHeader("Server", "telediag")
        secure = request.isSecure()
        for name, value, max_age, path in page.cookies:
            request.addCookie(name, value, path=path, max_age=str(max_age), secure=secure or None,
                              httpOnly=True, sameSite="strict")
        request.write(page.body)
        request.finish()
