"""The root of the API port: API paths to the JSON API unchanged, everything else to the web console.

A request that carries an ``Authorization`` header is a machine's (people sign in with a cookie,
machines keep bearer tokens: DESIGN.md, Web console), so it always gets the JSON API's answer, e.g.
its JSON 404 for ``/``, never an HTML page or a redirect to the sign-in form.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

API_FIRST_SEGMENTS = frozenset({b"api", b"healthz", b"metrics"})


def is_api_request(request: Request) -> bool:
    """``/api/...``, ``/healthz``, ``/metrics`` and anything sent with credentials for the API."""
    segments = request.path.split(b"/", 2)
    if len(segments) > 1 and segments[1] in API_FIRST_SEGMENTS:
        return True
    return request.requestHeaders.hasHeader(b"authorization")


class RootResource(Resource):
    """A leaf that hands each request whole to the API or the web resource (both route by ``request.path``)."""

    isLeaf = True

    def __init__(self, api: Resource, web: Resource) -> None:
        Resource.__init__(self)
        self.api = api
        self.web = web

    def render(self, request: Request) -> Any:
        return (self.api if is_api_request(request) else self.web).render(request)
