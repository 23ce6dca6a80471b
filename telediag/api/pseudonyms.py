"""Stable account pseudonyms for the technical and IT roles.

``acct-`` plus the first 12 hex digits of HMAC-SHA256(secret, account name): the same account always
gets the same pseudonym on one installation (so staff can group and filter by it), while nobody
without the secret can test a guessed name against it. The secret is 32 random bytes made on first use
in the data directory, readable by the service user only; it never leaves the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from telediag.store.permissions import private_file

SECRET_FILE = "pseudonym.key"
SECRET_BYTES = 32
PREFIX = "acct-"
DIGITS = 12
"""48 bits: collisions stay unlikely even for a million accounts (~0.2 %); a filter still matches all."""


def load_or_create_secret(data_dir: Path) -> bytes:
    """The installation's secret, created atomically (O_EXCL) the first time."""
    path = Path(data_dir) / SECRET_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        private_file(path)  # a key restored or copied with a looser mode
        secret = path.read_bytes()
        if len(secret) != SECRET_BYTES:
            raise ValueError(
                f"{path} holds {len(secret)} bytes, expected {SECRET_BYTES}; restore it from a backup "
                "(deleting it changes every account pseudonym)"
            ) from None
        return secret
    secret = secrets.token_bytes(SECRET_BYTES)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secret)
        handle.flush()
        os.fsync(handle.fileno())
    return secret


class Pseudonymiser:
    """Account name -> pseudonym, and back through the list of known names."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self.account = lru_cache(maxsize=65_536)(self._account)

    def _account(self, name: str) -> str:
        digest = hmac.new(self._secret, name.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:DIGITS]

    def resolve(self, pseudonym: str, names: Iterable[str]) -> set[str]:
        """The account names that map to ``pseudonym`` (normally one, none when unknown)."""
        return {name for name in names if hmac.compare_digest(self.account(name), pseudonym)}

    @staticmethod
    def looks_like(text: str) -> bool:
        """Whether ``text`` has the pseudonym form (``acct-`` and 12 hex digits)."""
        tail = text[len(PREFIX):]
        return text.startswith(PREFIX) and len(tail) == DIGITS and all(c in "0123456789abcdef" for c in tail)
