"""The browsers the console's tests drive: a desktop's window and a phone's screen, each with a fresh
profile, closed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from tests.browser.driver import PHONE, chromium, running


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Chromium with a desktop's window (1280x900)."""
    with running(chromium(tmp_path / "profile")) as driver:
        yield driver


@pytest.fixture()
def phone(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Chromium with a phone's screen (414x896)."""
    with running(chromium(tmp_path / "profile", *PHONE)) as driver:
        yield driver
