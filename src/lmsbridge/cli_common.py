"""What every ``lmsbridge`` command shares: the two consoles, the one-line user error, the settings of
the invocation, a migrated database, and how tables and times are printed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from lmsbridge.settings import Settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A problem the user can fix; shown as one line, exit code 1."""


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def command_settings(ctx: typer.Context) -> Settings:
    try:
        return Settings(**(ctx.obj or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        fail(f"invalid configuration ({where}): {first.get('msg', exc)}")


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


@contextmanager
def open_database(settings: Settings) -> Iterator[Engine]:
    """A migrated engine; every database failure becomes a one-line error."""
    # imported when a command opens the database, so `lmsbridge --help` stays quick
    from lmsbridge.jobs.system import apply_job_schema
    from lmsbridge.store.engine import make_engine
    from lmsbridge.store.migrate import upgrade_database

    url = settings.resolved_database_url
    engine: Engine | None = None
    try:
        engine = make_engine(url)
        upgrade_database(engine)
        apply_job_schema(settings, engine)
        yield engine
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"cannot use the database at {safe_url(url)}: {reason}", code=2)
    except (ArgumentError, NoSuchModuleError) as exc:
        fail(f"invalid database URL {safe_url(url)}: {exc}", code=2)
    except CliError as exc:
        fail(str(exc))
    finally:
        if engine is not None:
            engine.dispose()


def fixed_column(header: str) -> Column:
    # ids, key prefixes and times are copied or compared by users: never truncate or wrap them
    return Column(header, no_wrap=True, overflow="ignore")


def print_table(table: Table, rows: Sequence[object], empty: str) -> None:
    # at least as wide as the table wants (200 columns at least): a narrow (or non-terminal, 80-column)
    # output must not squeeze ids away
    if not rows:
        out.print(empty)
        return
    wide = Console(highlight=False, width=10_000)
    needed = wide.measure(table).maximum
    Console(highlight=False, width=max(out.width, min(needed, 400), 200)).print(table)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%MZ") if value else "-"
