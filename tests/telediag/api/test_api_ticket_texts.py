"""What ticket texts each role reads: plates, names, numbers and raw frames stay with the roles that may
see them, inside free text too, not only in named fields."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer

from telediag.diagnostics.findings import Finding, Transition
from tests.stores import database_at
from tests.telediag.api.support import IMEI_A, PERSONAL_VALUES, T0, ApiTestCase, walk

PLATE_A = "WX 1234A"
CUSTOMER_TEXT = ("Truck wx1234a shows nothing. Call Jan Kowalski on +48 600 100 200 or "
                 "jan.kowalski@acme.example; the SIM is 48600111222.")


class TicketTextTests(ApiTestCase):
    with_desk = True

    def automatic_ticket(self) -> int:
        """An automatic ticket, as diagnostics opens one: titled with the vehicle's plate."""
        db = database_at(self.config.database_path).connect()
        try:
            finding = Finding(1, IMEI_A, "PROTOCOL_ERRORS", True, T0, T0, 5,
                              {"errors_last_hour": 5, "message": "bad CRC", "excerpt": "000000000000004a8e01"}, None)
            (ticket_id,) = self.desk.on_findings(db, [Transition("raised", finding)], T0 + 60)
        finally:
            db.close()
        return ticket_id

    @defer.inlineCallbacks
    def test_titles_and_free_text_are_masked_for_technical_and_it(self) -> Any:
        yield self.start()
        auto = self.automatic_ticket()
        filed = yield self.call("POST", "/api/v1/tickets", "customer",
                                {"devices": [IMEI_A], "description": CUSTOMER_TEXT})
        self.assertEqual(filed.status, 201, filed.data)
        path = f"/api/v1/tickets/{filed.json['id']}"
        yield self.call("POST", f"{path}/comments", "customer", {"text": "Or write to jan.kowalski@acme.example"})

        own = yield self.call("GET", f"/api/v1/tickets/{auto}", "customer")
        self.assertIn(PLATE_A, own.json["title"])  # the customer knows its vehicles by their plates
        mine = yield self.call("GET", path, "customer")
        self.assertEqual(mine.json["description"], CUSTOMER_TEXT)

        for role in ("technical", "it"):
            for ticket in (f"/api/v1/tickets/{auto}", path, "/api/v1/tickets"):
                seen = yield self.call("GET", ticket, role)
                self.assertEqual(seen.status, 200, seen.data)
                text = json.dumps(seen.json, ensure_ascii=False)
                for value in (*PERSONAL_VALUES, "wx1234a", "600 100 200"):
                    self.assertNotIn(value.lower(), text.lower(), f"{role} reads {value} in {ticket}")
            title = (yield self.call("GET", f"/api/v1/tickets/{auto}", role)).json["title"]
            self.assertTrue(title.endswith(f"device {IMEI_A}"), title)
            staff_view = (yield self.call("GET", path, role)).json
            self.assertIn("[number removed]", staff_view["description"])
            excerpts = [v for _, k, v in walk(staff_view) if k == "excerpt"]
            auto_view = (yield self.call("GET", f"/api/v1/tickets/{auto}", role)).json
            excerpts += [v for _, k, v in walk(auto_view) if k == "excerpt"]
            self.assertIn("000000000000004a8e01", excerpts)  # raw frames are their work

    @defer.inlineCallbacks
    def test_raw_frame_excerpts_reach_only_technical_it_and_admin(self) -> Any:
        yield self.start()
        auto = self.automatic_ticket()
        for role, sees in (("customer", False), ("customer_office", False), ("technical", True), ("it", True),
                           ("admin", True)):
            seen = yield self.call("GET", f"/api/v1/tickets/{auto}", role)
            self.assertEqual(seen.status, 200, seen.data)
            keys = {k for _, k, _ in walk(seen.json)}
            self.assertEqual("excerpt" in keys, sees, role)
            self.assertEqual("000000000000004a8e01" in seen.data.decode(), sees, role)
