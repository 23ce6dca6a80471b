"""Page answers without a socket: the Secure cookie attribute over TLS, and the [web] configuration."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from telediag.config import Config, ConfigError, WebConfig, parse_config
from telediag.web.resources import SESSION_COOKIE, Page, WebResource


def written(secure: bool) -> bytes:
    channel = DummyChannel()
    if secure:
        channel.transport = DummyChannel.SSL()
    request = Request(channel)
    request.method, request.uri, request.path, request.clientproto = b"POST", b"/login", b"/login", b"HTTP/1.1"
    resource = WebResource(SimpleNamespace(config=Config()))
    resource._send(Page(303, b"", {"Location": "/"}, [(SESSION_COOKIE, b"token", 43200, b"/")]), request, [False])
    return channel.transport.written.getvalue()


def cookie_line(data: bytes) -> str:
    return [line for line in data.decode().split("\r\n") if line.lower().startswith("set-cookie:")][0]


def test_session_cookie_is_secure_over_tls_only() -> None:
    tls = cookie_line(written(secure=True))
    plain = cookie_line(written(secure=False))
    assert "; Secure" in tls and "Secure" not in plain
    for line in (tls, plain):
        assert "HttpOnly" in line and "samesite=strict" in line.lower() and "Max-Age=43200" in line


def test_web_section_defaults_and_checks() -> None:
    assert parse_config({}).web == WebConfig(1800.0, 43200.0, 5, 20, 900.0)
    web = parse_config({"web": {"session_idle_s": 600, "login_failures_per_user": 3}}).web
    assert (web.session_idle_s, web.login_failures_per_user, web.login_window_s) == (600.0, 3, 900.0)
    with pytest.raises(ConfigError, match=r"\[web\] has no key 'session_idle'"):
        parse_config({"web": {"session_idle": 5}})
    with pytest.raises(ConfigError, match="positive"):
        parse_config({"web": {"login_window_s": 0}})
    with pytest.raises(ConfigError, match="must be int"):
        parse_config({"web": {"login_failures_per_address": "20"}})
