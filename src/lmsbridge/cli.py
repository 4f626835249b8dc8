"""The ``lmsbridge`` command line: serve, migrate, API keys, integrations, demo (and the sandbox)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from lmsbridge.settings import Settings
from lmsbridge.webhooks.cli import webhooks_app

app = typer.Typer(
    name="lmsbridge",
    help="Self-hostable unified LMS API (Kombo-compatible), first connector: 360Learning.",
    no_args_is_help=True,
    # errors are reported as one line each (see _fail), never as tracebacks
    pretty_exceptions_enable=False,
    add_completion=False,
)
api_keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
integrations_app = typer.Typer(help="Inspect integrations.", no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(integrations_app, name="integrations")
app.add_typer(webhooks_app, name="webhooks")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A problem the user can fix; shown as one line, exit code 1."""


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(help="Overrides LMSBRIDGE_DATABASE_URL (sqlite:///… or postgresql+psycopg://…)."),
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option(help="Overrides LMSBRIDGE_DATA_DIR (SQLite file, key file).")
    ] = None,
) -> None:
    overrides: dict[str, Any] = {}
    if database_url:
        overrides["database_url"] = database_url
    if data_dir:
        overrides["data_dir"] = data_dir
    ctx.obj = overrides


def _settings(ctx: typer.Context) -> Settings:
    try:
        return Settings(**(ctx.obj or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        _fail(f"invalid configuration ({where}): {first.get('msg', exc)}")


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """A migrated engine; every database failure becomes a one-line error."""
    from lmsbridge.store.engine import make_engine
    from lmsbridge.store.migrate import upgrade_database

    url = settings.resolved_database_url
    engine: Engine | None = None
    try:
        engine = make_engine(url)
        upgrade_database(engine)
        yield engine
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _fail(f"cannot use the database at {_safe_url(url)}: {reason}", code=2)
    except (ArgumentError, NoSuchModuleError) as exc:
        _fail(f"invalid database URL {_safe_url(url)}: {exc}", code=2)
    except CliError as exc:
        _fail(str(exc))
    finally:
        if engine is not None:
            engine.dispose()


def _fixed(header: str) -> Column:
    # ids, key prefixes and times are copied or compared by users: never truncate or wrap them
    return Column(header, no_wrap=True, overflow="ignore")


def _print_table(table: Table, rows: Sequence[object], empty: str) -> None:
    # at least 200 columns: a narrow (or non-terminal, 80-column) output must not squeeze ids away
    if not rows:
        out.print(empty)
        return
    Console(highlight=False, width=max(out.width, 200)).print(table)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%MZ") if value else "-"


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the database migrations (also done by `serve` on start)."""
    from lmsbridge.store.migrate import current_revision

    settings = _settings(ctx)
    with _database(settings) as engine:
        revision = current_revision(engine)
    out.print(f"database {_safe_url(settings.resolved_database_url)} is at revision {revision}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: settings.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.port).")] = None,
) -> None:
    """Migrate the database, then serve the API."""
    settings = _settings(ctx)
    with _database(settings):
        pass
    _run_api(settings, host or settings.host, port if port is not None else settings.port)


def _run_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    # imported here: the CLI must work (migrate, api-keys) even while the API package is broken or absent
    from lmsbridge.api.app import create_app

    uvicorn.run(create_app(settings, background=True), host=host, port=port, log_level="info")


@api_keys_app.command("create")
def api_keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "default",
) -> None:
    """Create an API key and print it (it is shown only this once)."""
    from lmsbridge.store.api_keys import create_api_key
    from lmsbridge.store.engine import session_scope

    with _database(_settings(ctx)) as engine, session_scope(engine) as session:
        key, plaintext = create_api_key(session, name)
    err.print(f"created API key {key.id} ({name}); store it now, it cannot be shown again:")
    out.print(plaintext)


@api_keys_app.command("list")
def api_keys_list(ctx: typer.Context) -> None:
    """List API keys (prefix only; keys are stored as hashes)."""
    from lmsbridge.store.api_keys import list_api_keys
    from lmsbridge.store.engine import session_scope

    with _database(_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        keys = list_api_keys(session)
    table = Table(*(_fixed(h) for h in ("id", "name", "prefix", "created", "last used", "revoked")))
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            key.prefix + "…",
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
    _print_table(table, keys, "no API keys yet; create one with `lmsbridge api-keys create`")


@api_keys_app.command("revoke")
def api_keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key by id; requests with it fail from now on."""
    from lmsbridge.store.api_keys import revoke_api_key
    from lmsbridge.store.engine import session_scope

    with _database(_settings(ctx)) as engine, session_scope(engine) as session:
        key = revoke_api_key(session, key_id)
        if key is None:
            raise CliError(f"no API key with id {key_id!r} (see `lmsbridge api-keys list`)")
    out.print(f"revoked API key {key.id} ({key.name})")


@integrations_app.command("list")
def integrations_list(ctx: typer.Context) -> None:
    """List connected integrations."""
    from lmsbridge.store.engine import session_scope
    from lmsbridge.store.integrations import list_integrations

    with _database(_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        rows = list_integrations(session)
    headers = ("id", "tool", "status", "enabled", "setup", "qa", "base url", "created")
    table = Table(*(_fixed(h) for h in headers))
    for i in rows:
        enabled = "yes" if i.enabled else "no"
        table.add_row(
            i.id, i.tool, i.status, enabled, i.setup_status, i.qa_status, i.base_url, _when(i.created_at)
        )
    _print_table(table, rows, "no integrations yet")


@integrations_app.command("test")
def integrations_test(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    models: Annotated[bool, typer.Option("--models", help="Also run the per-model tests.")] = False,
) -> None:
    """Run the scope test (and with --models the per-model tests) of an integration now."""
    import asyncio

    from lmsbridge.crypto import SecretBox
    from lmsbridge.features.on_demand import check_integration

    settings = _settings(ctx)
    with _database(settings) as engine:
        try:
            scopes, tested = asyncio.run(
                check_integration(
                    engine,
                    SecretBox.from_settings(settings),
                    integration_id,
                    settings=settings,
                    models=models,
                )
            )
        except LookupError as exc:
            raise CliError(f"{exc} (see `lmsbridge integrations list`)") from exc
    table = Table(_fixed("scope"), _fixed("status"), Column("why"))
    for name, check in sorted(scopes.scopes.items()):
        table.add_row(name, check.status, check.why)
    _print_table(table, list(scopes.scopes), "no scopes probed")
    if not scopes.credentials_valid:
        _fail("360Learning refused the integration's credentials")
    if tested is not None:
        table = Table(_fixed("model"), _fixed("result"), Column("details"))
        for model, result in tested.models.items():
            table.add_row(model, result.status, result.message)
        _print_table(table, list(tested.models), "no models tested")
        out.print(f"qa status: {tested.qa_status}")
        if tested.qa_status == "FAILED":
            raise typer.Exit(1)


@app.command()
def demo(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: settings.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.port).")] = None,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the API after preparing.")
    ] = True,
) -> None:
    """Prepare a local installation (data dir, migrations, a fresh API key) and serve the API."""
    from lmsbridge.store.api_keys import create_api_key
    from lmsbridge.store.engine import session_scope

    settings = _settings(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    host = host or settings.host
    port = port if port is not None else settings.port
    with _database(settings) as engine, session_scope(engine) as session:
        _, plaintext = create_api_key(session, "demo")
    base = f"http://{host}:{port}"
    out.print(f"[bold]lmsbridge demo[/]: data in {settings.data_dir.resolve()}, API on {base}")
    out.print(f"API key (shown once): [bold]{plaintext}[/]\n")
    out.print("Try, in another terminal:")
    out.print(f'  curl -s {base}/v1/check-api-key -H "Authorization: Bearer {plaintext}"')
    out.print(
        f'  curl -s "{base}/v1/lms/users?page_size=5" -H "Authorization: Bearer {plaintext}"'
        ' -H "X-Integration-Id: <integration id>"'
    )
    out.print(f"  open {base}/docs   (OpenAPI: {base}/v1/openapi.json)")
    out.print(
        "The store is empty until an integration is connected; `lmsbridge integrations list` shows them.\n"
    )
    if serve_api:
        _run_api(settings, host, port)


if importlib.util.find_spec("lmsbridge.sandbox.cli") is not None:

    @app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )
    def sandbox(ctx: typer.Context) -> None:
        """Run a simulated 360Learning tenant (options: see `lmsbridge sandbox --help`)."""
        try:
            from lmsbridge.sandbox.cli import main as sandbox_main
        except Exception as exc:  # a broken optional module must not take the whole CLI down
            _fail(f"the sandbox is not available: {exc}")
        sandbox_main(list(ctx.args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
