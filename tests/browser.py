"""A real headless Chromium from Debian's packages, driven by Playwright (which never downloads a browser
here). Tests that need it skip with the reason where Chromium is missing; under CI=true they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

# Not imported from tests/conftest.py: under pytest every directory's conftest.py is a module named
# "conftest", so `from conftest import …` here would find whichever was imported last (tests/web's).
REPO_ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """As tests/conftest.py's: skip with the reason; under CI=true a missing browser is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run)")
    pytest.skip(reason)


# The closed network refuses Chromium's background connections; these flags keep it from trying.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots of pages go here (a test run's artifacts, never into git: see .gitignore).
ARTIFACTS_DIR = Path(os.environ.get("LMSBRIDGE_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return os.environ.get("LMSBRIDGE_CHROMIUM") or found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        reason = "Chromium is not installed (apt-get install chromium); the browser tests need it"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: this must run)")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def screenshot_path(name: str) -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR / f"{name}.png"
