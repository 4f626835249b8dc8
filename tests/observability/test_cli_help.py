"""The CLI an operator reads: every command's help names real types and defaults, ``--version``, and
``syncs list`` says why each failed or partially failed run did not succeed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.fernet import Fernet
from typer.core import TyperGroup
from typer.testing import CliRunner

from factories import make_integration
from lmsbridge import __version__
from lmsbridge.cli import app
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.migrate import upgrade_database

PLACEHOLDERS = ("<str>", "<bool>", "<int", "<float", "<path", "<Path", "settings.")


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            if name != "sandbox":  # its options are parsed (and its help printed) by the sandbox itself
                yield from _command_paths(sub, (*path, name))


ALL_COMMANDS = list(_command_paths(typer.main.get_command(app)))


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "lmsbridge")
def test_help_names_real_types_and_defaults(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for placeholder in PLACEHOLDERS:
        assert placeholder not in result.output, f"{placeholder!r} in the help of {' '.join(path)}"


def test_serve_help_shows_the_settings_defaults() -> None:
    output = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    defaults = Settings.model_fields
    assert f"Default: {defaults['host'].default} (LMSBRIDGE_HOST)" in output
    assert f"Default: {defaults['port'].default} (LMSBRIDGE_PORT)" in output
    assert f"Default: {defaults['api_workers'].default} (LMSBRIDGE_API_WORKERS)" in output
    assert "INTEGER" in output and "TEXT" in output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"lmsbridge {__version__}"


def test_syncs_list_shows_why_runs_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    integration = make_integration(engine, SecretBox(Fernet.generate_key()))
    ends = [
        ("FAILED", "RetriesExhausted: the LMS answered 503 eight times", []),
        ("PARTIALLY_FAILED", None, ["stats could not be read completely: 502", "users skipped"]),
        ("SUCCEEDED", None, []),
    ]
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for index, (state, error, warnings) in enumerate(ends):
        now = start + timedelta(hours=index)
        with session_scope(engine) as session:
            run, _ = sync_runs.enqueue(session, integration, "FULL", now)
            sync_runs.claim(session, run.id, now, now)
            sync_runs.finish(
                session,
                run.id,
                state=state,
                now=now + timedelta(minutes=1),
                streams={},
                api_calls=3,
                error=error,
                warnings=warnings,
                log_id=None,
            )
    engine.dispose()

    result = CliRunner().invoke(app, ["--database-url", url, "syncs", "list"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    cells = [
        [c.strip() for c in line.split("│")] for line in result.output.splitlines() if integration in line
    ]
    rows = {
        next(c for c in row if c in ("FAILED", "PARTIALLY_FAILED", "SUCCEEDED")): row[-2] for row in cells
    }
    assert set(rows) == {"FAILED", "PARTIALLY_FAILED", "SUCCEEDED"}
    assert rows == {  # the last column: the reason
        "FAILED": "RetriesExhausted: the LMS answered 503 eight times",
        "PARTIALLY_FAILED": "stats could not be read completely: 502; users skipped",
        "SUCCEEDED": "",
    }
