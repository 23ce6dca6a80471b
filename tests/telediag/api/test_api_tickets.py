"""Tickets through the HTTP API: filing, the whole lifecycle, and what each role may do and see."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer

from tests.telediag.api.support import ACME, IMEI_A, IMEI_B, PERSONAL_VALUES, ApiTestCase, walk


class TicketApiTests(ApiTestCase):
    with_desk = True

    @defer.inlineCallbacks
    def file(self, token: str = "customer", devices: Any = (IMEI_A,), text: str = "Brak pozycji na mapie") -> Any:
        answer = yield self.call("POST", "/api/v1/tickets", token, {"devices": list(devices), "description": text})
        return answer

    @defer.inlineCallbacks
    def test_customer_files_a_ticket_enriched_with_the_selfcheck(self) -> Any:
        yield self.start()
        answer = yield self.file()
        self.assertEqual(answer.status, 201, answer.data)
        ticket = answer.json
        self.assertEqual((ticket["origin"], ticket["state"], ticket["devices"]), ("customer", "new", [IMEI_A]))
        self.assertEqual((ticket["category"], ticket["topic"], ticket["team"]),
                         ("system_problem", "remote_diagnostics", "technical"))
        self.assertEqual([f["code"] for f in ticket["findings"]], ["GPS_POOR_QUALITY"])
        self.assertEqual([e["kind"] for e in ticket["timeline"]], ["created", "selfcheck"])
        self.assertTrue(ticket["sla"]["first_response_due"] and ticket["sla"]["resolution_due"])
        self.assertEqual(ticket["language"], "pl")

        other = yield self.file(devices=[IMEI_B])
        self.assertError(other, 404)
        hidden = yield self.call("GET", f"/api/v1/tickets/{ticket['id']}", "customer_b")
        self.assertError(hidden, 404)
        listed = yield self.call("GET", "/api/v1/tickets", "customer_b")
        self.assertEqual(listed.json["tickets"], [])
        own = yield self.call("GET", "/api/v1/tickets", "customer")
        self.assertEqual([t["id"] for t in own.json["tickets"]], [ticket["id"]])

    @defer.inlineCallbacks
    def test_lifecycle_end_to_end(self) -> Any:
        yield self.start()
        ticket = (yield self.file()).json
        path = f"/api/v1/tickets/{ticket['id']}"
        answer = yield self.call("PATCH", path, "technical", {"state": "open", "text": "looking at it"})
        self.assertEqual(answer.status, 200, answer.data)
        self.assertIsNotNone(answer.json["sla"]["first_response_at"])
        answer = yield self.call("PATCH", path, "technical",
                                 {"state": "waiting_customer", "text": "is it parked indoors?"})
        self.assertTrue(answer.json["sla"]["paused"])
        answer = yield self.call("POST", f"{path}/comments", "customer", {"text": "No, it is outside."})
        self.assertEqual(answer.status, 201, answer.data)
        self.assertEqual((answer.json["state"], answer.json["sla"]["paused"]), ("open", False))
        refused = yield self.call("PATCH", path, "customer", {"state": "resolved"})
        self.assertError(refused, 403)
        illegal = yield self.call("PATCH", path, "technical", {"state": "new"})
        self.assertError(illegal, 409)
        yield self.call("PATCH", path, "technical", {"state": "resolved", "text": "antenna replaced"})
        reopened = yield self.call("PATCH", path, "customer", {"state": "open"})
        self.assertEqual(reopened.json["state"], "open")
        yield self.call("PATCH", path, "technical", {"state": "resolved"})
        not_theirs = yield self.call("POST", f"{path}/close", "technical", {"rating": "good"})
        self.assertError(not_theirs, 403)
        no_reason = yield self.call("POST", f"{path}/close", "customer", {"rating": "bad"})
        self.assertError(no_reason, 409)
        closed = yield self.call("POST", f"{path}/close", "customer", {"rating": "bad", "reason": "took a week"})
        self.assertEqual(closed.status, 200, closed.data)
        self.assertEqual(closed.json["rating"], {"value": "bad", "reason": "took a week"})
        self.assertTrue(closed.json["quality_follow_up"])
        kinds = [entry["kind"] for entry in closed.json["timeline"]]
        self.assertEqual(kinds, ["created", "selfcheck", "state", "state", "comment", "state", "state", "reopened",
                                 "state", "closed"])  # the quality follow-up is the desk's, not the customer's
        self.assertTrue(all(entry["by"] and "@" not in entry["by"] for entry in closed.json["timeline"]))
        staff = yield self.call("GET", path, "admin")
        self.assertEqual(staff.json["timeline"][-1]["kind"], "quality_follow_up")

    @defer.inlineCallbacks
    def test_what_each_role_sees_of_a_ticket(self) -> Any:
        yield self.start()
        ticket = (yield self.file()).json
        path = f"/api/v1/tickets/{ticket['id']}"
        for role in ("technical", "it"):
            seen = yield self.call("GET", path, role)
            self.assertEqual(seen.status, 200)
            text = json.dumps(seen.json)
            for value in PERSONAL_VALUES:
                self.assertNotIn(value, text, f"{role} sees {value}")
            self.assertTrue(seen.json["account"].startswith("acct-"))
            self.assertIn("satellites", text)  # technical staff keep the telemetry evidence
        office = yield self.call("GET", path, "customer_office")
        for where, key, _ in walk(office.json):
            self.assertNotIn(str(key).lower(), {"lat", "lon", "last_lat", "lastlon", "latitude", "longitude",
                                                "satellites", "hdop"}, where)
        admin = yield self.call("GET", path, "admin")
        self.assertEqual(admin.json["account"], ACME)
        staff_created = next(entry for entry in admin.json["timeline"] if entry["kind"] == "created")
        self.assertIn("filed by customer", staff_created["text"])  # the classifier's reasons, for staff
        own = yield self.call("GET", path, "customer")
        created = [entry for entry in own.json["timeline"] if entry["kind"] == "created"]
        self.assertEqual([entry["text"] for entry in created], ["Ticket opened."])

    @defer.inlineCallbacks
    def test_bad_ticket_bodies(self) -> Any:
        yield self.start()
        for body in ({"devices": [IMEI_A]}, {"devices": IMEI_A, "description": "x"}, {"description": ""}, [1, 2]):
            answer = yield self.call("POST", "/api/v1/tickets", "customer", body)
            self.assertError(answer, 400)
        for bad in ("/api/v1/tickets/0", "/api/v1/tickets/abc", "/api/v1/tickets/999"):
            answer = yield self.call("GET", bad, "admin")
            self.assertError(answer, 404)
        answer = yield self.call("GET", "/api/v1/tickets?state=lost", "admin")
        self.assertError(answer, 400)
