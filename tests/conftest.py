"""Shared fixtures: the reference documents, a database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lmsbridge.connectors.budget import BUDGETS
from lmsbridge.ids import random_id

# The sandbox, webhook receivers and API servers of the tests all run on loopback, which outbound calls
# may reach only when the operator allows it (lmsbridge.netguard); tests that check the refusal set
# allow_private_hosts=False themselves.
os.environ["LMSBRIDGE_ALLOW_PRIVATE_HOSTS"] = "true"
# The sandbox answers the tests without a rate limit, so 360Learning's budget (45 reads and 9 writes a
# second) would only make them wait: settings, the processes tests start and syncs built without
# settings take a far higher one. Tests of the budget itself name the product's rates.
TEST_RATES = (1000.0, 1000.0)
os.environ["LMSBRIDGE_REMOTE_READS_PER_SECOND"] = str(TEST_RATES[0])
os.environ["LMSBRIDGE_REMOTE_WRITES_PER_SECOND"] = str(TEST_RATES[1])
BUDGETS.default_rates = TEST_RATES

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get(
    "LMSBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def skip_or_fail(reason: str) -> None:
    """Skip with a visible reason on a developer's machine; under CI=true a missing part is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run)")
    pytest.skip(reason)


def reference_path(*parts: str) -> Path:
    path = REFERENCE_DIR.joinpath(*parts)
    if not path.exists():
        skip_or_fail(f"reference document {path} is absent (../shared is not next to this clone)")
    return path


@cache
def _load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def reference_document(*parts: str) -> Any:
    """A third-party reference document, read from ../shared/reference (never copied into the repo)."""
    return _load_json(reference_path(*parts))


@pytest.fixture(scope="session")
def kombo_spec() -> Any:
    return reference_document("kombo-openapi", "kombo-lms-subset.json")


def _postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: no usable server here
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc}"


@cache
def postgres_unavailable_reason() -> str | None:
    return _postgres_available()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    reason = postgres_unavailable_reason()
    if reason:
        skip_or_fail(reason)
    import psycopg

    name = f"lmsbridge_test_{random_id().lower()}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite (a file in tmp_path) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lmsbridge.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def skel_lms(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The skeleton LMS (tests/skeleton_lms) served on loopback and known to this process's connector
    registry, as a second LMS would be: (its tenant, its base URL)."""
    from lmsbridge.connectors import registry
    from loopback import serve
    from skeleton_lms import api as skel_api
    from skeleton_lms.connector import SkelConnector

    monkeypatch.setitem(registry.CONNECTORS, SkelConnector.tool, SkelConnector)
    monkeypatch.setitem(registry.COVERAGE, SkelConnector.tool, SkelConnector.coverage)
    tenant = skel_api.generate(people=5, trainings=3, enrollments=4)
    with serve(skel_api.build_app(tenant)) as url:
        yield tenant, url
