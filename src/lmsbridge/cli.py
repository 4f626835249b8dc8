"""The ``lmsbridge`` command line: serve, migrate, API keys, integrations, demo (and the sandbox)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from sqlalchemy import Engine

from lmsbridge import __version__, cli_help
from lmsbridge.cli_common import (
    CliError,
    command_settings,
    err,
    fail,
    fixed_column,
    open_database,
    out,
    print_table,
    safe_url,
    when,
)
from lmsbridge.cli_connection import FieldsHelpCommand, connection_input, connector_for
from lmsbridge.cli_webhooks import webhooks_app
from lmsbridge.settings import Settings

cli_help.install()
# defaults shown in --help are the settings' own (an option left out falls back to the settings)
_DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}

app = typer.Typer(
    name="lmsbridge",
    help="Self-hostable unified LMS API (Kombo-compatible).",
    no_args_is_help=True,
    # errors are reported as one line each (see fail), never as tracebacks
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


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the database migrations and, on PostgreSQL, create the job store's tables (also done by
    `serve` and `worker` on start)."""
    from lmsbridge.jobs.system import uses_procrastinate_store
    from lmsbridge.store.migrate import current_revision

    settings = command_settings(ctx)
    with open_database(settings) as engine:
        revision = current_revision(engine)
    out.print(f"database {safe_url(settings.resolved_database_url)} is at revision {revision}")
    if uses_procrastinate_store(settings):
        out.print("job store: Procrastinate's tables are in this database (workers share them)")
    else:
        out.print("job store: in the memory of the process that runs the jobs (SQLite)")


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
    work: Annotated[
        bool,
        typer.Option(
            "--work/--no-work",
            help="PostgreSQL: these processes also run jobs (syncs, actions, webhooks); by default "
            "`lmsbridge worker` processes do. On SQLite one serve process always does.",
        ),
    ] = False,
) -> None:
    """Migrate the database, then serve the API."""
    settings = command_settings(ctx)
    if work:
        settings = settings.model_copy(update={"serve_works": True})
        ctx.obj = {**(ctx.obj or {}), "serve_works": True}
    _observe(settings)
    with open_database(settings) as engine:
        _hint_demo_store(settings, engine)
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
    # each worker process sets up logs and metrics itself (create_worker_app)
    uvicorn.run(
        "lmsbridge.api.app:create_worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **_SERVER_OPTIONS,
    )


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Jobs run at once (default: LMSBRIDGE_WORKER_CONCURRENCY, 8)."),
    ] = None,
) -> None:
    """Run jobs only (scheduled and forced syncs, action tasks, webhook deliveries), no API. On PostgreSQL
    run as many as you like, on any machine; on SQLite one per data directory."""
    settings = command_settings(ctx)
    if concurrency is not None:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    _observe(settings)
    with open_database(settings):  # migrated, or a one-line error
        pass
    from lmsbridge.runtime import claim_background_services

    if settings.is_sqlite and not claim_background_services(settings):
        fail(
            "another lmsbridge process already runs the background services of this data directory "
            "(on SQLite one process runs the jobs)"
        )
    asyncio.run(_run_background(settings))


async def _run_background(settings: Settings) -> None:
    from lmsbridge.runtime import Runtime
    from lmsbridge.store.engine import make_engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = make_engine(settings.resolved_database_url)
    runtime = Runtime(settings, engine, work=True)
    try:
        await runtime.start()
        err.print(
            f"lmsbridge worker: running syncs, actions and webhook deliveries, {runtime.jobs.concurrency} "
            f"at once, job store {runtime.jobs.backend} (Ctrl-C to stop)"
        )
        from lmsbridge.logs import BACKGROUND_SERVICES

        _log_startup(settings, "worker", BACKGROUND_SERVICES)
        await stop.wait()
    finally:
        await runtime.stop()  # what runs is resumed by the next process that claims the services
        engine.dispose()


_SERVER_OPTIONS: dict[str, Any] = {
    # logging is ours (lmsbridge.logs); uvicorn's access log is replaced by api/request_log.py
    "log_config": None,
    "access_log": False,
    # longer than clients and load balancers keep an idle connection for reuse (httpx 5 s, AWS ALB 60 s):
    # a server that closes an idle connection first can close it just as a client sends a request on it,
    # and that request fails with a connection reset
    "timeout_keep_alive": 75,
}


def _run_api(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    # imported here: the CLI must work (migrate, api-keys) even while the API package is broken or absent
    from lmsbridge.api.app import create_app, serve_works

    work = serve_works(settings)
    if not work:
        err.print(
            "this process serves the API and queues work; "
            + (
                "another lmsbridge process runs the jobs of this data directory"
                if settings.is_sqlite
                else "`lmsbridge worker` processes run the jobs (or start serve with --work)"
            )
        )
    from lmsbridge.logs import BACKGROUND_SERVICES

    _log_startup(settings, "api", BACKGROUND_SERVICES if work else [])
    app = create_app(settings, background=True, work=work)
    uvicorn.run(app, host=host, port=port, **_SERVER_OPTIONS)


def _observe(settings: Settings) -> None:
    """Logs and metrics of this process, set up before anything else runs."""
    from lmsbridge.observability import setup_process

    setup_process(settings)


def _log_startup(settings: Settings, role: str, services: list[str]) -> None:
    from lmsbridge.jobs.system import job_backend
    from lmsbridge.logs import database_backend, log_startup

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

    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        key, plaintext = create_api_key(session, name)
    err.print(f"created API key {key.id} ({name}); store it now, it cannot be shown again:")
    out.print(plaintext)


@api_keys_app.command("list")
def api_keys_list(ctx: typer.Context) -> None:
    """List API keys (prefix only; keys are stored as hashes)."""
    from lmsbridge.store.api_keys import list_api_keys
    from lmsbridge.store.engine import session_scope

    with open_database(command_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        keys = list_api_keys(session)
    table = Table(*(fixed_column(h) for h in ("id", "name", "prefix", "created", "last used", "revoked")))
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            key.prefix + "…",
            when(key.created_at),
            when(key.last_used_at),
            when(key.revoked_at),
        )
    print_table(table, keys, "no API keys yet; create one with `lmsbridge api-keys create`")


@api_keys_app.command("revoke")
def api_keys_revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key by id; requests with it fail from now on."""
    from lmsbridge.store.api_keys import revoke_api_key
    from lmsbridge.store.engine import session_scope

    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        key = revoke_api_key(session, key_id)
        if key is None:
            raise CliError(f"no API key with id {key_id!r} (see `lmsbridge api-keys list`)")
    out.print(f"revoked API key {key.id} ({key.name})")


@integrations_app.command("list")
def integrations_list(ctx: typer.Context) -> None:
    """List connected integrations."""
    from lmsbridge.store import sync_runs
    from lmsbridge.store.engine import session_scope
    from lmsbridge.store.integrations import list_integrations

    with open_database(command_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        rows = list_integrations(session)
        last_runs = {i.id: sync_runs.last_run(session, i.id) for i in rows}
    headers = (
        "id",
        "tool",
        "organization",
        "status",
        "enabled",
        "setup",
        "qa",
        "last sync",
        "base url",
        "created",
    )
    table = Table(*(fixed_column(h) for h in headers))
    for i in rows:
        enabled = "yes" if i.enabled else "no"
        run = last_runs[i.id]
        last = f"{run.type} {run.state} {when(run.ended_at or run.created_at)}" if run is not None else "-"
        organization = str((i.end_user or {}).get("organization_name") or "-")
        table.add_row(
            i.id,
            i.tool,
            organization,
            i.status,
            enabled,
            i.setup_status,
            i.qa_status,
            last,
            i.base_url,
            when(i.created_at),
        )
    print_table(table, rows, "no integrations yet")


def _set_enabled(ctx: typer.Context, integration_id: str, enabled: bool) -> None:
    from lmsbridge.jobs import control
    from lmsbridge.store.engine import session_scope

    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        control.set_enabled(session, _integration(session, integration_id), enabled, datetime.now(UTC))
    out.print(f"{'enabled' if enabled else 'disabled'} integration {integration_id}")


def _integration(session: Any, integration_id: str) -> Any:
    from lmsbridge.store.integrations import get_integration

    integration = get_integration(session, integration_id)
    if integration is None:
        raise CliError(f"no integration with id {integration_id!r} (see `lmsbridge integrations list`)")
    return integration


@integrations_app.command("force-sync")
def integrations_force_sync(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    sync_type: Annotated[str, typer.Option("--type", help="FULL or DELTA.", case_sensitive=False)] = "DELTA",
) -> None:
    """Queue a sync for the running workers (as POST /v1/force-sync does); it also resumes a paused
    schedule. `lmsbridge sync` runs one in the foreground instead."""
    from lmsbridge.jobs import control
    from lmsbridge.store.engine import session_scope

    kind = sync_type.upper()
    if kind not in {"FULL", "DELTA"}:
        fail(f"--type must be FULL or DELTA, not {sync_type!r}")
    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        try:
            run, already = control.force_sync(
                session, _integration(session, integration_id), kind, datetime.now(UTC)
            )
        except control.IntegrationDisabled as exc:
            raise CliError(str(exc)) from None
        run_id, run_type = run.id, run.type
    what = "already queued or running" if already else "queued"
    out.print(f"sync {run_id} ({run_type}) {what}; see `lmsbridge syncs list --integration {integration_id}`")


@integrations_app.command("disable")
def integrations_disable(
    ctx: typer.Context, integration_id: Annotated[str, typer.Argument(help="The integration's id.")]
) -> None:
    """Disable an integration: it is not synced and its data endpoints answer INTEGRATION.INACTIVE."""
    _set_enabled(ctx, integration_id, False)


@integrations_app.command("enable")
def integrations_enable(
    ctx: typer.Context, integration_id: Annotated[str, typer.Argument(help="The integration's id.")]
) -> None:
    """Enable a disabled integration again (syncs resume on the schedule)."""
    _set_enabled(ctx, integration_id, True)


@integrations_app.command("delete")
def integrations_delete(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an integration and all of its data (records, sync runs, logs). Cannot be undone."""
    from lmsbridge.jobs import control
    from lmsbridge.store.engine import session_scope

    if not yes:
        typer.confirm(f"delete integration {integration_id} and all of its data?", abort=True, err=True)
    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        control.delete(session, _integration(session, integration_id), datetime.now(UTC))
    out.print(f"deleted integration {integration_id}")


@integrations_app.command("test")
def integrations_test(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    models: Annotated[bool, typer.Option("--models", help="Also run the per-model tests.")] = False,
) -> None:
    """Run the scope test (and with --models the per-model tests) of an integration now."""
    from lmsbridge.crypto import SecretBox
    from lmsbridge.features.on_demand import check_integration

    settings = command_settings(ctx)
    with open_database(settings) as engine:
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
    table = Table(fixed_column("scope"), fixed_column("status"), Column("why"))
    for name, check in sorted(scopes.scopes.items()):
        table.add_row(name, check.status, check.why)
    print_table(table, list(scopes.scopes), "no scopes probed")
    if not scopes.credentials_valid:
        fail("the LMS refused the integration's credentials")
    if tested is not None:
        table = Table(fixed_column("model"), fixed_column("result"), Column("details"))
        for model, result in tested.models.items():
            table.add_row(model, result.status, result.message)
        print_table(table, list(tested.models), "no models tested")
        out.print(f"qa status: {tested.qa_status}")
        if tested.qa_status == "FAILED":
            raise typer.Exit(1)


@integrations_app.command("add", cls=FieldsHelpCommand)
def integrations_add(
    ctx: typer.Context,
    tool: Annotated[str, typer.Argument(help="The LMS's connector (an unknown one is refused).")],
    organization_name: Annotated[str, typer.Option(help="The customer's organization name.")],
    credential: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUE",
            help="A credential the tool declares (repeatable). A secret left out is read from its "
            "environment variable or asked for (a command line is visible to other users of the machine).",
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME=VALUE", help="An optional setting the tool declares (repeatable)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="One of the tool's hosts (default: its first) or a base URL (e.g. a sandbox)."),
    ] = None,
    creator_email: Annotated[str | None, typer.Option(help="Who connected it.")] = None,
    origin_id: Annotated[str | None, typer.Option(help="Your id for this customer.")] = None,
    sync_now: Annotated[
        bool, typer.Option("--sync/--no-sync", help="Run the first FULL sync now, with progress bars.")
    ] = False,
) -> None:
    """Connect a tenant: verify the credentials, store them encrypted, run the scope test and queue (or,
    with --sync, run) the first FULL sync."""
    from lmsbridge.connect import ConnectError, connect_integration
    from lmsbridge.crypto import SecretBox

    settings = command_settings(ctx)
    try:  # before the database is opened: a typo costs nothing
        given = connection_input(
            connector_for(tool), host=host, credentials=credential or [], settings=setting or []
        )
    except CliError as exc:
        fail(str(exc))
    with open_database(settings) as engine:
        try:
            connected = asyncio.run(
                connect_integration(
                    engine,
                    SecretBox.from_settings(settings),
                    settings,
                    tool=tool,
                    host=given.host,
                    credentials=given.credentials,
                    end_user={
                        "organization_name": organization_name,
                        "creator_email": creator_email,
                        "origin_id": origin_id,
                    },
                    integration_settings=given.settings,
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


@integrations_app.command("relink")
def integrations_relink(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    magic_link: Annotated[
        bool,
        typer.Option("--magic-link", help="A link valid for 1 year (to send by mail) instead of 1 hour."),
    ] = False,
) -> None:
    """Print a Connect link that replaces the integration's credentials (or region) in place: the
    integration keeps its id and its records keep theirs. The link works once."""
    from lmsbridge.api.errors import ApiError
    from lmsbridge.api.routes.connect import RelinkBody, create_relink
    from lmsbridge.store.engine import session_scope

    settings = command_settings(ctx)
    body = RelinkBody(link_type="MAGIC_LINK" if magic_link else "EMBEDDED")
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            link = create_relink(session, settings, integration_id, body)
        except ApiError:
            raise CliError(
                f"no integration with id {integration_id!r} (see `lmsbridge integrations list`)"
            ) from None
    lifetime = "1 year" if magic_link else "1 hour"
    err.print(f"send this link to the customer; it works once and expires in {lifetime}:")
    out.print(link, highlight=False, soft_wrap=True)


@app.command()
def sync(
    ctx: typer.Context,
    integration_id: Annotated[str, typer.Argument(help="The integration's id.")],
    sync_type: Annotated[str, typer.Option("--type", help="FULL or DELTA.", case_sensitive=False)] = "FULL",
) -> None:
    """Run one sync of an integration in the foreground, with a progress bar per stream."""
    kind = sync_type.upper()
    if kind not in {"FULL", "DELTA"}:
        fail(f"--type must be FULL or DELTA, not {sync_type!r}")
    settings = command_settings(ctx)
    _observe(settings)
    with open_database(settings) as engine:
        _sync_in_foreground(settings, engine, integration_id, kind)


def _sync_in_foreground(settings: Settings, engine: Engine, integration_id: str, kind: str) -> None:
    from lmsbridge.cli_progress import RichSyncProgress
    from lmsbridge.runtime import Runtime
    from lmsbridge.store.engine import session_scope
    from lmsbridge.store.integrations import get_integration

    with session_scope(engine, readonly=True) as session:
        if get_integration(session, integration_id) is None:
            raise CliError(f"no integration with id {integration_id!r} (see `lmsbridge integrations list`)")
    runtime = Runtime(settings, engine, work=False, schedule=False)

    async def run() -> Any:
        await runtime.start()  # on PostgreSQL: the company's budget shared with the running workers
        try:
            with RichSyncProgress(err) as progress:
                return await runtime.sync_engine.run_new(integration_id, kind, progress=progress)
        finally:
            await runtime.stop()

    started = time.monotonic()
    try:
        outcome = asyncio.run(run())
    except RuntimeError as exc:  # the queued/running run belongs to a live process
        raise CliError(f"{exc}; wait for it, or see `lmsbridge syncs list`") from None
    table = Table(
        fixed_column("model"),
        fixed_column("seen"),
        fixed_column("created"),
        fixed_column("changed"),
        fixed_column("deleted"),
    )
    counts = _run_counts(engine, outcome.run_id)
    for model, c in sorted(counts.items()):
        table.add_row(model, *(str(c.get(k, 0)) for k in ("seen", "created", "changed", "deleted")))
    print_table(table, list(counts), "nothing synced")
    # the whole wait, the model tests and statistics after the run included
    seconds = time.monotonic() - started
    out.print(
        f"sync {outcome.run_id} ({outcome.type}): [bold]{outcome.state}[/] in {seconds:.1f} s, "
        f"{outcome.api_calls} API calls"
    )
    for warning in outcome.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    if outcome.state != "SUCCEEDED":
        fail(outcome.error or f"the sync ended {outcome.state}")


def _run_counts(engine: Engine, run_id: str) -> dict[str, dict[str, int]]:
    from lmsbridge.store import sync_runs
    from lmsbridge.store.engine import session_scope

    with session_scope(engine, readonly=True) as session:
        run = sync_runs.get_run(session, run_id)
        return dict((run.streams or {}).get("counts", {})) if run is not None else {}


@syncs_app.command("cancel")
def syncs_cancel(
    ctx: typer.Context, sync_id: Annotated[str, typer.Argument(help="The sync run's id.")]
) -> None:
    """Cancel a sync: a queued one at once, a running one within seconds (what it wrote stays)."""
    from lmsbridge.jobs import control
    from lmsbridge.store.engine import session_scope

    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        run = control.cancel_sync(session, sync_id, datetime.now(UTC))
        if run is None:
            raise CliError(f"no sync with id {sync_id!r} (see `lmsbridge syncs list`)")
        state, requested = run.state, run.cancel_requested_at
    if state == "CANCELLED":
        out.print(f"sync {sync_id} cancelled")
    elif requested is not None and state == "RUNNING":
        out.print(f"sync {sync_id} is running: it stops at its next heartbeat")
    else:
        out.print(f"sync {sync_id} had already ended ({state})")


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

    with open_database(command_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        runs = sync_runs.list_runs(session, integration_id, limit=limit)
    headers = ("id", "integration", "type", "state", "started", "seconds", "calls", "changed", "reason")
    table = Table(*(fixed_column(h) for h in headers[:-1]), Column("reason"))
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
            when(run.started_at),
            f"{seconds:.1f}" if seconds is not None else "-",
            str(run.api_calls),
            str(changed),
            _run_reason(run.state, run.error, run.warnings),
        )
    print_table(table, runs, "no sync runs yet")


def _hint_demo_store(settings: Settings, engine: Engine) -> None:
    """An empty store next to a demo's: the operator probably wants to serve the demo's data."""
    from lmsbridge.store.engine import session_scope
    from lmsbridge.store.integrations import list_integrations

    demo_store = settings.data_dir / "demo" / "lmsbridge.db"
    if settings.database_url or not demo_store.exists():
        return
    with session_scope(engine, readonly=True) as session:
        if list_integrations(session):
            return
    err.print(
        f"[yellow]note:[/] this store has no integrations; the demo's is in {demo_store.parent}: "
        f"lmsbridge --data-dir {demo_store.parent} serve"
    )


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(
                f"cannot serve on {host}:{port} ({exc.strerror or exc}); choose another with --port "
                "(or LMSBRIDGE_PORT)"
            )


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
    """A full local demo: the shipped connector's simulated tenant (the sandbox), a fresh store with an API
    key and an integration, the first FULL sync with progress bars, then the API with ready-to-paste curl
    commands."""
    import shutil

    from lmsbridge.connect import ConnectError, connect_integration
    from lmsbridge.crypto import SecretBox
    from lmsbridge.sandbox import shipped
    from lmsbridge.store.api_keys import create_api_key
    from lmsbridge.store.engine import session_scope

    base_settings = command_settings(ctx)
    _observe(base_settings)
    demo_dir = base_settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)  # every demo starts from an empty store
    settings = base_settings.model_copy(update={"data_dir": demo_dir})
    if not base_settings.database_url:
        settings = settings.model_copy(update={"database_url": None})
    host = host or settings.host
    port = port if port is not None else settings.port
    base = f"http://{host}:{port}"
    # the sandbox runs on loopback, which outbound calls reach only when allowed (lmsbridge.netguard)
    settings = settings.model_copy(update={"public_base_url": base, "allow_private_hosts": True})
    if serve_api:
        _require_free_port(host, port)  # before minutes of generating and syncing, not after
    err.print(f"generating a sandbox tenant: {users:,} users, {courses:,} courses, {attempts:,} attempts …")
    with (
        shipped.running_tenant(
            seed=42, users=users, courses=courses, attempts=attempts, rate_limit_enabled=True
        ) as sb,
        open_database(settings) as engine,
    ):
        err.print(f"sandbox (simulated {shipped.LABEL}, its read limit like the real one) at {sb.base_url}")
        with session_scope(engine) as session:
            _, api_key = create_api_key(session, "demo")
        try:
            connected = asyncio.run(
                connect_integration(
                    engine,
                    SecretBox.from_settings(settings),
                    settings,
                    tool=shipped.TOOL,
                    host=sb.base_url,
                    credentials=shipped.credentials(sb),
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
        if not base_settings.database_url:
            # the demo's store stays after it ends (until the next demo replaces it)
            out.print(f"Serve this store again later: lmsbridge --data-dir {demo_dir} serve --port {port}\n")
        if serve_api:
            err.print("serving the API (Ctrl-C stops the demo) …")
            _run_api(settings, host, port)


if importlib.util.find_spec("lmsbridge.sandbox.shipped") is not None:

    @app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )
    def sandbox(ctx: typer.Context) -> None:
        """Run the shipped connector's simulated tenant (options: see `lmsbridge sandbox --help`)."""
        try:
            from lmsbridge.sandbox.shipped import cli_main as sandbox_main
        except Exception as exc:  # a broken optional module must not take the whole CLI down
            fail(f"the sandbox is not available: {exc}")
        sandbox_main(list(ctx.args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
