"""The desk's queue and the ticket page as staff see them, over real HTTP against the real ApiService with
the ticket desk: state changes and comments through the API's own actions, refusals shown on the page,
masked texts for technical staff, parent and children, SLA badges, paging and the live fragment."""

from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer, reactor

from telediag.api.auth import Principal
from telediag.web import desk
from telediag.web.evidence import evidence_items
from telediag.web.paging import page_of
from telediag.web.ticket_pages import next_states
from telediag.web.users import create_user
from tests.stores import database_at
from tests.telediag.api.support import ACME, IMEI_A, IMEI_B, Answer, ApiTestCase
from tests.telediag.web.support import PASSWORD, form_sign_in, hidden_csrf, session_of, set_cookies

USERS = {"anna": ("customer", ACME), "office": ("customer_office", None), "tech": ("technical", None),
         "itsy": ("it", None), "root": ("admin", None)}
CUSTOMER_TEXT = "Truck WX 1234A shows nothing. Call Jan Kowalski on +48 600 100 200 or jan.kowalski@acme.example."


class ConsoleTestCase(ApiTestCase):
    """The API service with the ticket desk, a console user per role, and page requests as each of them."""

    with_desk = True

    def setUp(self) -> None:
        super().setUp()
        db = database_at(self.config.database_path).connect()
        for username, (role, account) in USERS.items():
            create_user(db, username, role, account, PASSWORD, 0.0)
        db.close()
        self.sessions: dict[str, tuple[str, str]] = {}

    @defer.inlineCallbacks
    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        """Sign in with the form; returns the answer (303 and a session cookie on success). A session is
        kept with the CSRF token of its pages' forms."""
        answer = yield form_sign_in(self, username, password)
        if answer.status == 303 and "telediag_session" in set_cookies(answer):
            token = session_of(answer)
            home = yield self.call("GET", "/", headers={"Cookie": f"telediag_session={token}"})
            self.sessions[username] = (token, hidden_csrf(home.data))
        return answer

    @defer.inlineCallbacks
    def page(self, username: str, path: str) -> Any:
        """GET a console page as ``username`` (signed in on first use)."""
        if username not in self.sessions:
            yield self.sign_in(username)
        answer = yield self.call("GET", path, headers={"Cookie": f"telediag_session={self.sessions[username][0]}"})
        return answer

    @defer.inlineCallbacks
    def send(self, username: str, path: str, fields: dict[str, str], csrf: bool = True) -> Any:
        """POST a console form as ``username``, with the session's CSRF token unless ``csrf`` is false."""
        if username not in self.sessions:
            yield self.sign_in(username)
        token, csrf_token = self.sessions[username]
        body = {**fields, **({"csrf_token": csrf_token} if csrf else {})}
        answer = yield self.call("POST", path, raw=urlencode(body).encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"telediag_session={token}"})
        return answer

    @defer.inlineCallbacks
    def file(self, text: str = "The tracker shows no position", device: str = IMEI_A, token: str = "customer") -> Any:
        """A ticket filed through the API (as the customer by default); its id."""
        answer = yield self.call("POST", "/api/v1/tickets", token, {"devices": [device], "description": text})
        self.assertEqual(answer.status, 201, answer.data)
        return answer.json["id"]

    def store(self) -> sqlite3.Connection:
        return self.db()

    def assertPage(self, answer: Answer, status: int = 200) -> str:
        self.assertEqual(answer.status, status, answer.data[:2000])
        self.assertEqual(answer.header("Content-Type"), "text/html; charset=utf-8")
        text = answer.data.decode()
        self.assertNotIn("Traceback", text)
        return text


def state_of(html: str) -> str:
    found = re.search(r'<h1>.*?</h1>.*?data-ticket-state="([a-z_]+)"', html, re.S)
    assert found is not None, html
    return found.group(1)


def options(html: str, select_id: str) -> list[str]:
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, html
    return re.findall(r'<option value="([^"]*)"', select.group(1))


class StaffTicketPageTests(ConsoleTestCase):

    @defer.inlineCallbacks
    def test_staff_change_the_state_and_comment_through_the_apis_actions(self) -> Any:
        yield self.start()
        ticket = yield self.file()
        path = f"/tickets/{ticket}"
        html = self.assertPage((yield self.page("tech", path)))
        self.assertEqual(state_of(html), "new")
        self.assertEqual(options(html, "state"), ["open", "waiting_customer", "resolved", "closed"])
        self.assertIn('data-finding="GPS_POOR_QUALITY"', html)  # the finding with its evidence, readable
        self.assertRegex(html, r"<dt>hdop</dt><dd>7.5</dd>")
        self.assertIn('data-due="first_response"', html)

        moved = yield self.send("tech", f"{path}/state", {"state": "open", "text": "Looking at the antenna."})
        self.assertEqual((moved.status, moved.header("Location")), (303, path))
        html = self.assertPage((yield self.page("tech", path)))
        self.assertEqual(state_of(html), "open")
        self.assertIn("Looking at the antenna.", html)
        self.assertRegex(html, r'data-kind="state".*data-by="technical"')
        self.assertEqual(options(html, "state"), ["waiting_customer", "resolved", "closed"])
        self.assertIn('data-sla="met"', html)  # the move was the first response
        api = (yield self.call("GET", f"/api/v1/tickets/{ticket}", "admin")).json
        self.assertEqual(api["state"], "open")
        self.assertIsNotNone(api["sla"]["first_response_at"])

        commented = yield self.send("tech", f"{path}/reply", {"text": "Please check the antenna cable."})
        self.assertEqual(commented.status, 303)
        waiting = yield self.send("office", f"{path}/state", {"state": "waiting_customer", "text": ""})
        self.assertEqual(waiting.status, 303)
        html = self.assertPage((yield self.page("office", path)))
        self.assertEqual(state_of(html), "waiting_customer")
        self.assertIn('data-sla="paused"', html)
        self.assertIn('data-sla-paused="yes"', html)
        customer = self.assertPage((yield self.page("anna", path)))
        self.assertIn("Please check the antenna cable.", customer)  # comments reach the customer (no internal notes)
        for staff_only in (f'action="{path}/state"', "data-finding=", "data-by=", 'data-due="first_response"'):
            self.assertNotIn(staff_only, customer)
        self.assertIn(f'action="{path}/reply"', customer)

    @defer.inlineCallbacks
    def test_a_refused_change_shows_the_message_not_a_traceback(self) -> Any:
        yield self.start()
        ticket = yield self.file()
        path = f"/tickets/{ticket}"
        yield self.send("tech", f"{path}/state", {"state": "open"})
        illegal = yield self.send("tech", f"{path}/state", {"state": "new", "text": "back to new"})
        html = self.assertPage(illegal, 400)
        self.assertRegex(html, rf'role="alert">ticket {ticket} cannot go from open to new<')
        self.assertIn("back to new", html)  # the typed note is kept
        self.assertEqual(state_of(html), "open")
        unknown = yield self.send("tech", f"{path}/state", {"state": "done"})
        self.assertIn("state &#39;done&#39; must be one of new, open, waiting_customer, resolved, closed",
                      self.assertPage(unknown, 400))
        same = yield self.send("tech", f"{path}/state", {"state": "open"})
        self.assertIn(f"ticket {ticket} is already open", self.assertPage(same, 400))
        empty = yield self.send("tech", f"{path}/reply", {"text": "   "})
        self.assertIn("text must be a non-empty string", self.assertPage(empty, 400))
        rating = yield self.send("tech", f"{path}/close", {"rating": "good"})  # the API lets technical staff not close
        self.assertIn("a technical token may not use this endpoint", self.assertPage(rating, 403))
        by_customer = yield self.send("anna", f"{path}/state", {"state": "resolved"})
        self.assertIn("customers may reopen a ticket", self.assertPage(by_customer, 403))
        self.assertEqual((yield self.call("GET", f"/api/v1/tickets/{ticket}", "admin")).json["state"], "open")
        nothing = yield self.send("tech", f"{path}/delete", {})
        self.assertPage(nothing, 404)

    @defer.inlineCallbacks
    def test_technical_and_it_read_the_masked_text_the_api_gives_them(self) -> Any:
        yield self.start()
        ticket = yield self.file(CUSTOMER_TEXT)
        yield self.call("POST", f"/api/v1/tickets/{ticket}/comments", "customer",
                        {"text": "Or phone Jan Kowalski at +48 600 100 200"})
        for username in ("tech", "itsy"):
            html = self.assertPage((yield self.page(username, f"/tickets/{ticket}")))
            for secret in ("Jan Kowalski", "600 100 200", "jan.kowalski@acme.example", "WX 1234A", ACME):
                self.assertNotIn(secret, html, f"{username} reads {secret}")
            self.assertIn("[number removed]", html)
            self.assertIn("acct-", html)  # the account as its pseudonym
        for username in ("office", "root", "anna"):
            html = self.assertPage((yield self.page(username, f"/tickets/{ticket}")))
            self.assertIn("Jan Kowalski", html)
        queue = self.assertPage((yield self.page("tech", "/desk?team=all")))
        self.assertNotIn("Jan Kowalski", queue)

    @defer.inlineCallbacks
    def test_parent_and_children_link_each_other_with_their_states(self) -> Any:
        yield self.start()
        parent = yield self.file("Many trackers are silent", token="admin")
        child = yield self.file()
        other = yield self.file("Beta's tracker", device=IMEI_B, token="customer_b")
        db = self.store()
        db.execute("UPDATE tickets SET parent_id = ? WHERE id IN (?, ?)", (parent, child, other))
        db.commit()
        html = self.assertPage((yield self.page("tech", f"/tickets/{parent}")))
        self.assertEqual(re.findall(r'data-child="(\d+)"', html), [str(child), str(other)])
        self.assertRegex(html, rf'(?s)data-child="{child}">.*?data-ticket-state="new"')
        html = self.assertPage((yield self.page("tech", f"/tickets/{child}")))
        self.assertIn(f'data-parent="{parent}"', html)
        self.assertIn(f'href="/tickets/{parent}"', html)
        customer = self.assertPage((yield self.page("anna", f"/tickets/{child}")))
        self.assertNotIn("data-parent", customer)  # the outage is not the customer's ticket
        self.assertPage((yield self.page("anna", f"/tickets/{other}")), 404)

    @defer.inlineCallbacks
    def test_every_ticket_post_without_the_csrf_token_is_refused(self) -> Any:
        yield self.start()
        ticket = yield self.file()
        for action, fields in (("state", {"state": "open"}), ("reply", {"text": "hello"}),
                               ("close", {"rating": "good"}), ("reopen", {})):
            answer = yield self.send("root", f"/tickets/{ticket}/{action}", fields, csrf=False)
            self.assertEqual(answer.status, 403, action)
        filed = yield self.send("anna", "/tickets/new", {"devices": IMEI_A, "description": "x"}, csrf=False)
        self.assertEqual(filed.status, 403)
        api = (yield self.call("GET", f"/api/v1/tickets/{ticket}", "admin")).json
        self.assertEqual((api["state"], len(api["timeline"])), ("new", 2))


class DeskQueueTests(ConsoleTestCase):

    @defer.inlineCallbacks
    def test_each_role_starts_on_its_own_teams_queue(self) -> Any:
        yield self.start()
        technical = yield self.file()  # GPS_POOR_QUALITY: the technical team's
        office = yield self.file("How do I add a driver to my account?")
        db = self.store()
        db.execute("UPDATE tickets SET team = 'customer_office' WHERE id = ?", (office,))
        db.commit()
        for username, team, shown in (("tech", "technical", [technical]), ("office", "customer_office", [office]),
                                      ("itsy", "it", []), ("root", "all", [technical, office])):
            html = self.assertPage((yield self.page(username, "/desk")))
            self.assertEqual(re.search(r'<option value="([a-z_]+)" selected>', html).group(1), team, username)
            self.assertEqual(sorted(int(i) for i in re.findall(r'<tr data-ticket="(\d+)"', html)), sorted(shown))
            self.assertIn('<label for="team">', html)
        html = self.assertPage((yield self.page("office", "/desk?team=technical")))
        self.assertEqual(re.findall(r'<tr data-ticket="(\d+)"', html), [str(technical)])
        self.assertRegex(html, r'data-devices="1">1<')
        self.assertIn(f'href="/tickets/{technical}"', html)
        self.assertIn('data-live="/desk/live?team=technical&amp;page=1"', html)
        self.assertIn("/static/live.js", html)
        live = yield self.page("office", "/desk/live?team=technical")
        self.assertEqual((live.status, live.header("X-Telediag-Fragment")), (200, "1"))
        self.assertNotIn(b"<html", live.data)
        self.assertIn(f'data-ticket="{technical}"'.encode(), live.data)
        self.assertPage((yield self.page("anna", "/desk")), 404)
        self.assertPage((yield self.page("anna", "/desk/live")), 404)

    @defer.inlineCallbacks
    def test_badges_breached_due_soon_and_paused_and_the_most_urgent_first(self) -> Any:
        yield self.start()
        late, soon, paused = (yield self.file()), (yield self.file()), (yield self.file())
        now = reactor.seconds()
        db = self.store()
        db.execute("UPDATE tickets SET first_response_due = ? WHERE id = ?", (now - 60, late))
        db.execute("UPDATE tickets SET first_response_due = ? WHERE id = ?", (now + 1800, soon))
        db.execute("UPDATE tickets SET first_response_due = ?, resolution_due = ? WHERE id = ?",
                   (now + 86400, now + 3 * 86400, paused))
        db.commit()
        yield self.send("tech", f"/tickets/{paused}/state", {"state": "waiting_customer"})
        html = self.assertPage((yield self.page("tech", "/desk")))
        rows = re.findall(r'<tr data-ticket="(\d+)".*?</tr>', html, re.S)
        self.assertEqual(rows, [str(late), str(soon), str(paused)])
        row = {i: re.search(rf'<tr data-ticket="{i}".*?</tr>', html, re.S).group(0) for i in (late, soon, paused)}
        self.assertIn('data-breach="first_response"', row[late])
        self.assertIn('data-sla="soon"', row[soon])
        self.assertNotIn("data-breach", row[soon])
        self.assertIn('data-sla="paused"', row[paused])
        self.assertIn("answered", row[paused])
        self.assertRegex(row[late], r'data-due="first_response">\d{4}-\d\d-\d\d \d\d:\d\d UTC')

    @defer.inlineCallbacks
    def test_the_queue_is_paged_and_says_how_many_more(self) -> Any:
        self.patch(desk, "PAGE_SIZE", 2)
        yield self.start()
        ids = []
        for _ in range(5):
            ids.append((yield self.file()))
        first = self.assertPage((yield self.page("tech", "/desk")))
        self.assertEqual(len(re.findall(r'<tr data-ticket=', first)), 2)
        self.assertIn('data-more="3"', first)
        self.assertIn('href="/desk?team=technical&amp;page=2"', first)
        last = self.assertPage((yield self.page("tech", "/desk?team=technical&page=3")))
        self.assertEqual(len(re.findall(r'<tr data-ticket=', last)), 1)
        self.assertNotIn("data-more", last)
        seen = set()
        for page in (1, 2, 3):
            html = self.assertPage((yield self.page("tech", f"/desk?page={page}")))
            seen |= {int(i) for i in re.findall(r'<tr data-ticket="(\d+)"', html)}
        self.assertEqual(seen, set(ids))
        beyond = self.assertPage((yield self.page("tech", "/desk?page=99")))
        self.assertIn("data-queue-empty", beyond)
        self.assertPage((yield self.page("tech", "/desk?page=-1&team=nonsense")))


class PureTests(ApiTestCase):
    """The pieces without a service."""

    def test_sla_marks(self) -> None:
        due = "2026-01-01T10:00:00Z"
        at = desk.epoch(due)
        ticket = {"state": "open", "sla": {"first_response_due": due, "resolution_due": due, "first_response_at": None,
                                           "breached": [], "paused": False}}
        self.assertEqual(desk.sla_marks(ticket, at - 7200), {"first_response": "due", "resolution": "due"})
        self.assertEqual(desk.sla_marks(ticket, at - 600), {"first_response": "soon", "resolution": "soon"})
        self.assertEqual(desk.sla_marks(ticket, at), {"first_response": "soon", "resolution": "soon"})  # on time
        self.assertEqual(desk.sla_marks(ticket, at + 1), {"first_response": "breached", "resolution": "breached"})
        answered = {**ticket, "sla": {**ticket["sla"], "first_response_at": due, "paused": True}}
        self.assertEqual(desk.sla_marks(answered, at + 1), {"first_response": "met", "resolution": "paused"})
        recorded = {**answered, "sla": {**answered["sla"], "breached": ["first_response", "resolution"]}}
        self.assertEqual(desk.sla_marks(recorded, at - 7200), {"first_response": "breached", "resolution": "breached"})
        resolved = {**answered, "state": "resolved"}
        self.assertEqual(desk.sla_marks(resolved, at + 1)["resolution"], "met")
        self.assertEqual(desk.team_of(None, "it"), "it")
        self.assertEqual(desk.team_of("nonsense", "admin"), "all")
        self.assertEqual(page_of("٣"), 1)  # non-ASCII digits are not a page number

    def test_next_states_and_evidence_lines(self) -> None:
        self.assertEqual(next_states(Principal("technical"), "closed"), ["open"])
        self.assertEqual(next_states(Principal("customer", ACME), "resolved"), ["open"])
        self.assertEqual(next_states(Principal("customer", ACME), "open"), [])
        self.assertEqual(evidence_items({"hdop": 7.5, "fix": {"valid": False, "sats": None}, "ids": [1, 2],
                                         "rows": [{"a": 1}], "long": "x" * 400}),
                         [("hdop", "7.5"), ("fix › valid", "no"), ("fix › sats", "unknown"), ("ids", "1, 2"),
                          ("rows › 1 › a", "1"), ("long", "x" * 299 + "…")])
