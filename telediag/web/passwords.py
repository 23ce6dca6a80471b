"""Password hashes: scrypt from the standard library, stored self-describing.

Human passwords are low-entropy, so unlike API tokens (see ``telediag.api.tokens``) they need a slow,
memory-hard KDF: scrypt with n=2**14, r=8, p=1 costs 16 MiB and tens of milliseconds per guess. The
stored text names its parameters (``scrypt$16384$8$1$<salt hex>$<hash hex>``) so they can be raised
later without breaking existing hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
"""Longer input is refused before hashing: scrypt's cost grows with it (a cheap denial of service)."""
_MAXMEM = 64 * 1024 * 1024


class WeakPassword(ValueError):
    """The password cannot be used (too short, too long, empty)."""


def check_password(password: str) -> None:
    """Raise WeakPassword with a one-line reason when ``password`` may not be set."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"the password must have at most {MAX_PASSWORD_CHARS} characters")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=_MAXMEM)


def hash_password(password: str) -> str:
    """The stored form of a new password (random salt each time)."""
    check_password(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, N, R, P, KEY_BYTES)
    return f"scrypt${N}${R}${P}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for any malformed stored text or oversize input."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(key)
        derived = _derive(password, bytes.fromhex(salt), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(derived, expected)


_DUMMY = f"scrypt${N}${R}${P}${'00' * SALT_BYTES}${'00' * KEY_BYTES}"


def dummy_verify(password: str) -> bool:
    """Spend the time of one verification and answer False: an unknown username costs as much as a known one."""
    verify_password(password[:MAX_PASSWORD_CHARS], _DUMMY)
    return False
