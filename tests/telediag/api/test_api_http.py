"""The API over real HTTP on 127.0.0.1: error shapes and statuses, body limits, tokens, health."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from twisted.internet import defer
from twisted.web.client import Agent

from telediag.api.tokens import revoke_token
from tests.stores import remove_store
from tests.telediag.api.support import ICCID_A, IMEI_A, IMEI_B, ApiTestCase

EVENT = {"iccid": ICCID_A, "at": "2025-06-16T08:00:00Z", "type": "attach", "mcc": 260, "mnc": 1}


def request_head(method: str, path: str, token: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def split_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, orjson.loads(body)


class ErrorShapeTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_missing_token_is_401_with_a_bearer_challenge(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", "/api/v1/devices")
        self.assertError(answer, 401, "unauthorized")
        self.assertEqual(answer.header("WWW-Authenticate"), 'Bearer realm="telediag"')

    @defer.inlineCallbacks
    def test_unknown_and_malformed_tokens_are_401_invalid_token(self) -> Any:
        yield self.start()
        for header in ("Bearer not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 600):
            answer = yield self.call("GET", "/api/v1/devices", headers={"Authorization": header})
            self.assertError(answer, 401, "unauthorized")
            self.assertIn('error="invalid_token"', answer.header("WWW-Authenticate"))

    @defer.inlineCallbacks
    def test_revoked_token_stops_working_at_once(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", "/api/v1/devices", "admin")
        self.assertEqual(answer.status, 200)
        db = self.db()
        token_id = db.execute("SELECT id FROM api_tokens WHERE role = 'admin'").fetchone()[0]
        self.assertTrue(revoke_token(db, token_id, 1.0))
        db.commit()
        answer = yield self.call("GET", "/api/v1/devices", "admin")
        self.assertError(answer, 401)

    @defer.inlineCallbacks
    def test_unknown_path_is_404_json_even_without_token(self) -> Any:
        yield self.start()
        for path in ("/", "/api/v1/nothing", "/api/v2/devices", f"/api/v1/devices/{IMEI_A}/nothing",
                     "/api/v1/devices/not-an-imei"):
            answer = yield self.call("GET", path, "admin")
            self.assertError(answer, 404, "not_found")

    @defer.inlineCallbacks
    def test_wrong_method_is_405_with_allow(self) -> Any:
        yield self.start()
        answer = yield self.call("DELETE", "/api/v1/devices", "admin")
        self.assertError(answer, 405, "method_not_allowed")
        self.assertEqual(answer.header("Allow"), "GET, HEAD, POST")
        answer = yield self.call("POST", f"/api/v1/devices/{IMEI_A}/records", "admin", body={})
        self.assertError(answer, 405)
        self.assertEqual(answer.header("Allow"), "GET, HEAD")

    @defer.inlineCallbacks
    def test_role_not_allowed_is_403(self) -> Any:
        yield self.start()
        answer = yield self.call("POST", "/api/v1/connectivity/events", "customer_office", body=EVENT)
        self.assertError(answer, 403, "forbidden")

    @defer.inlineCallbacks
    def test_bad_query_parameters_are_400(self) -> Any:
        yield self.start()
        for query in ("?since=yesterday", "?limit=0", "?limit=10001", "?limit=x", "?colour=red",
                      "?since=2025-06-15T00:00:00Z&until=2025-06-14T00:00:00Z", "?limit=1&limit=2"):
            answer = yield self.call("GET", f"/api/v1/devices/{IMEI_A}/records{query}", "admin")
            self.assertError(answer, 400, "invalid_parameter")
        answer = yield self.call("GET", "/api/v1/findings?active=maybe", "admin")
        self.assertError(answer, 400)

    @defer.inlineCallbacks
    def test_internal_error_is_json_500_without_traceback(self) -> Any:
        yield self.start()
        self.diagnostics.failing.add(IMEI_A)
        answer = yield self.call("GET", f"/api/v1/devices/{IMEI_A}/selfcheck", "admin")
        error = self.assertError(answer, 500, "internal_error")
        self.assertIn("ref ", error["message"])
        for leak in (b"Traceback", b"secret internal detail", b"/var/lib", b"RuntimeError"):
            self.assertNotIn(leak, answer.data)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    @defer.inlineCallbacks
    def test_json_headers_and_head(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", "/api/v1/devices", "admin")
        self.assertEqual(answer.header("Cache-Control"), "no-store")
        self.assertEqual(answer.length, len(answer.data))
        head = yield self.call("HEAD", "/api/v1/devices", "admin")
        self.assertEqual((head.status, head.data), (200, b""))


class BodyTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_not_json_content_type_is_415(self) -> Any:
        yield self.start()
        answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", raw=orjson.dumps(EVENT),
                                 headers={"Content-Type": "text/plain"})
        self.assertError(answer, 415, "unsupported_media_type")

    @defer.inlineCallbacks
    def test_bad_json_is_400(self) -> Any:
        yield self.start()
        for raw in (b"{not json", b"", b"42", b"[]"):
            answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", raw=raw,
                                     headers={"Content-Type": "application/json"})
            self.assertError(answer, 400)

    @defer.inlineCallbacks
    def test_bad_events_list_every_problem_by_event_and_store_nothing(self) -> Any:
        yield self.start()
        events = [EVENT, {"at": "soon", "type": "boot"}, {"imei": "12", "at": EVENT["at"], "type": "attach",
                                                          "cause": 999, "colour": "red"}]
        answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", body=events)
        error = self.assertError(answer, 400, "invalid_events")
        details = error["details"]
        self.assertTrue(all(d.startswith(("event 2: ", "event 3: ")) for d in details), details)
        self.assertEqual(len([d for d in details if d.startswith("event 2: ")]), 3)  # type, at, no id
        self.assertEqual(len([d for d in details if d.startswith("event 3: ")]), 3)  # field, imei, cause
        count = self.db().execute("SELECT count(*) FROM connectivity_events").fetchone()[0]
        self.assertEqual(count, 3, "nothing of a rejected batch is stored")

    @defer.inlineCallbacks
    def test_events_are_stored_once(self) -> Any:
        yield self.start()
        answer = yield self.call("POST", "/api/v1/connectivity/events", "technical", body=[EVENT, EVENT])
        self.assertEqual((answer.status, answer.json), (200, {"received": 2, "stored": 1}))
        answer = yield self.call("POST", "/api/v1/connectivity/events", "it", body=EVENT)
        self.assertEqual(answer.json, {"received": 1, "stored": 0})

    @defer.inlineCallbacks
    def test_body_over_the_limit_is_413(self) -> Any:
        yield self.start(max_body_bytes=2048)
        events = [dict(EVENT, at=f"2025-06-16T08:00:{i:02d}Z") for i in range(40)]
        body = orjson.dumps(events)
        self.assertGreater(len(body), 2048)
        answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", raw=body,
                                 headers={"Content-Type": "application/json"})
        self.assertError(answer, 413, "payload_too_large")
        answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", body=events[:5])
        self.assertEqual(answer.status, 200, "the service goes on after a refusal")

    @defer.inlineCallbacks
    def test_client_sending_a_huge_body_still_reads_the_413(self) -> Any:
        yield self.start()
        answer = yield self.call("POST", "/api/v1/devices", "admin", raw=b"[" + b" " * (20 * 2**20) + b"]",
                                 headers={"Content-Type": "application/json"})
        self.assertError(answer, 413, "payload_too_large")

    @defer.inlineCallbacks
    def test_declared_length_over_the_limit_is_refused_before_the_body_is_sent(self) -> Any:
        yield self.start()
        head = request_head("POST", "/api/v1/connectivity/events", self.tokens["admin"],
                            **{"Content-Type": "application/json", "Content-Length": str(100 * 2**20),
                               "Expect": "100-continue"})
        raw = yield self.raw(head)
        self.assertNotIn(b"100 Continue", raw)
        status, headers, body = split_response(raw)
        self.assertEqual(status, 413)
        self.assertEqual(headers["connection"], "close")
        self.assertEqual(body["error"]["code"], "payload_too_large")

    @defer.inlineCallbacks
    def test_body_without_length_is_411(self) -> Any:
        yield self.start()
        chunked = request_head("POST", "/api/v1/connectivity/events", self.tokens["admin"],
                               **{"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        raw = yield self.raw(chunked + b"2\r\n{}\r\n0\r\n\r\n")
        status, _, body = split_response(raw)
        self.assertEqual((status, body["error"]["code"]), (411, "length_required"))
        bare = request_head("POST", "/api/v1/connectivity/events", self.tokens["admin"],
                            **{"Content-Type": "application/json", "Connection": "close"})
        status, _, body = split_response((yield self.raw(bare)))
        self.assertEqual(status, 411)

    @defer.inlineCallbacks
    def test_too_many_events_in_one_post_is_413(self) -> Any:
        yield self.start()
        answer = yield self.call("POST", "/api/v1/connectivity/events", "admin", body=[EVENT] * 10_001)
        self.assertError(answer, 413, "too_many_events")


class TokenAndHealthTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_healthz_needs_no_token(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", "/healthz")
        self.assertEqual((answer.status, answer.json), (200, {"status": "ok", "store": "ok"}))

    @defer.inlineCallbacks
    def test_healthz_is_503_when_the_store_is_gone(self) -> Any:
        yield self.start()
        remove_store(self.config.database_path)
        answer = yield self.call("GET", "/healthz")
        self.assertEqual(answer.status, 503)
        self.assertEqual(answer.json["status"], "unavailable")

    def test_tokens_are_stored_as_sha256_only(self) -> None:
        stored = {bytes(row[0]) for row in self.db().execute("SELECT token_hash FROM api_tokens")}
        for token in self.tokens.values():
            self.assertIn(hashlib.sha256(token.encode()).digest(), stored)
            self.assertGreaterEqual(len(token), 43)

    @pytest.mark.sqlite_only
    def test_no_token_is_anywhere_in_the_sqlite_file(self) -> None:
        self.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        content = self.config.database_path.read_bytes()
        for token in self.tokens.values():
            self.assertNotIn(token.encode(), content)

    @defer.inlineCallbacks
    def test_customer_token_of_other_account_cannot_read_device(self) -> Any:
        yield self.start()
        answer = yield self.call("GET", f"/api/v1/devices/{IMEI_B}", "customer")
        self.assertError(answer, 404)
        answer = yield self.call("GET", f"/api/v1/devices/{IMEI_B}", "customer_b")
        self.assertEqual(answer.status, 200)

    @defer.inlineCallbacks
    def test_stop_closes_idle_keep_alive_connections(self) -> Any:
        yield self.start()
        from twisted.internet import reactor
        from twisted.web.client import HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=True)
        self.agent = Agent(reactor, pool=pool)
        answer = yield self.call("GET", "/api/v1/devices", "admin")
        self.assertEqual(answer.status, 200)
        self.assertEqual(len(self.service._tracker.protocols), 1)
        yield self.stop()
        self.assertEqual(len(self.service._tracker.protocols), 0)
        yield pool.closeCachedConnections()
