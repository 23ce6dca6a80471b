"""The admin pages over real HTTP against the real ApiService: users made and disabled with the CLI's own
functions and rules (a disabled user's sessions end and it cannot sign in again), API tokens shown once
and revoked (the token works against the API until then), the integration status without secrets, a
404 for every other role and a 403 for every form sent without its CSRF token."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from twisted.internet import defer

from telediag.api.tokens import hash_token
from telediag.config import Config, InfluxSettings, MetricsSettings, MqttSettings, WebhookConfig
from telediag.web.admin import Snapshot, integrations, origin, size_text
from tests.telediag.api.support import ACME
from tests.telediag.web.test_ticket_staff_pages import ConsoleTestCase

NEW_PASSWORD = "a long enough password"


def row(html: str, hook: str, value: str) -> str:
    found = re.search(rf'<tr {hook}="{re.escape(value)}".*?</tr>', html, re.S)
    assert found is not None, html
    return found.group(0)


class AdminPageTests(ConsoleTestCase):

    @defer.inlineCallbacks
    def test_everyone_but_an_admin_gets_the_404_page(self) -> Any:
        yield self.start()
        for username in ("anna", "office", "tech", "itsy"):
            for path in ("/admin", "/admin/users", "/admin/tokens", "/admin/integrations"):
                self.assertPage((yield self.page(username, path)), 404)
            for path, fields in (("/admin/users", {"username": "mallory", "role": "admin", "password": NEW_PASSWORD,
                                                   "confirm": NEW_PASSWORD}),
                                 ("/admin/users/disable", {"username": "root"}), ("/admin/tokens", {"role": "admin"}),
                                 ("/admin/tokens/1/revoke", {})):
                self.assertPage((yield self.send(username, path, fields)), 404)
        db = self.db()
        self.assertIsNone(db.execute("SELECT 1 FROM users WHERE username = 'mallory'").fetchone())
        self.assertEqual(db.execute("SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT count(*) FROM users WHERE disabled_at IS NOT NULL").fetchone()[0], 0)
        for path in ("/admin", "/admin/users", "/admin/tokens", "/admin/integrations", "/admin/nothing"):
            self.assertPage((yield self.page("root", path)), 404 if path.endswith("nothing") else 200)

    @defer.inlineCallbacks
    def test_an_admin_creates_a_user_who_signs_in_then_disables_it(self) -> Any:
        yield self.start()
        html = self.assertPage((yield self.page("root", "/admin/users")))
        self.assertIn('data-user="anna"', html)
        self.assertIn(ACME, row(html, "data-user", "anna"))
        self.assertNotIn("scrypt$", html)
        self.assertEqual(re.findall(r'<select id="new-role"[^>]*>(.*?)</select>', html, re.S)[0].count("<option"), 5)
        for label in ("new-username", "new-role", "new-account", "new-password", "new-confirm"):
            self.assertIn(f'<label for="{label}">', html)

        made = yield self.send("root", "/admin/users", {"username": "bob", "role": "technical", "account": "",
                                                         "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        self.assertEqual((made.status, made.header("Location")), (303, "/admin/users?created=bob"))
        html = self.assertPage((yield self.page("root", "/admin/users?created=bob")))
        self.assertIn("User bob created.", html)
        self.assertIn("no open session", row(html, "data-user", "bob"))
        signed_in = yield self.sign_in("bob", NEW_PASSWORD)
        self.assertEqual(signed_in.status, 303)
        self.assertPage((yield self.page("bob", "/desk")))
        html = self.assertPage((yield self.page("root", "/admin/users")))
        self.assertIn("(1 session)", row(html, "data-user", "bob"))

        disabled = yield self.send("root", "/admin/users/disable", {"username": "bob"})
        self.assertEqual((disabled.status, disabled.header("Location")), (303, "/admin/users?disabled=bob"))
        after = yield self.page("bob", "/desk")  # the session ended with the user
        self.assertEqual((after.status, after.header("Location")), (303, "/login"))
        again = yield self.sign_in("bob", NEW_PASSWORD)
        self.assertEqual(again.status, 401)
        html = self.assertPage((yield self.page("root", "/admin/users?disabled=bob")))
        self.assertIn("User bob disabled", html)
        self.assertIn('data-disabled="yes"', row(html, "data-user", "bob"))
        self.assertNotIn("/admin/users/disable", row(html, "data-user", "bob"))
        self.assertIn('href="/admin/users/disable?username=tech"', row(html, "data-user", "tech"))
        question = self.assertPage((yield self.page("root", "/admin/users/disable?username=tech")))
        self.assertIn('action="/admin/users/disable"', question)
        self.assertIn('<input type="hidden" name="username" value="tech">', question)
        self.assertPage((yield self.page("root", "/admin/users/disable?username=%3Cx%3E")), 404)
        twice = yield self.send("root", "/admin/users/disable", {"username": "bob"})
        self.assertIn("bob is not a live user.", self.assertPage(twice, 400))
        myself = yield self.send("root", "/admin/users/disable", {"username": "ROOT"})
        self.assertIn("You cannot disable yourself", self.assertPage(myself, 400))
        self.assertPage((yield self.page("root", "/admin")))  # still signed in

    @defer.inlineCallbacks
    def test_user_forms_refused_with_the_clis_messages(self) -> Any:
        yield self.start()
        cases = [
            ({"username": "carl", "role": "it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"},
             "The two passwords differ"),
            ({"username": "carl", "role": "it", "password": "short", "confirm": "short"},
             "the password must have at least 10 characters"),
            ({"username": "anna", "role": "it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "already exists"),
            ({"username": "carl", "role": "customer", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
             "a customer user needs"),
            ({"username": "carl", "role": "customer", "account": "Nobody Ltd", "password": NEW_PASSWORD,
              "confirm": NEW_PASSWORD}, "account &#39;Nobody Ltd&#39; is not in the registry"),
            ({"username": "carl", "role": "root", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "unknown role"),
            ({"username": "<carl>", "role": "it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
             "the username must be"),
        ]
        for fields, message in cases:
            html = self.assertPage((yield self.send("root", "/admin/users", fields)), 400)
            self.assertRegex(html, rf'role="alert">[^<]*{message}')
            self.assertNotIn(NEW_PASSWORD, html)  # a password is never sent back
        self.assertIn('value="&lt;carl&gt;"', html)  # the other fields are kept, escaped
        self.assertIsNone(self.db().execute("SELECT 1 FROM users WHERE username = 'carl'").fetchone())
        made = yield self.send("root", "/admin/users", {"username": "carl", "role": "customer", "account": ACME,
                                                         "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        self.assertEqual(made.status, 303)

    @defer.inlineCallbacks
    def test_a_token_is_shown_once_works_against_the_api_and_stops_when_revoked(self) -> Any:
        yield self.start()
        made = yield self.send("root", "/admin/tokens", {"role": "customer", "account": ACME, "label": "fleet app"})
        html = self.assertPage(made)
        token = re.search(r'<input id="new-token"[^>]*value="([^"]+)"', html).group(1)
        self.assertIn("it will not be shown again", html)
        self.assertIn('data-role="customer">customer<', html)
        devices = yield self.call("GET", "/api/v1/devices", token)
        self.assertEqual(devices.status, 200, devices.data)
        self.assertEqual({d["account"] for d in devices.json["devices"]}, {ACME})

        listing = self.assertPage((yield self.page("root", "/admin/tokens")))
        self.assertNotIn(token, listing)
        self.assertNotIn(hash_token(token).hex(), listing)
        token_id = self.db().execute("SELECT id FROM api_tokens WHERE label = 'fleet app'").fetchone()[0]
        entry = row(listing, "data-token", str(token_id))
        self.assertIn("fleet app", entry)
        self.assertIn('data-revoked="no"', entry)
        self.assertEqual(re.findall(r'<tr data-token="(\d+)"', listing)[0], str(token_id))  # newest first

        question = self.assertPage((yield self.page("root", f"/admin/tokens/{token_id}/revoke")))
        self.assertIn(f'action="/admin/tokens/{token_id}/revoke"', question)
        self.assertEqual((yield self.call("GET", "/api/v1/devices", token)).status, 200)  # asking changes nothing
        revoked = yield self.send("root", f"/admin/tokens/{token_id}/revoke", {})
        self.assertEqual((revoked.status, revoked.header("Location")), (303, f"/admin/tokens?revoked={token_id}"))
        refused = yield self.call("GET", "/api/v1/devices", token)
        self.assertError(refused, 401)
        listing = self.assertPage((yield self.page("root", f"/admin/tokens?revoked={token_id}")))
        self.assertIn(f"Token {token_id} revoked", listing)
        self.assertIn('data-revoked="yes"', row(listing, "data-token", str(token_id)))
        again = yield self.send("root", f"/admin/tokens/{token_id}/revoke", {})
        self.assertIn(f"Token {token_id} is not a live token.", self.assertPage(again, 400))
        for fields, message in (({"role": "customer"}, "a customer token needs"),
                                ({"role": "it", "account": ACME}, "is only for customer tokens"),
                                ({"role": "customer", "account": "Nobody Ltd"}, "is not in the registry"),
                                ({"role": "wizard"}, "unknown role")):
            self.assertIn(message, self.assertPage((yield self.send("root", "/admin/tokens", fields)), 400))

    @defer.inlineCallbacks
    def test_every_admin_post_without_the_csrf_token_is_refused(self) -> Any:
        yield self.start()
        for path, fields in (("/admin/users", {"username": "eve", "role": "admin", "password": NEW_PASSWORD,
                                               "confirm": NEW_PASSWORD}),
                             ("/admin/users/disable", {"username": "anna"}), ("/admin/tokens", {"role": "admin"}),
                             ("/admin/tokens/1/revoke", {})):
            answer = yield self.send("root", path, fields, csrf=False)
            self.assertEqual(answer.status, 403, path)
        db = self.db()
        self.assertIsNone(db.execute("SELECT 1 FROM users WHERE username = 'eve'").fetchone())
        self.assertEqual(db.execute("SELECT count(*) FROM users WHERE disabled_at IS NOT NULL").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT count(*) FROM api_tokens").fetchone()[0], 6)

    @defer.inlineCallbacks
    def test_integration_status_says_what_is_connected_without_secrets(self) -> Any:
        self.config = dataclasses.replace(
            self.config,
            webhooks=WebhookConfig(urls=("http://127.0.0.1:9/hooks/telediag?key=hook-secret",), secret="sign-secret"),
            influxdb=InfluxSettings(url="http://127.0.0.1:8086/", org="fleet", bucket="records", token="influx-secret"),
            metrics=MetricsSettings(token="metrics-secret"),
        )
        yield self.start()
        yield self.file()  # a ticket event queued for the webhook receiver
        html = self.assertPage((yield self.page("root", "/admin/integrations")))
        states = dict(re.findall(r'data-integration="([a-z]+)" data-state="([a-z]+)"', html))
        self.assertEqual(states, {"store": "ok", "listeners": "attention", "influxdb": "attention", "mqtt": "off",
                                  "webhooks": "ok", "metrics": "ok", "tickets": "ok"})
        for secret in ("hook-secret", "sign-secret", "influx-secret", "metrics-secret", "/hooks/telediag"):
            self.assertNotIn(secret, html)
        webhooks = re.search(r'data-integration="webhooks".*?</section>', html, re.S).group(0)
        self.assertIn("http://127.0.0.1:9", webhooks)
        self.assertRegex(webhooks, r"Waiting for delivery</dt><dd>[1-9]")
        influx = re.search(r'data-integration="influxdb".*?</section>', html, re.S).group(0)
        self.assertRegex(influx, r"Records waiting</dt><dd>8<")  # the populated store's records, never exported
        self.assertIn("Bearer token required</dt><dd>yes", html)
        self.assertRegex(html, r'(?s)data-integration="mqtt".*?not configured')
        self.assertRegex(html, r"Schema version</dt><dd>\d+")
        overview = self.assertPage((yield self.page("root", "/admin")))
        self.assertIn('data-count="tokens">6<', overview)
        self.assertIn('data-integration="influxdb" data-state="attention"', overview)


class IntegrationTests(ConsoleTestCase):
    """The status without a service: what each configuration and snapshot becomes."""

    def seen(self, **changes: Any) -> Snapshot:
        base = Snapshot(database_bytes=3 * 1024 * 1024, schema_version=12, newest_record_id=100, devices=4,
                        open_tickets=2, users=3, live_tokens=2, influx_cursor=100, influx_moved_at=1000.0,
                        webhooks_pending=0, webhooks_given_up=0, webhooks_oldest_pending_at=None,
                        listening=[{"protocol": "teltonika", "transport": "tcp", "port": 5027}])
        return dataclasses.replace(base, **changes)

    def states(self, config: Config, seen: Snapshot, now: float = 1100.0, metrics: Any = None) -> dict[str, str]:
        return {each.key: each.state for each in integrations(config, seen, now, metrics=metrics, desk=None,
                                                              gettext=str)}

    def test_states(self) -> None:
        influx = Config(influxdb=InfluxSettings(url="https://influx.example:8086", org="o", bucket="b"))
        self.assertEqual(self.states(Config(), self.seen()),
                         {"store": "ok", "listeners": "ok", "influxdb": "off", "mqtt": "off", "webhooks": "off",
                          "metrics": "ok", "tickets": "off"})
        self.assertEqual(self.states(influx, self.seen())["influxdb"], "ok")
        self.assertEqual(self.states(influx, self.seen(newest_record_id=150), now=1200.0)["influxdb"], "ok")
        self.assertEqual(self.states(influx, self.seen(newest_record_id=150), now=1400.0)["influxdb"], "attention")
        self.assertEqual(self.states(Config(), self.seen(webhooks_given_up=1))["webhooks"], "attention")
        mqtt = Config(mqtt=MqttSettings(host="127.0.0.1", subscribe=False, username="u", password="mqtt-secret"))
        status = {each.key: each for each in integrations(mqtt, self.seen(), 0.0, metrics=None, desk=None, gettext=str)}
        self.assertEqual(status["mqtt"].state, "ok")
        self.assertEqual(dict(status["mqtt"].facts), {"Broker": "127.0.0.1:1883", "Telemetry ingest": "off",
                                                      "Findings and ticket events out": "on: telediag/v1/accounts/…"})
        self.assertEqual(status["listeners"].facts, [("teltonika (tcp)", "port 5027")])
        self.assertEqual(dict(status["store"].facts)["Size with its log"], "3.0 MiB")
        self.assertEqual(self.states(Config(), self.seen(listening=None))["listeners"], "attention")

    def test_helpers(self) -> None:
        self.assertEqual(origin("https://user:pw@hooks.example:8443/x/y?token=1"), "https://hooks.example:8443")
        self.assertEqual((size_text(512), size_text(2048), size_text(5 * 1024 ** 3)), ("512 B", "2.0 KiB", "5.0 GiB"))
