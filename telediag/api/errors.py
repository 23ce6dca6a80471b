"""API errors: one exception type that carries the status, a stable code and a plain message.

Every error leaves the API as ``{"error": {"code", "message"[, "details"]}}``; handlers raise, the
resource tree renders, so no handler can forget the shape or leak a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ApiError(Exception):
    """An answer other than success; ``details`` lists every problem of an input."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Iterable[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details) if details is not None else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error document."""
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: list[str] | None = None) -> dict[str, Any]:
    """``{"error": {"code", "message"[, "details"]}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def bad_request(message: str, *, code: str = "bad_request", details: Iterable[str] | None = None) -> ApiError:
    """400: the request is malformed or a value is out of range."""
    return ApiError(400, code, message, details=details)


def invalid_items(kind: str, problems: list[str]) -> ApiError:
    """400 listing every problem of a submitted batch; nothing of it was stored."""
    shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
    return ApiError(
        400, f"invalid_{kind}", f"{len(problems)} problem(s), nothing was stored: {shown}", details=problems
    )


def unauthorized(message: str, *, invalid_token: bool = False) -> ApiError:
    """401 with the ``WWW-Authenticate`` challenge RFC 6750 asks for."""
    challenge = 'Bearer realm="telediag"' + (', error="invalid_token"' if invalid_token else "")
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def forbidden(message: str) -> ApiError:
    """403: the token is valid but its role may not do this."""
    return ApiError(403, "forbidden", message)


def not_found(message: str = "no such resource") -> ApiError:
    """404: unknown path, or a device the caller does not know or may not know of."""
    return ApiError(404, "not_found", message)


def method_not_allowed(allowed: Iterable[str]) -> ApiError:
    """405 with the ``Allow`` header listing what the path accepts."""
    methods = ", ".join(sorted(allowed))
    return ApiError(405, "method_not_allowed", f"use one of: {methods}", headers={"Allow": methods})


def length_required() -> ApiError:
    """411: a body without a Content-Length (chunked) cannot be checked against the limit first."""
    return ApiError(411, "length_required", "send the body with a Content-Length header (no chunked encoding)")


def too_large(limit: int) -> ApiError:
    """413: the declared body is over the configured limit."""
    return ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes; send less per request")


def request_timeout(part: str, seconds: float) -> ApiError:
    """408: the request's head or body did not arrive within its deadline (slow or stalled client)."""
    return ApiError(408, "request_timeout", f"the request {part} did not arrive within {seconds:g} s; send it at once")


def header_fields_too_large(message: str) -> ApiError:
    """431: the request head has too many or too long header fields (RFC 6585 section 5)."""
    return ApiError(431, "header_fields_too_large", f"{message}; send fewer or shorter header fields")


def too_many_items(kind: str, limit: int) -> ApiError:
    """413: more items in one request than the API accepts."""
    return ApiError(413, f"too_many_{kind}", f"more than {limit} {kind} in one request; split it")


def unsupported_media_type() -> ApiError:
    """415: only JSON bodies are accepted."""
    return ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json")


def too_many_connections(limit: int) -> ApiError:
    """503: this source address already has as many open connections as the API allows."""
    return ApiError(503, "too_many_connections",
                    f"more than {limit} open connections from this address; reuse or close some",
                    headers={"Retry-After": "1"})


def version_not_supported() -> ApiError:
    """505: only HTTP/1.0 and HTTP/1.1 are spoken on this port."""
    return ApiError(505, "http_version_not_supported", "send the request as HTTP/1.1")


def store_unavailable() -> ApiError:
    """503: the store is locked or missing; the client may retry."""
    return ApiError(503, "store_unavailable", "the store is busy or unavailable; retry shortly",
                    headers={"Retry-After": "1"})
