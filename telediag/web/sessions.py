"""Server-side sessions of signed-in people, in ``web_sessions``.

The cookie carries ``secrets.token_urlsafe(32)`` (256 random bits); the store keeps only its SHA-256,
as for API tokens, so a copy of the database signs nobody in. A session ends when unused for
``session_idle_s``, ``session_max_s`` after sign-in, at sign-out, and at once when its user is
disabled (the lookup joins the user and checks ``disabled_at`` on every request). Each session has its
own random CSRF token, which every state-changing form must echo.

Times are arguments (the service passes ``reactor.seconds()``), so tests drive expiry with a Clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from telediag.api.auth import Principal
from telediag.api.tokens import ROLES
from telediag.store.database import Connection

MAX_SESSION_TOKEN_CHARS = 128


@dataclass(frozen=True)
class Session:
    """A live session as pages need it."""

    id: int
    user_id: int
    username: str
    role: str
    account: str | None
    csrf_token: str

    @property
    def principal(self) -> Principal:
        """The caller as ``telediag.api.policy`` sees it: the same role and account the API uses."""
        return Principal(self.role, self.account)

    def csrf_matches(self, sent: str | None) -> bool:
        """Whether a form echoed this session's CSRF token (constant-time)."""
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf_token.encode())


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def start_session(db: Connection, user_id: int, now: float) -> str:
    """Store a new session for ``user_id``; return the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
        (_hash(token), user_id, secrets.token_urlsafe(32), now, now),
    )
    if db.in_transaction:
        db.commit()
    return token


def resume_session(db: Connection, token: str, now: float, idle_s: float, max_s: float) -> Session | None:
    """The live session of ``token``, marked used at ``now``; None (and the row deleted) once it expired.

    Runs on the write connection: resuming a session is a write (``last_seen_at``).
    """
    if not token or len(token) > MAX_SESSION_TOKEN_CHARS:
        return None
    digest = _hash(token)
    row = db.execute(
        "SELECT s.id, s.token_hash, s.user_id, u.username, u.role, u.account, s.csrf_token, s.created_at, "
        "s.last_seen_at, u.disabled_at FROM web_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = ?",
        (digest,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[1]), digest):
        return None
    session_id, _, user_id, username, role, account, csrf, created, last_seen, disabled = row
    if disabled is not None or role not in ROLES or now - last_seen >= idle_s or now - created >= max_s:
        end_session(db, session_id)
        return None
    db.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id = ?", (max(now, last_seen), session_id))
    if db.in_transaction:
        db.commit()
    return Session(session_id, user_id, username, role, account, csrf)


def end_session(db: Connection, session_id: int) -> None:
    """Sign-out: the row goes, so the cookie is worthless from now on."""
    db.execute("DELETE FROM web_sessions WHERE id = ?", (session_id,))
    if db.in_transaction:
        db.commit()


def purge_expired(db: Connection, now: float, idle_s: float, max_s: float) -> int:
    """Delete every expired session (ones never used again would otherwise stay forever)."""
    cursor = db.execute(
        "DELETE FROM web_sessions WHERE last_seen_at <= ? OR created_at <= ?", (now - idle_s, now - max_s)
    )
    if db.in_transaction:
        db.commit()
    deleted: int = cursor.rowcount
    return deleted
