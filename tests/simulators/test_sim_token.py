"""telediag-sim takes its API token from TELEDIAG_TOKEN or --token-file, never from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.cli import TOKEN_ENV, TokenError, api_token, main

URL = "http://127.0.0.1:8080"


def test_token_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert api_token(None, {TOKEN_ENV: " abc-123 \n"}) == "abc-123"
    assert api_token(None, {}) is None
    path = tmp_path / "token"
    path.write_text("from-file\nsecond line ignored\n")
    assert api_token(str(path), {TOKEN_ENV: "from-env"}) == "from-file"


def test_unusable_token_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="cannot read --token-file"):
        api_token(str(tmp_path / "missing"), {})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(TokenError, match="empty"):
        api_token(str(empty), {})
    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * 10_000)
    with pytest.raises(TokenError, match="larger than a token"):
        api_token(str(huge), {})


def test_a_token_on_the_command_line_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    for argv in (["--token", "s3cret-value"], ["--token=s3cret-value"]):
        assert main(["--api", URL, *argv, "--registry-only"]) == 2
        error = capsys.readouterr().err
        assert TOKEN_ENV in error and "--token-file" in error and "s3cret-value" not in error


def test_api_without_a_token_exits_2_naming_both_sources(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["--api", URL, "--registry-only"]) == 2
    error = capsys.readouterr().err
    assert TOKEN_ENV in error and "--token-file" in error
    monkeypatch.setenv(TOKEN_ENV, "abc")
    assert main(["--api", URL, "--devices", "1", "--registry-only"]) == 0
    monkeypatch.delenv(TOKEN_ENV)
    path = tmp_path / "token"
    path.write_text("abc\n")
    assert main(["--api", URL, "--token-file", str(path), "--devices", "1", "--registry-only"]) == 0
    assert main(["--api", URL, "--token-file", str(tmp_path / "nope"), "--registry-only"]) == 2
    assert "cannot read" in capsys.readouterr().err
