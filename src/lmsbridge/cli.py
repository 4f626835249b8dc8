"""The ``lmsbridge`` command line: serve, migrate, API keys, integrations, demo (and the sandbox)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
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

from lmsbridge import __version__, cli_help
from lmsbridge.settings import Settings
from lmsbridge.webhooks.cli import webhooks_app

cli_help.install()
# defaults shown in --help are the settings' own (an option left out falls back to the settings)
_DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}

app = typer.Typer(
    name="lmsbridge",
    help="Self-hostable unified LMS API (Kombo-compatible), first connector: 360Learning.",
    no_args_is_help=True,
    # errors are reported as one line each (see _fail), never as tracebacks
    pretty_exceptions_enable=False,
    add_completion=False,
)
api_keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
integrations_app = typer.Typer(help="Connect, inspect and test integrations.", no_args_is_help=True)
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(integrations_app, name="integrations")
app.add_typer(webhooks_app, name="webhooks")
syncs_app = typer.Typer(help="Inspect sync runs.", no_args_is_help=True)
app.add_typer(syncs_app, name="syncs")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A problem the user can fix; shown as one line, exit code 1."""


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _print_version(value: bool) -> None:
    if value:
        out.print(f"lmsbridge {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Overrides LMSBRIDGE_DATABASE_URL (sqlite:///… or postgresql+psycopg://…); "
            "default: SQLite in the data directory."
        ),
    ] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(
            help=f"Overrides LMSBRIDGE_DATA_DIR (SQLite file, key file); default: {_DEFAULTS['data_dir']}."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
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


_HOST_HELP = f"Interface to bind. Default: {_DEFAULTS['host']} (LMSBRIDGE_HOST)."
_PORT_HELP = f"Port. Default: {_DEFAULTS['port']} (LMSBRIDGE_PORT)."


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help=_HOST_HELP)] = None,
    port: Annotated[int | None, typer.Option(help=_PORT_HELP)] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help=f"API processes; one also runs syncs. Default: {_DEFAULTS['api_workers']} "
            "(LMSBRIDGE_API_WORKERS).",
        ),
    ] = None,
) -> None:
    """Migrate the database, then serve the API."""
    settings = _settings(ctx)
    _observe(settings)
    with _database(settings):
        pass
    host = host or settings.host
    port = port if port is not None else settings.port
    workers = workers or settings.api_workers
    if workers == 1:
        _run_api(settings, host, port)
        return
    import uvicorn

    # the worker processes build their settings from the environment: pass this command's overrides on
    for name, value in (ctx.obj or {}).items():
        os.environ[f"LMSBRIDGE_{name.upper()}"] = str(value)
    os.environ["LMSBRIDGE_API_WORKERS"] = str(workers)  # each worker knows it is one of several
    # each worker process sets up logs and metrics itself (create_worker_app); uvicorn's access log is
    # replaced by ours (api/request_log.py)
    uvicorn.run(
        "lmsbridge.api.app:create_worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@app.command()
def worker(ctx: typer.Context) -> None:
    """Run the background services only (scheduled and forced syncs, action tasks, webhook deliveries),
    no API. Next to `serve`, a sync then never shares a process (and its CPU) with API requests."""
    settings = _settings(ctx)
    _observe(settings)
    with _database(settings):  # migrated, or a one-line error
        pass
    from lmsbridge.runtime import claim_background_services

    if not claim_background_services(settings):
        _fail("another lmsbridge process already runs the background services of this data directory")
    asyncio.run(_run_background(settings))


async def _run_background(settings: Settings) -> None:
    from lmsbridge.runtime import Runtime
    from lmsbridge.store.engine import make_engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = make_engine(settings.resolved_database_url)
    runtime = Runtime(settings, engine)
    try:
        await runtime.start()
        err.print("lmsbridge worker: running syncs, actions and webhook deliveries (Ctrl-C to stop)")
        from lmsbridge.logs import BACKGROUND_SERVICES

        _log_startup(settings, "worker", BACKGROUND_SERVICES)
        await stop.wait()
    finally:
        await runtime.stop()  # what runs is resumed by the next process that claims the services
        engine.dispose()


def _run_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    # imported here: the CLI must work (migrate, api-keys) even while the API package is broken or absent
    from lmsbridge.api.app import create_app
    from lmsbridge.runtime import claim_background_services

    background = claim_background_services(settings)
    if not background:
        err.print(
            "another lmsbridge process runs the syncs, actions and webhooks of this data directory; "
            "this one serves the API only"
        )
    from lmsbridge.logs import BACKGROUND_SERVICES

    _log_startup(settings, "api", BACKGROUND_SERVICES if background else [])
    # logging is ours (lmsbridge.logs), uvicorn's access log is replaced by api/request_log.py
    app = create_app(settings, background=background)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


def _observe(settings: Settings) -> None:
    """Logs and metrics of this process, set up before anything else runs."""
    from lmsbridge.observability import setup_process

    setup_process(settings)


def _log_startup(settings: Settings, role: str, services: list[str]) -> None:
    from lmsbridge.logs import database_backend, job_backend, log_startup

    log_startup(
        role=role,
        database_backend=database_backend(settings),
        job_backend=job_backend(settings),
        services=services,
        pid=os.getpid(),
    )


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


@integrations_app.command("add")
def integrations_add(
    ctx: typer.Context,
    tool: Annotated[str, typer.Argument(help="The LMS: 360learning.")],
    client_id: Annotated[str, typer.Option(help="API v2 client id.", envvar="LMSBRIDGE_360_CLIENT_ID")],
    client_secret: Annotated[
        str,
        typer.Option(
            help="API v2 client secret (asked for when not given; or LMSBRIDGE_360_CLIENT_SECRET).",
            envvar="LMSBRIDGE_360_CLIENT_SECRET",
            prompt=True,
            hide_input=True,
        ),
    ],
    organization_name: Annotated[str, typer.Option(help="The customer's organization name.")],
    host: Annotated[str, typer.Option(help="eu, us, or an explicit base URL (e.g. a sandbox).")] = "eu",
    creator_email: Annotated[str | None, typer.Option(help="Who connected it.")] = None,
    origin_id: Annotated[str | None, typer.Option(help="Your id for this customer.")] = None,
    provider_name: Annotated[str | None, typer.Option(help="Course provider name for upserts.")] = None,
    author_id: Annotated[str | None, typer.Option(help="360Learning user id that authors upserts.")] = None,
    sync_now: Annotated[
        bool, typer.Option("--sync/--no-sync", help="Run the first FULL sync now, with progress bars.")
    ] = False,
) -> None:
    """Connect a tenant: verify the credentials, store them encrypted, run the scope test and queue (or,
    with --sync, run) the first FULL sync."""
    from lmsbridge.connect import ConnectError, connect_integration
    from lmsbridge.crypto import SecretBox

    settings = _settings(ctx)
    extra = {"provider_name": provider_name, "author_id": author_id}
    with _database(settings) as engine:
        try:
            connected = asyncio.run(
                connect_integration(
                    engine,
                    SecretBox.from_settings(settings),
                    settings,
                    tool=tool,
                    host=host,
                    credentials={"client_id": client_id, "client_secret": client_secret},
                    end_user={
                        "organization_name": organization_name,
                        "creator_email": creator_email,
                        "origin_id": origin_id,
                    },
                    integration_settings={k: v for k, v in extra.items() if v is not None},
                )
            )
        except ConnectError as exc:
            raise CliError(f"{exc.message} ({exc.code})") from None
        missing = sorted(name for name, c in connected.scope_test.scopes.items() if c.status != "granted")
        out.print(f"connected integration [bold]{connected.integration_id}[/]")
        if missing:
            err.print(f"[yellow]warning:[/] scopes not granted: {', '.join(missing)}")
        if sync_now and connected.sync_id:
            _sync_in_foreground(settings, engine, connected.integration_id, "FULL")
        else:
            out.print(f"first FULL sync queued ({connected.sync_id}); `lmsbridge serve` runs it")


@app.command()
def sync(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    sync_type: Annotated[str, typer.Option("--type", help="FULL or DELTA.", case_sensitive=False)] = "FULL",
) -> None:
    """Run one sync of an integration in the foreground, with a progress bar per stream."""
    kind = sync_type.upper()
    if kind not in {"FULL", "DELTA"}:
        _fail(f"--type must be FULL or DELTA, not {sync_type!r}")
    settings = _settings(ctx)
    _observe(settings)
    with _database(settings) as engine:
        _sync_in_foreground(settings, engine, integration_id, kind)


def _sync_in_foreground(settings: Settings, engine: Engine, integration_id: str, kind: str) -> None:
    from lmsbridge.cli_progress import RichSyncProgress
    from lmsbridge.runtime import Runtime
    from lmsbridge.store.engine import session_scope
    from lmsbridge.store.integrations import get_integration

    with session_scope(engine, readonly=True) as session:
        if get_integration(session, integration_id) is None:
            raise CliError(f"no integration with id {integration_id!r} (see `lmsbridge integrations list`)")
    runtime = Runtime(settings, engine, schedule=False)

    async def run() -> Any:
        with RichSyncProgress(err) as progress:
            return await runtime.sync_engine.run_new(integration_id, kind, progress=progress)

    try:
        outcome = asyncio.run(run())
    except RuntimeError as exc:  # the queued/running run belongs to a live process
        raise CliError(f"{exc}; wait for it, or see `lmsbridge syncs list`") from None
    table = Table(_fixed("model"), _fixed("seen"), _fixed("created"), _fixed("changed"), _fixed("deleted"))
    counts = _run_counts(engine, outcome.run_id)
    for model, c in sorted(counts.items()):
        table.add_row(model, *(str(c.get(k, 0)) for k in ("seen", "created", "changed", "deleted")))
    _print_table(table, list(counts), "nothing synced")
    seconds = (outcome.ended_at - outcome.started_at).total_seconds() if outcome.started_at else 0.0
    out.print(
        f"sync {outcome.run_id} ({outcome.type}): [bold]{outcome.state}[/] in {seconds:.1f} s, "
        f"{outcome.api_calls} API calls"
    )
    for warning in outcome.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    if outcome.state != "SUCCEEDED":
        _fail(outcome.error or f"the sync ended {outcome.state}")


def _run_counts(engine: Engine, run_id: str) -> dict[str, dict[str, int]]:
    from lmsbridge.store import sync_runs
    from lmsbridge.store.engine import session_scope

    with session_scope(engine, readonly=True) as session:
        run = sync_runs.get_run(session, run_id)
        return dict((run.streams or {}).get("counts", {})) if run is not None else {}


@syncs_app.command("list")
def syncs_list(
    ctx: typer.Context,
    integration_id: Annotated[
        str | None, typer.Option("--integration", help="Only this integration.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
) -> None:
    """Recent sync runs: type, state, counts, API calls, duration, and why a run failed."""
    from lmsbridge.store import sync_runs
    from lmsbridge.store.engine import session_scope

    with _database(_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        runs = sync_runs.list_runs(session, integration_id, limit=limit)
    headers = ("id", "integration", "type", "state", "started", "seconds", "calls", "changed", "reason")
    table = Table(*(_fixed(h) for h in headers[:-1]), Column("reason"))
    for run in runs:
        counts = (run.streams or {}).get("counts", {})
        changed = sum(
            c.get("created", 0) + c.get("changed", 0) + c.get("deleted", 0) for c in counts.values()
        )
        seconds = (run.ended_at - run.started_at).total_seconds() if run.ended_at and run.started_at else None
        table.add_row(
            run.id,
            run.integration_id,
            run.type,
            run.state,
            _when(run.started_at),
            f"{seconds:.1f}" if seconds is not None else "-",
            str(run.api_calls),
            str(changed),
            _run_reason(run.state, run.error, run.warnings),
        )
    _print_table(table, runs, "no sync runs yet")


def _run_reason(state: str, error: str | None, warnings: list[str] | None) -> str:
    """Why a run did not fully succeed: its error, else its warnings (a PARTIALLY_FAILED run's streams)."""
    if state not in ("FAILED", "PARTIALLY_FAILED", "AUTHENTICATION_FAILED"):
        return error or ""
    return error or "; ".join(warnings or []) or "(no reason recorded)"


@app.command()
def demo(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help=_HOST_HELP)] = None,
    port: Annotated[int | None, typer.Option(help=_PORT_HELP)] = None,
    users: Annotated[int, typer.Option(min=1, help="Sandbox tenant size: users.")] = 10_000,
    courses: Annotated[int, typer.Option(min=1, help="Sandbox tenant size: courses.")] = 2_000,
    attempts: Annotated[int, typer.Option(min=0, help="Sandbox tenant size: course attempts.")] = 200_000,
    serve_api: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after the first sync.")
    ] = True,
) -> None:
    """A full local demo: a simulated 360Learning tenant (the sandbox), a fresh store with an API key and
    an integration, the first FULL sync with progress bars, then the API with ready-to-paste curl commands."""
    import shutil

    from lmsbridge.connect import ConnectError, connect_integration
    from lmsbridge.crypto import SecretBox
    from lmsbridge.sandbox.testing import running_sandbox
    from lmsbridge.store.api_keys import create_api_key
    from lmsbridge.store.engine import session_scope

    base_settings = _settings(ctx)
    _observe(base_settings)
    demo_dir = base_settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)  # every demo starts from an empty store
    settings = base_settings.model_copy(update={"data_dir": demo_dir})
    if not base_settings.database_url:
        settings = settings.model_copy(update={"database_url": None})
    host = host or settings.host
    port = port if port is not None else settings.port
    base = f"http://{host}:{port}"
    settings = settings.model_copy(update={"public_base_url": base})
    err.print(f"generating a sandbox tenant: {users:,} users, {courses:,} courses, {attempts:,} attempts …")
    with (
        running_sandbox(
            seed=42, users=users, courses=courses, attempts=attempts, rate_limit_enabled=True
        ) as sb,
        _database(settings) as engine,
    ):
        err.print(f"sandbox (simulated 360Learning, 50 reads/s like the real one) at {sb.base_url}")
        with session_scope(engine) as session:
            _, api_key = create_api_key(session, "demo")
        try:
            connected = asyncio.run(
                connect_integration(
                    engine,
                    SecretBox.from_settings(settings),
                    settings,
                    tool="360learning",
                    host=sb.base_url,
                    credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
                    end_user={"organization_name": "Demo Corp", "creator_email": "demo@example.com"},
                )
            )
        except ConnectError as exc:
            raise CliError(exc.message) from None
        integration_id = connected.integration_id
        err.print(f"connected integration {integration_id}; first FULL sync:")
        _sync_in_foreground(settings, engine, integration_id, "FULL")
        auth = f'-H "Authorization: Bearer {api_key}"'
        scope = f'-H "X-Integration-Id: {integration_id}"'
        out.print(f"\n[bold]lmsbridge demo[/]: data in {demo_dir.resolve()}, API on {base}")
        out.print(f"API key (shown once): [bold]{api_key}[/]\n")
        out.print("Try, in another terminal:")
        out.print(f"  curl -s {base}/v1/check-api-key {auth}")
        out.print(f'  curl -s "{base}/v1/lms/users?page_size=3" {auth} {scope}')
        out.print(f'  curl -s "{base}/v1/lms/courses?page_size=2" {auth} {scope}')
        out.print(f'  curl -s "{base}/v1/lms/course-progressions?page_size=2" {auth} {scope}')
        out.print(f"  curl -s {base}/v1/integrations/{integration_id} {auth}")
        delta = "-H 'Content-Type: application/json' -d '{\"type\": \"DELTA\"}'"
        out.print(f"  curl -s -X POST {base}/v1/force-sync {auth} {scope} {delta}")
        out.print(f"  open {base}/docs   (OpenAPI: {base}/v1/openapi.json)\n")
        if serve_api:
            err.print("serving the API (Ctrl-C stops the demo) …")
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
