"""Tokens: hashed storage, lookup, revocation, and ``telediag tokens create|list|revoke``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from telediag import cli
from telediag.api.tokens import (
    TokenUsageError,
    UnknownAccount,
    create_token,
    find_token,
    revoke_token,
)
from telediag.registry import repository
from telediag.registry.entries import parse_entry
from tests.stores import database_at


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    db = database_at(tmp_path / "telediag.sqlite3").connect()
    repository.save(db, [parse_entry({"imei": "356307042441013", "account": "Acme"})], 0.0, "manual")
    db.close()
    return tmp_path


def test_token_is_stored_as_its_hash_and_found_again(data_dir: Path) -> None:
    db = database_at(data_dir / "telediag.sqlite3").connect()
    token = create_token(db, "customer", "Acme", "portal", 10.0)
    rows = db.execute("SELECT token_hash, role, account, label, created_at, revoked_at FROM api_tokens").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).digest(), "customer", "Acme", "portal", 10.0, None)]
    found = find_token(db, token)
    assert found is not None and (found.role, found.account, found.revoked) == ("customer", "Acme", False)
    assert find_token(db, token + "x") is None
    assert find_token(db, "") is None
    assert revoke_token(db, found.id, 20.0)
    assert not revoke_token(db, found.id, 30.0)
    assert find_token(db, token).revoked
    db.close()


def test_create_token_checks_role_and_account(data_dir: Path) -> None:
    db = database_at(data_dir / "telediag.sqlite3").connect()
    with pytest.raises(TokenUsageError):
        create_token(db, "superuser", None, None, 0.0)
    with pytest.raises(TokenUsageError):
        create_token(db, "customer", None, None, 0.0)
    with pytest.raises(TokenUsageError):
        create_token(db, "technical", "Acme", None, 0.0)
    with pytest.raises(UnknownAccount):
        create_token(db, "customer", "Nobody", None, 0.0)
    assert db.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0
    db.close()


def _cli_token(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = cli.main(["tokens", "create", "--role", "customer", "--account", "Acme", "--label", "fleet portal",
                     "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    token = out.strip()
    assert out == token + "\n" and len(token) >= 43
    return token


def test_cli_create_prints_the_token_alone(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = _cli_token(data_dir, capsys)
    db = database_at(data_dir / "telediag.sqlite3").connect()
    stored = db.execute("SELECT token_hash, label FROM api_tokens").fetchone()
    db.close()
    assert tuple(stored) == (hashlib.sha256(token.encode()).digest(), "fleet portal")


@pytest.mark.sqlite_only
def test_cli_token_is_nowhere_in_the_sqlite_file(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = _cli_token(data_dir, capsys)
    assert token.encode() not in (data_dir / "telediag.sqlite3").read_bytes()


@pytest.mark.parametrize(("argv", "status"), [
    (["--role", "root"], 2),
    (["--role", "customer"], 2),
    (["--role", "admin", "--account", "Acme"], 2),
    (["--role", "customer", "--account", "Nobody"], 1),
])
def test_cli_create_refusals(data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> None:
    code = cli.main(["tokens", "create", *argv, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert code == status
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("telediag: ")


def test_cli_list_and_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tokens", "create", "--role", "it", "--data-dir", str(data_dir)]) == 0
    token = capsys.readouterr().out.strip()
    assert cli.main(["tokens", "list", "--data-dir", str(data_dir)]) == 0
    listing = capsys.readouterr().out
    assert " it " in listing and token not in listing
    assert cli.main(["tokens", "revoke", "1", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    assert cli.main(["tokens", "revoke", "1", "--data-dir", str(data_dir)]) == 1
    db = database_at(data_dir / "telediag.sqlite3").connect()
    assert find_token(db, token).revoked
    db.close()


def test_tokens_never_start_with_a_dash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A leading dash would be read as an option by command lines (``--token -abc``)."""
    from telediag.api.tokens import create_token


    db = database_at(tmp_path / "telediag.sqlite3").connect()
    try:
        tokens = [create_token(db, "technical", None, None, 0.0) for _ in range(300)]
    finally:
        db.close()
    assert not any(token.startswith("-") for token in tokens) and len(set(tokens)) == 300
