"""The knowledge base through the HTTP API: articles written and read by role, a customer's how-to
ticket answered with an article (accepted or not), problem reports left to people, staff links and gaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from twisted.internet import defer

from telediag.kb.cli import starter_path
from tests.telediag.api.support import ApiTestCase

STARTER = [orjson.loads(line) for line in Path(starter_path()).read_bytes().splitlines() if line.strip()]
APN_QUESTION = "How do I set the APN on my Teltonika tracker? Which SMS do I send to change the APN?"


class KnowledgeBaseApiTests(ApiTestCase):
    with_desk = True

    @defer.inlineCallbacks
    def load_starter(self) -> Any:
        answer = yield self.call("POST", "/api/v1/kb/articles", "customer_office", STARTER)
        self.assertEqual(answer.status, 200, answer.data)
        return answer.json

    @defer.inlineCallbacks
    def file(self, text: str, token: str = "customer") -> Any:
        answer = yield self.call("POST", "/api/v1/tickets", token, {"devices": [], "description": text})
        self.assertEqual(answer.status, 201, answer.data)
        return answer.json

    @defer.inlineCallbacks
    def test_articles_are_written_by_staff_and_read_by_customers_in_their_language(self) -> Any:
        yield self.start()
        saved = yield self.load_starter()
        self.assertEqual(saved, {"articles": len(STARTER), "added": len(STARTER), "updated": 0})
        again = yield self.call("POST", "/api/v1/kb/articles", "technical", STARTER[0])
        self.assertEqual(again.json, {"articles": 1, "added": 0, "updated": 1})
        for role in ("customer", "it"):
            refused = yield self.call("POST", "/api/v1/kb/articles", role, STARTER[0])
            self.assertError(refused, 403)

        polish = yield self.call("GET", "/api/v1/kb/articles", "customer", headers={"Accept-Language": "pl-PL"})
        self.assertEqual({a["language"] for a in polish.json["articles"]}, {"pl"})
        self.assertEqual(polish.json["count"], len(STARTER) // 4)

        hidden = dict(STARTER[0], id="draft-en", group="draft", published=False, body="# Draft\n<script>x</script>")
        answer = yield self.call("PUT", "/api/v1/kb/articles/draft-en", "customer_office", hidden)
        self.assertEqual(answer.status, 200, answer.data)
        self.assertNotIn("<script>", answer.json["html"])
        self.assertIn("&lt;script&gt;", answer.json["html"])
        missing = yield self.call("GET", "/api/v1/kb/articles/draft-en", "customer")
        self.assertError(missing, 404)
        shown = yield self.call("GET", "/api/v1/kb/articles/apn-teltonika-pl", "customer")
        self.assertEqual(shown.json["title"], "Ustawienie APN w lokalizatorze Teltonika")
        self.assertEqual({t["language"] for t in shown.json["translations"]}, {"en", "pl", "ru", "sv"})

    @defer.inlineCallbacks
    def test_a_bad_article_is_refused_with_every_problem_and_nothing_is_stored(self) -> Any:
        yield self.start()
        bad = [STARTER[0], {"id": "Bad Id", "language": "de", "title": "x" * 300, "body": "",
                            "finding_codes": ["NOT_A_CODE"], "colour": "red"}]
        answer = yield self.call("POST", "/api/v1/kb/articles", "admin", bad)
        error = self.assertError(answer, 400, "invalid_articles")
        details = " | ".join(error["details"])
        for expected in ("article 2: unknown field(s) colour", "article 2: id must be", "language must be one of",
                         "title has 300 characters; at most 200", "body is empty", "finding code NOT_A_CODE"):
            self.assertIn(expected, details)
        listed = yield self.call("GET", "/api/v1/kb/articles", "admin")
        self.assertEqual(listed.json["articles"], [])
        other = dict(STARTER[0], id="another-apn", group=STARTER[0]["id"].rsplit("-", 1)[0])
        clash = yield self.call("POST", "/api/v1/kb/articles", "admin", [STARTER[0], other])
        self.assertIn("already has a version in en", " ".join(self.assertError(clash, 400)["details"]))

    @defer.inlineCallbacks
    def test_a_how_to_question_is_answered_and_the_customer_accepts(self) -> Any:
        yield self.start()
        yield self.load_starter()
        ticket = yield self.file(APN_QUESTION)
        self.assertEqual((ticket["category"], ticket["state"]), ("how_to", "waiting_customer"))
        [suggested] = ticket["suggested_articles"]
        self.assertEqual((suggested["id"], suggested["sent"]), ("apn-teltonika-en", True))
        self.assertGreater(suggested["score"], 0.5)
        answer_entry = [e for e in ticket["timeline"] if e["kind"] == "suggested_answer"]
        self.assertIn("/kb/articles/apn-teltonika-en", answer_entry[0]["text"])
        staff = yield self.call("GET", f"/api/v1/tickets/{ticket['id']}", "customer_office")
        self.assertGreater(len(staff.json["suggested_articles"]), 1)

        stranger = yield self.call("POST", f"/api/v1/tickets/{ticket['id']}/suggested_answer", "customer_b",
                                   {"helped": True})
        self.assertError(stranger, 404)
        accepted = yield self.call("POST", f"/api/v1/tickets/{ticket['id']}/suggested_answer", "customer",
                                   {"helped": True})
        self.assertEqual(accepted.status, 200, accepted.data)
        self.assertEqual(accepted.json["state"], "resolved")
        self.assertEqual(accepted.json["suggested_articles"][0]["outcome"], "accepted")
        twice = yield self.call("POST", f"/api/v1/tickets/{ticket['id']}/suggested_answer", "customer",
                                {"helped": False})
        self.assertError(twice, 409)

    @defer.inlineCallbacks
    def test_an_answer_that_did_not_help_goes_back_to_a_person_and_flags_the_article(self) -> Any:
        yield self.start()
        yield self.load_starter()
        ticket = yield self.file(APN_QUESTION)
        declined = yield self.call("POST", f"/api/v1/tickets/{ticket['id']}/suggested_answer", "customer",
                                   {"helped": False, "reason": "my tracker has no SMS"})
        self.assertEqual(declined.json["state"], "open")
        review = yield self.call("GET", "/api/v1/kb/articles?review=true", "technical")
        [flagged] = review.json["articles"]
        self.assertEqual(flagged["id"], "apn-teltonika-en")
        self.assertIn("my tracker has no SMS", flagged["review_note"])

    @defer.inlineCallbacks
    def test_problem_reports_are_never_answered_and_staff_links_teach_the_next_match(self) -> Any:
        yield self.start()
        yield self.load_starter()
        for text in ("The map does not load.", "All vans show a wrong speed."):
            ticket = yield self.file(text)
            self.assertEqual((ticket["category"], ticket["state"]), ("system_problem", "new"), text)
            self.assertEqual(ticket["suggested_articles"], [])
        statements = {"id": "statements-en", "language": "en", "title": "Documents for your accountant",
                      "body": "Statements are under Account, then Documents.", "tags": ["billing"]}
        saved = yield self.call("POST", "/api/v1/kb/articles", "customer_office", statements)
        self.assertEqual(saved.status, 200, saved.data)
        first = yield self.file("Where can I download last month's invoice as PDF?")
        self.assertEqual((first["category"], first["state"]), ("how_to", "new"))
        gaps = yield self.call("GET", "/api/v1/kb/gaps", "customer_office")
        self.assertEqual([g["ticket"] for g in gaps.json["gaps"]], [first["id"]])
        linked = yield self.call("POST", f"/api/v1/tickets/{first['id']}/articles", "customer_office",
                                 {"article": "statements-en"})
        self.assertEqual(linked.status, 200, linked.data)
        self.assertEqual(linked.json["timeline"][-1]["kind"], "article_linked")
        gaps = yield self.call("GET", "/api/v1/kb/gaps", "customer_office")
        self.assertEqual(gaps.json["gaps"], [])
        again = yield self.file("How do I download the PDF invoice for last month?")
        self.assertEqual(again["state"], "waiting_customer")
        self.assertEqual(again["suggested_articles"][0]["id"], "statements-en")
        refused = yield self.call("POST", f"/api/v1/tickets/{first['id']}/articles", "customer",
                                  {"article": "activation-window-en"})
        self.assertError(refused, 403)
