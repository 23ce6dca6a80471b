"""``telediag contacts`` and ``telediag notifications``: add, list, remove, and what a refusal says."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from telediag.cli import main
from tests.stores import database_at


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def account_acme(tmp_path: Path) -> list[str]:
    """A store on this run's backend (``tests.conftest``) with the account Acme (accounts come with their
    devices); the CLI's store options."""
    database_at(tmp_path / "telediag.sqlite3").connect().close()
    store = ["--data-dir", str(tmp_path)]
    assert run("devices", "add", "356307042441013", "--protocol", "teltonika", "--account", "Acme", *store)[0] == 0
    return store


def test_contacts_add_list_remove(tmp_path: Path) -> None:
    store = account_acme(tmp_path)
    code, out, _ = run("contacts", "add", "--account", "Acme", "--name", "Anna Nowak", "--email",
                       "anna@acme.example", "--language", "pl", *store)
    assert code == 0 and out == "contact 1 added to Acme\n"
    code, out, _ = run("contacts", "list", "--format", "jsonl", *store)
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(c["id"], c["account"], c["email"], c["language"]) for c in listed] == [
        (1, "Acme", "anna@acme.example", "pl")]
    code, out, _ = run("contacts", "list", *store)
    assert code == 0 and "Anna Nowak <anna@acme.example>" in out.splitlines()[1]
    assert run("contacts", "remove", "1", *store) == (0, "contact 1 removed\n", "")
    assert run("contacts", "remove", "1", *store) == (
        1, "", "telediag: no contact 1; see `telediag contacts list`\n")
    assert run("contacts", "list", "--format", "jsonl", *store)[1] == ""


def test_rules_add_list_remove_and_a_refused_rule(tmp_path: Path) -> None:
    store = account_acme(tmp_path)
    code, out, _ = run("notifications", "add", "--account", "Acme", "--codes", "APN_MISCONFIGURED",
                       "--min-duration-s", "0", "--recipients", "anna@acme.example", *store)
    assert code == 0 and out == "rule 1 added to Acme\n"
    code, out, _ = run("notifications", "list", "--format", "jsonl", *store)
    (rule,) = [json.loads(line) for line in out.splitlines()]
    assert (rule["id"], rule["codes"], rule["recipients"]) == (1, ["APN_MISCONFIGURED"], ["anna@acme.example"])
    code, _, err = run("notifications", "add", "--account", "Acme", "--codes", "NO_SUCH_CODE",
                       "--recipients", "anna@acme.example", *store)
    assert code == 1 and "NO_SUCH_CODE" in err
    assert run("notifications", "remove", "1", *store) == (0, "rule 1 removed\n", "")
    assert run("notifications", "remove", "7", *store) == (
        1, "", "telediag: no rule 7; see `telediag notifications list`\n")
