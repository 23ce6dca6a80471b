"""``telediag kb import FILE.jsonl`` and ``telediag kb list``: the knowledge base from a terminal.

An import is all or nothing: every problem of the file is printed with its line number and nothing is
stored; a clean file inserts new articles and updates those whose id exists (re-importing a corrected
file is how a set of articles is maintained). ``--starter`` imports the articles shipped with
telediag (English and Polish, about its own domain).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import orjson

from telediag.kb import repository as kb
from telediag.kb.articles import InvalidArticle
from telediag.kb.text import LANGUAGES
from telediag.problems import FileRejected
from telediag.store.database import open_database

ACTOR = "cli"


def starter_path() -> Path:
    """The starter set shipped in the package."""
    return Path(str(resources.files("telediag.kb").joinpath("starter/articles.jsonl")))


def add_kb_parser(commands: Any, add_store_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``kb`` subcommand and its actions."""
    parser = commands.add_parser("kb", help="the knowledge base: import and list articles")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = actions.add_parser("import", help="import FILE.jsonl, one article per line (all or nothing)")
    add_store_options(load)
    load.add_argument("file", type=Path, nargs="?", help='JSON lines: {"id", "language", "title", "body", '
                      '"tags", "finding_codes"[, "published", "group"]}')
    load.add_argument("--starter", action="store_true", help="import the articles shipped with telediag")
    listing = actions.add_parser("list", help="articles as JSON lines (id, language, title, published)")
    add_store_options(listing)
    listing.add_argument("--language", choices=LANGUAGES)
    listing.add_argument("--review", action="store_true", help="only articles customers said did not help")


def command_kb(config: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run one ``kb`` action: 0 on success, 1 when the file is refused, 2 on bad usage."""
    if args.action == "import":
        if (args.file is None) == (not args.starter):
            err.write("telediag: give FILE.jsonl or --starter (one of them)\n")
            return 2
        path = starter_path() if args.starter else args.file
        try:
            articles = kb.read_jsonl(path)
        except FileRejected as error:
            for problem in error.problems:
                err.write(f"telediag: {path}: {problem}\n")
            err.write(f"telediag: {len(error.problems)} problem(s) in {path}; nothing was imported\n")
            return 1
        db = open_database(config.store).connect()
        try:
            result = kb.save_articles(db, articles, ACTOR, time.time())
        except InvalidArticle as error:
            for problem in error.problems:
                err.write(f"telediag: {path}: {problem}\n")
            err.write(f"telediag: nothing was imported from {path}\n")
            return 1
        finally:
            db.close()
        out.write(f"{result['articles']} article(s) read, {result['added']} added, {result['updated']} updated\n")
        return 0
    database = open_database(config.store)
    if not database.exists():
        raise FileNotFoundError(f"no store at {database.describe()}; run `telediag serve` first or pass --data-dir")
    db = database.connect(readonly=True)
    try:
        rows = kb.list_articles(db, language=args.language, needs_review=True if args.review else None,
                                limit=1_000_000)
    finally:
        db.close()
    for row in rows:
        out.write(orjson.dumps({k: row[k] for k in ("id", "group", "language", "title", "published",
                                                    "needs_review", "updated_at")}).decode() + "\n")
    return 0
