"""``/api/v1/contacts`` and ``/api/v1/notifications/rules`` over real HTTP for every role: staff of the
customer office manage any account, customers their own, technical and IT are refused (they never
see e-mail addresses); bodies are refused with every problem named."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from tests.telediag.api.support import ACME, BETA, ApiTestCase

ANNA = {"account": ACME, "name": "Anna Nowak", "email": "Anna@Acme.example", "language": "pl",
        "permissions": ["technical", "billing"]}
RULE = {"account": ACME, "codes": ["DEVICE_SILENT"], "min_duration_s": 900, "quiet_hours": "22:00-07:00",
        "recipients": ["account", "contacts"]}


class MailApiTests(ApiTestCase):

    @defer.inlineCallbacks
    def test_contacts_by_role(self) -> Any:
        yield self.start()
        created = yield self.call("POST", "/api/v1/contacts", "customer_office", body=ANNA)
        self.assertEqual(created.status, 201, created.data)
        contact = created.json
        self.assertEqual((contact["email"], contact["permissions"]), ("anna@acme.example", ["billing", "technical"]))
        for role in ("technical", "it"):
            self.assertError((yield self.call("GET", "/api/v1/contacts", role)), 403, "forbidden")
            self.assertError((yield self.call("POST", "/api/v1/contacts", role, body=ANNA)), 403)
        mine = yield self.call("GET", "/api/v1/contacts", "customer")
        self.assertEqual([c["id"] for c in mine.json["contacts"]], [contact["id"]])
        theirs = yield self.call("GET", "/api/v1/contacts", "customer_b")
        self.assertEqual(theirs.json["contacts"], [])
        self.assertError((yield self.call("GET", f"/api/v1/contacts/{contact['id']}", "customer_b")), 404)
        self.assertError((yield self.call("DELETE", f"/api/v1/contacts/{contact['id']}", "customer_b")), 404)
        self.assertError((yield self.call("GET", f"/api/v1/contacts?account={ACME}", "customer_b")), 404)
        own = yield self.call("POST", "/api/v1/contacts", "customer_b",
                              body={"name": "Eve", "email": "eve@beta.example"})
        self.assertEqual((own.status, own.json["account"]), (201, BETA))
        self.assertError((yield self.call("POST", "/api/v1/contacts", "customer_b", body=ANNA)), 404)
        gone = yield self.call("DELETE", f"/api/v1/contacts/{contact['id']}", "customer")
        self.assertEqual(gone.json, {"removed": contact["id"]})
        self.assertError((yield self.call("GET", f"/api/v1/contacts/{contact['id']}", "admin")), 404)

    @defer.inlineCallbacks
    def test_contact_bodies_are_refused_with_every_problem(self) -> Any:
        yield self.start()
        error = self.assertError((yield self.call("POST", "/api/v1/contacts", "admin", body={
            "account": ACME, "name": "", "email": "nope", "language": "de", "permissions": ["root"], "x": 1})),
            400, "invalid_contact")
        self.assertEqual(len(error["details"]), 5)
        self.assertError((yield self.call("POST", "/api/v1/contacts", "admin", body=dict(ANNA, account="Nobody"))),
                         400, "invalid_contact")
        yield self.call("POST", "/api/v1/contacts", "admin", body=ANNA)
        twice = self.assertError((yield self.call("POST", "/api/v1/contacts", "admin", body=ANNA)), 400)
        self.assertIn("already has a contact", twice["message"])

    @defer.inlineCallbacks
    def test_rules_by_role(self) -> Any:
        yield self.start()
        created = yield self.call("POST", "/api/v1/notifications/rules", "customer", body=RULE)
        self.assertEqual(created.status, 201, created.data)
        rule = created.json
        self.assertEqual((rule["account"], rule["codes"], rule["quiet_hours"]),
                         (ACME, ["DEVICE_SILENT"], "22:00-07:00"))
        for role in ("technical", "it"):
            self.assertError((yield self.call("GET", "/api/v1/notifications/rules", role)), 403)
        staff_only = self.assertError((yield self.call("POST", "/api/v1/notifications/rules", "customer",
                                                       body=dict(RULE, recipients=["team:technical"]))),
                                      400, "invalid_rule")
        self.assertIn("customers may not write to the staff teams", staff_only["message"])
        stranger = self.assertError((yield self.call("POST", "/api/v1/notifications/rules", "customer",
                                                     body=dict(RULE, recipients=["x@elsewhere.example"]))), 400)
        self.assertIn("not an address of this account", stranger["message"])
        office = yield self.call("POST", "/api/v1/notifications/rules", "customer_office",
                                 body=dict(RULE, account=BETA, recipients=["team:it", "ops@beta.example"]))
        self.assertEqual(office.status, 201, office.data)
        listed = yield self.call("GET", "/api/v1/notifications/rules", "customer")
        self.assertEqual([r["id"] for r in listed.json["rules"]], [rule["id"]])
        everything = yield self.call("GET", "/api/v1/notifications/rules", "admin")
        self.assertEqual(everything.json["count"], 2)
        self.assertError((yield self.call("GET", f"/api/v1/notifications/rules/{office.json['id']}", "customer")), 404)
        self.assertEqual((yield self.call("DELETE", f"/api/v1/notifications/rules/{rule['id']}", "customer")).status,
                         200)
        self.assertError((yield self.call("GET", "/api/v1/notifications/rules/0x1", "admin")), 404)

    @defer.inlineCallbacks
    def test_rule_bodies_are_refused_with_every_problem(self) -> Any:
        yield self.start()
        error = self.assertError((yield self.call("POST", "/api/v1/notifications/rules", "admin", body={
            "account": ACME, "codes": ["NOPE"], "min_duration_s": "long", "quiet_hours": "late",
            "timezone": "Moon/Base", "recipients": []})), 400, "invalid_rule")
        self.assertEqual(len(error["details"]), 6, error["details"])
        self.assertError((yield self.call("POST", "/api/v1/notifications/rules", "admin", body=[1])), 400)
