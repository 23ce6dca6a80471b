"""Users: scrypt password hashes, credential checks, disabling, and ``telediag users create|disable|list``."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from telediag import cli
from telediag.api.tokens import UnknownAccount
from telediag.registry import repository
from telediag.registry.entries import parse_entry
from telediag.web import passwords
from telediag.web.sessions import resume_session, start_session
from telediag.web.users import UserExists, UserUsageError, check_credentials, create_user, disable_user, list_users
from tests.stores import database_at

PASSWORD = "correct horse battery"


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    db = database_at(tmp_path / "telediag.sqlite3").connect()
    repository.save(db, [parse_entry({"imei": "356307042441013", "account": "Acme"})], 0.0, "manual")
    db.close()
    return tmp_path


@pytest.fixture()
def db(data_dir: Path) -> sqlite3.Connection:
    connection = database_at(data_dir / "telediag.sqlite3").connect()
    yield connection
    connection.close()


def test_hash_is_self_describing_scrypt_with_a_random_salt() -> None:
    stored = passwords.hash_password(PASSWORD)
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(key)) == 32
    import hashlib
    assert bytes.fromhex(key) == hashlib.scrypt(PASSWORD.encode(), salt=bytes.fromhex(salt), n=16384, r=8, p=1,
                                                dklen=32)
    assert passwords.hash_password(PASSWORD) != stored  # a new salt every time
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.verify_password(PASSWORD + "x", stored)
    assert not passwords.verify_password(PASSWORD, "plain$text")
    assert not passwords.verify_password(PASSWORD, "scrypt$16384$8$1$zz$00")
    assert not passwords.dummy_verify(PASSWORD)


def test_short_password_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(passwords.WeakPassword, match="at least 10 characters"):
        passwords.hash_password("123456789")
    passwords.hash_password("1234567890")


def test_credentials_known_wrong_unknown_and_disabled(db: sqlite3.Connection) -> None:
    create_user(db, "alice", "technical", None, PASSWORD, 1.0)
    user = check_credentials(db, "alice", PASSWORD)
    assert user is not None and (user.username, user.role, user.account) == ("alice", "technical", None)
    assert check_credentials(db, "ALICE", PASSWORD) is not None  # names compare without case
    assert check_credentials(db, "alice", PASSWORD + "!") is None
    assert check_credentials(db, "bob", PASSWORD) is None
    assert check_credentials(db, "<script>", PASSWORD) is None
    stored = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    token = start_session(db, user.id, 10.0)
    assert resume_session(db, token, 11.0, 100.0, 1000.0) is not None
    assert disable_user(db, "alice", 12.0)
    assert not disable_user(db, "alice", 13.0)
    assert check_credentials(db, "alice", PASSWORD) is None
    assert resume_session(db, token, 14.0, 100.0, 1000.0) is None
    assert db.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 0


def test_create_user_checks_name_role_account_and_duplicates(db: sqlite3.Connection) -> None:
    for args in (("bad name", "admin", None), ("x", "superuser", None), ("x", "customer", None),
                 ("x", "technical", "Acme")):
        with pytest.raises(UserUsageError):
            create_user(db, *args, PASSWORD, 0.0)
    with pytest.raises(UserUsageError, match="at least 10"):
        create_user(db, "x", "admin", None, "short", 0.0)
    with pytest.raises(UnknownAccount):
        create_user(db, "x", "customer", "Nobody", PASSWORD, 0.0)
    create_user(db, "carol", "customer", "Acme", PASSWORD, 0.0)
    with pytest.raises(UserExists):
        create_user(db, "Carol", "admin", None, PASSWORD, 0.0)
    assert [(u["username"], u["role"], u["account"]) for u in list_users(db)] == [("carol", "customer", "Acme")]


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str,
        stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main([*argv, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_create_disable_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                 data_dir: Path) -> None:
    code, out, err = run(monkeypatch, capsys, data_dir, "users", "create", "--role", "customer",
                         "--account", "Acme", "dave", stdin=PASSWORD + "\n")
    assert (code, err) == (0, "") and PASSWORD not in out and "dave" in out
    code, out, _ = run(monkeypatch, capsys, data_dir, "users", "list")
    assert code == 0
    line = [row for row in out.splitlines() if row.startswith("dave")][0]
    assert line.split() == ["dave", "customer", "Acme", "-"]
    db = database_at(data_dir / "telediag.sqlite3").connect()
    assert check_credentials(db, "dave", PASSWORD) is not None  # the line end is not part of the password
    db.close()
    code, out, err = run(monkeypatch, capsys, data_dir, "users", "disable", "dave")
    assert code == 0 and "disabled" in out
    code, out, _ = run(monkeypatch, capsys, data_dir, "users", "list")
    assert [row for row in out.splitlines() if row.startswith("dave")][0].split()[-1] != "-"
    code, out, err = run(monkeypatch, capsys, data_dir, "users", "disable", "dave")
    assert code == 1 and err.count("\n") == 1 and "users list" in err


def test_cli_password_replaces_the_password_and_ends_the_sessions(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    new = "a brand new passphrase"
    created = run(monkeypatch, capsys, data_dir, "users", "create", "--role", "admin", "gina", stdin=PASSWORD + "\n")
    assert created[0] == 0
    db = database_at(data_dir / "telediag.sqlite3").connect()
    user = check_credentials(db, "gina", PASSWORD)
    assert user is not None
    token = start_session(db, user.id, 1000.0)
    code, out, err = run(monkeypatch, capsys, data_dir, "users", "password", "gina", stdin="short\n")
    assert code == 2 and "at least 10 characters" in err and check_credentials(db, "gina", PASSWORD) is not None
    code, out, err = run(monkeypatch, capsys, data_dir, "users", "password", "gina", stdin=new + "\n")
    assert (code, err) == (0, "") and new not in out and "sessions have ended" in out
    assert check_credentials(db, "gina", PASSWORD) is None
    assert check_credentials(db, "gina", new) is not None
    assert resume_session(db, token, 1001.0, 3600.0, 86400.0) is None
    code, _, err = run(monkeypatch, capsys, data_dir, "users", "password", "nobody", stdin=new + "\n")
    assert code == 1 and "users list" in err
    db.close()


@pytest.mark.parametrize("stdin", ["", "\n", "short\n"])
def test_cli_refuses_empty_or_short_password(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             data_dir: Path, stdin: str) -> None:
    code, out, err = run(monkeypatch, capsys, data_dir, "users", "create", "--role", "admin", "erin", stdin=stdin)
    assert code == 2 and out == "" and err.count("\n") == 1 and "at least 10 characters" in err
    db = database_at(data_dir / "telediag.sqlite3").connect()
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    db.close()


def test_cli_usage_and_failure_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          data_dir: Path) -> None:
    code, _, err = run(monkeypatch, capsys, data_dir, "users", "create", "--role", "customer", "frank",
                       stdin=PASSWORD + "\n")
    assert code == 2 and "--account" in err
    code, _, err = run(monkeypatch, capsys, data_dir, "users", "create", "--role", "customer", "--account",
                       "Nobody", "frank", stdin=PASSWORD + "\n")
    assert code == 1 and "not in the registry" in err
    assert run(monkeypatch, capsys, data_dir, "users", "create", "--role", "it", "frank",
               stdin=PASSWORD + "\n")[0] == 0
    code, _, err = run(monkeypatch, capsys, data_dir, "users", "create", "--role", "it", "frank",
                       stdin=PASSWORD + "\n")
    assert code == 1 and "already exists" in err
    with pytest.raises(SystemExit) as exited:
        cli.main(["users", "create", "frank"])  # --role missing: argparse's usage error
    assert exited.value.code == 2


def test_unknown_and_disabled_users_cost_one_scrypt_like_known_ones(db: sqlite3.Connection,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    create_user(db, "gina", "it", None, PASSWORD, 0.0)
    create_user(db, "hank", "it", None, PASSWORD, 0.0)
    disable_user(db, "hank", 1.0)
    import hashlib
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(int(kwargs["n"]))  # type: ignore[call-overload]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    for username in ("gina", "nobody", "hank", "not a valid name!"):
        calls.clear()
        check_credentials(db, username, PASSWORD + "?")
        assert calls == [2**14], username
