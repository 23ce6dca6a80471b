"""Who is signed in on a page request: the session, and the same ``Principal`` the API uses.

The web resource resolves the session once per request (a store call on a worker thread) and
remembers it on the request; pages then ask :func:`principal_of` and hand the principal to
``telediag.api.policy``, so the pages and the API can never disagree on what a role may see.
"""

from __future__ import annotations

from twisted.web.server import Request

from telediag.api.auth import Principal
from telediag.web.sessions import Session

_ATTRIBUTE = "_telediag_web_session"


def remember(request: Request, session: Session | None) -> None:
    """Attach the resolved session (or None) to the request."""
    setattr(request, _ATTRIBUTE, session)


def session_of(request: Request) -> Session | None:
    """The live session of the request, or None when nobody is signed in."""
    return getattr(request, _ATTRIBUTE, None)


def principal_of(request: Request) -> Principal | None:
    """The signed-in person's role and account, or None when nobody is signed in."""
    session = session_of(request)
    return None if session is None else session.principal
