"""Errors that carry every problem of an input, so a person fixes a file in one pass, not one per run."""

from __future__ import annotations

from collections.abc import Iterable


class Problems(ValueError):
    """Input with problems; ``problems`` lists each in plain words."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class FileRejected(Problems):
    """A file with problems (each naming its line); nothing of it was stored."""

    def __str__(self) -> str:
        return f"{len(self.problems)} problem(s), nothing imported: " + "; ".join(self.problems[:5])
