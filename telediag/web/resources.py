"""The web console's pages: sign-in, sign-out and the signed-in home page.

Order for every request: resolve the session from its cookie, then for a state-changing method the
CSRF check (403 page, before anything else happens), then the route. Every answer is an HTML page
(or the stylesheet) with the security headers below; store work runs on the API's worker threads,
never on the reactor, and the clock is the service's reactor.
"""

from __future__ import annotations

import secrets
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from telediag.api.backend import ApiBackend
from telediag.api.resources import path_segments
from telediag.commands.web import CommandPages
from telediag.store.database import UNAVAILABLE_ERRORS, Connection
from telediag.store.reader import Reader
from telediag.web.account_pages import AccountPages
from telediag.web.admin_pages import AdminPages
from telediag.web.answers import Page, not_found, redirect
from telediag.web.areas import Area, PageRequest
from telediag.web.auth import remember
from telediag.web.desk_pages import DeskPages
from telediag.web.fleet_pages import FleetPages
from telediag.web.forms import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_MAX_AGE_S,
    STATE_CHANGING,
    login_csrf_matches,
    new_login_csrf,
    read_form,
    reusable_login_csrf,
)
from telediag.web.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE_S, Languages
from telediag.web.kb_pages import KbPages
from telediag.web.outage_pages import OutagePages
from telediag.web.pages import Pages
from telediag.web.ratelimit import LoginLimiter
from telediag.web.sessions import Session, end_session, purge_expired, resume_session, start_session
from telediag.web.ticket_pages import TicketPages
from telediag.web.tracker_pages import TrackerPages
from telediag.web.traffic_pages import TrafficPages
from telediag.web.users import User, check_credentials

SESSION_COOKIE = b"telediag_session"
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
STATIC_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml",
                "png": "image/png", "woff2": "font/woff2"}


def _begin(db: Connection, user_id: int, now: float, idle_s: float, max_s: float) -> str:
    """Start a session; expired ones (left by people who never came back) are purged first."""
    purge_expired(db, now, idle_s, max_s)
    return start_session(db, user_id, now)


def _query(request: Request) -> dict[str, str]:
    """The query string's first value per name, as text (undecodable bytes replaced)."""
    return {name.decode("utf-8", "replace"): values[0].decode("utf-8", "replace")
            for name, values in (request.args or {}).items() if values}


def _check(reader: Reader, username: str, password: str) -> User | None:
    return check_credentials(reader.connection, username, password)


def _remember_language(page: Page, language: str) -> Page:
    """A language picked with the switcher is kept in a cookie for the next visits."""
    page.cookies.append((LANGUAGE_COOKIE, language.encode(), LANGUAGE_COOKIE_MAX_AGE_S, b"/"))
    return page


class WebResource(Resource):
    """Every web page of the console under one leaf (routing by path segments, as the API does)."""

    isLeaf = True
    log = Logger()

    def __init__(self, api: ApiBackend) -> None:
        Resource.__init__(self)
        self.api = api
        self.settings = api.config.web
        self.languages = Languages()
        self.limiter = LoginLimiter(self.settings.login_failures_per_user, self.settings.login_failures_per_address,
                                    self.settings.login_window_s)
        self.areas: dict[str, Area] = {
            "devices": TrackerPages(api),
            "tickets": TicketPages(api),
            "desk": DeskPages(api),
            "fleet": FleetPages(api),
            "accounts": AccountPages(api),
            "outages": OutagePages(api),
            "admin": AdminPages(api),
            "kb": KbPages(api),
            "traffic": TrafficPages(api),
            "commands": CommandPages(api),
        }

    def render(self, request: Request) -> Any:
        gone = [False]
        request.notifyFinish().addErrback(lambda _: gone.__setitem__(0, True))
        language, chosen = self.languages.choose(request)
        pages = self.languages.pages[language]
        answering = defer.Deferred.fromCoroutine(self._answer(request, pages))
        answering.addErrback(lambda failure: self._internal(request, pages, failure))
        if chosen:
            answering.addCallback(_remember_language, language)
        answering.addCallback(self._send, request, gone)
        answering.addErrback(lambda failure: self.log.failure("web answer could not be written", failure=failure))
        return NOT_DONE_YET

    async def _answer(self, request: Request, pages: Pages) -> Page:
        try:
            return await self._route(request, pages)
        except UNAVAILABLE_ERRORS as error:
            self.log.warn("web {method} {path}: store unavailable: {error}",
                          method=request.method, path=request.path, error=error)
            return Page(503, pages.message(pages.gettext("Busy"),
                                           pages.gettext("The service is busy. Try again in a moment.")),
                        {"Retry-After": "5"})

    async def _route(self, request: Request, pages: Pages) -> Page:
        settings = self.settings
        _ = pages.gettext
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
                return Page(403, pages.message(
                    _("Forbidden"), _("This form has expired or did not come from this site. Go back, reload it "
                                      "and try again."), "/login" if session is None else "/", _("Start again")))
        method = b"GET" if request.method == b"HEAD" else request.method
        if segments == ["favicon.ico"]:
            return Page(404, b"")
        if segments[0] == "static" and len(segments) == 2:
            return self._static(segments[1], method, pages)
        if segments == ["login"]:
            if method == b"GET":
                return self._login_form(pages, 200, "", "", reusable_login_csrf(request))
            if method == b"POST":
                return await self._login(request, pages, form, session)
            return self._not_allowed(pages, "GET, HEAD, POST")
        if session is None:
            return redirect("/login")
        if segments == [""]:
            if method != b"GET":
                return self._not_allowed(pages, "GET, HEAD")
            return Page(200, pages.render("home.html", session=session, path="/"))
        if segments == ["logout"]:
            if method != b"POST":
                return self._not_allowed(pages, "POST")
            await self.api.write(end_session, session.id)
            remember(request, None)
            return Page(303, b"", {"Location": "/login"}, [(SESSION_COOKIE, b"", 0, b"/")])
        area = self.areas.get(segments[0])
        if area is None:
            return not_found(pages)
        page = await area.answer(PageRequest(session, method, segments, pages, form, _query(request)))
        return page if page is not None else not_found(pages)

    def _static(self, name: str, method: bytes, pages: Pages) -> Page:
        body = pages.static.get(name)
        if body is None or method != b"GET":
            return not_found(pages)
        kind = STATIC_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")
        return Page(200, body, {"Content-Type": kind, "Cache-Control": "public, max-age=31536000, immutable"})

    def _not_allowed(self, pages: Pages, allow: str) -> Page:
        return Page(405, pages.message(pages.gettext("Not allowed"),
                                       pages.gettext("This page does not take that request."), None),
                    {"Allow": allow})

    def _login_form(self, pages: Pages, status: int, message: str, username: str, csrf: str | None = None) -> Page:
        csrf = csrf or new_login_csrf()
        body = pages.render("login.html", message=message, username=username, csrf_token=csrf)
        return Page(status, body, {}, [(LOGIN_CSRF_COOKIE, csrf.encode(), LOGIN_CSRF_MAX_AGE_S, b"/login")])

    async def _login(self, request: Request, pages: Pages, form: dict[str, str], session: Session | None) -> Page:
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
            return Page(429, pages.message(
                pages.gettext("Too many attempts"),
                pages.translations.ngettext("Too many failed sign-ins. Try again in %(seconds)s second.",
                                            "Too many failed sign-ins. Try again in %(seconds)s seconds.",
                                            wait) % {"seconds": wait},
                "/login", pages.gettext("Back to sign-in")), {"Retry-After": str(wait)})
        user = await self.api.read(_check, username, password)
        if user is None:
            self.limiter.failed(username, address, now)
            self.log.info("web sign-in for {user!r} from {address} failed", user=username, address=address)
            return self._login_form(pages, 401, pages.gettext(WRONG_CREDENTIALS), username, csrf)
        self.limiter.succeeded(username)
        if session is not None:  # a new sign-in never keeps the old session (no fixation)
            await self.api.write(end_session, session.id)
        token = await self.api.write(_begin, user.id, now, self.settings.session_idle_s, self.settings.session_max_s)
        self.log.info("web sign-in: {user} ({role})", user=user.username, role=user.role)
        return Page(303, b"", {"Location": "/"}, [
            (SESSION_COOKIE, token.encode(), int(self.settings.session_max_s), b"/"),
            (LOGIN_CSRF_COOKIE, b"", 0, b"/login"),
        ])

    def _internal(self, request: Request, pages: Pages, failure: Failure) -> Page:
        """A 500 page naming a reference; the traceback goes to the server log only."""
        ref = secrets.token_hex(4)
        self.log.failure("web {method} {path} failed (ref {ref})", failure=failure,
                         method=request.method, path=request.path, ref=ref)
        return Page(500, pages.message(pages.gettext("Error"),
                                       pages.gettext("Something went wrong (reference %(ref)s).") % {"ref": ref}))

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
        for cookie, content, max_age, path in page.cookies:
            request.addCookie(cookie, content, path=path, max_age=str(max_age), secure=secure or None,
                              httpOnly=True, sameSite="strict")
        request.write(page.body)
        request.finish()
