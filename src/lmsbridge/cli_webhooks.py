"""``lmsbridge webhooks add|list|remove|rotate-secret|deliveries``: manage endpoints, inspect deliveries.

Part of the command line (``lmsbridge.cli`` mounts it; the helpers every command shares are in
``lmsbridge.cli_common``). Like the main CLI's commands, each imports the store when it runs, so
``lmsbridge --help`` stays quick.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lmsbridge.cli_common import (
    CliError,
    command_settings,
    err,
    fixed_column,
    open_database,
    out,
    print_table,
    when,
)

webhooks_app = typer.Typer(help="Manage webhook endpoints and inspect deliveries.", no_args_is_help=True)

_STATES = ("PENDING", "SUCCEEDED", "FAILED")


@webhooks_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where events are POSTed (http:// or https://).")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help="Only this event type (repeatable); default: every type."),
    ] = None,
) -> None:
    """Add an endpoint and print its signing secret (shown only this once)."""
    from lmsbridge.crypto import SecretBox
    from lmsbridge.store.engine import session_scope
    from lmsbridge.webhooks.endpoints import InvalidEndpoint, create_endpoint

    settings = command_settings(ctx)
    with open_database(settings) as engine, session_scope(engine) as session:
        try:
            endpoint, secret = create_endpoint(
                session,
                SecretBox.from_settings(settings),
                url,
                event,
                allow_private=settings.allow_private_hosts,
            )
        except InvalidEndpoint as exc:
            raise CliError(str(exc)) from exc
    types = ", ".join(endpoint.event_types) if endpoint.event_types else "all events"
    err.print(f"added webhook endpoint {endpoint.id} → {endpoint.url} ({types})")
    err.print("signing secret (X-Kombo-Signature); store it now, it cannot be shown again:")
    out.print(secret)


@webhooks_app.command("list")
def list_(ctx: typer.Context) -> None:
    """List endpoints (secrets are never shown)."""
    from lmsbridge.store.engine import session_scope
    from lmsbridge.webhooks.endpoints import list_endpoints

    with open_database(command_settings(ctx)) as engine, session_scope(engine, readonly=True) as session:
        rows = list_endpoints(session)
    table = Table(*(fixed_column(h) for h in ("id", "url", "events", "created")))
    for row in rows:
        events = ",".join(row.event_types) if row.event_types else "all"
        table.add_row(row.id, row.url, events, when(row.created_at))
    print_table(table, rows, "no webhook endpoints yet; add one with `lmsbridge webhooks add <url>`")


@webhooks_app.command("remove")
def remove(
    ctx: typer.Context, endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id.")]
) -> None:
    """Remove an endpoint; its pending deliveries are dropped."""
    from lmsbridge.store.engine import session_scope
    from lmsbridge.webhooks.endpoints import delete_endpoint

    with open_database(command_settings(ctx)) as engine, session_scope(engine) as session:
        if not delete_endpoint(session, endpoint_id):
            raise CliError(f"no webhook endpoint with id {endpoint_id!r} (see `lmsbridge webhooks list`)")
    out.print(f"removed webhook endpoint {endpoint_id}")


@webhooks_app.command("rotate-secret")
def rotate(
    ctx: typer.Context, endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id.")]
) -> None:
    """Give an endpoint a new signing secret and print it (shown only this once)."""
    from lmsbridge.crypto import SecretBox
    from lmsbridge.store.engine import session_scope
    from lmsbridge.webhooks.endpoints import rotate_secret

    settings = command_settings(ctx)
    with open_database(settings) as engine, session_scope(engine) as session:
        rotated = rotate_secret(session, SecretBox.from_settings(settings), endpoint_id)
        if rotated is None:
            raise CliError(f"no webhook endpoint with id {endpoint_id!r} (see `lmsbridge webhooks list`)")
    err.print(f"new signing secret of webhook endpoint {endpoint_id}; store it now:")
    out.print(rotated[1])


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint's deliveries.")] = None,
    state: Annotated[str | None, typer.Option(help="Only PENDING, SUCCEEDED or FAILED ones.")] = None,
) -> None:
    """Show recent deliveries: event, endpoint, state, attempts, last status or error."""
    from lmsbridge.store.engine import session_scope
    from lmsbridge.webhooks.deliveries import recent_deliveries

    wanted = state.upper() if state else None
    with open_database(command_settings(ctx)) as engine:
        if wanted is not None and wanted not in _STATES:
            raise CliError(f"unknown state {state!r}; expected one of {', '.join(_STATES)}")
        with session_scope(engine, readonly=True) as session:
            rows = recent_deliveries(session, limit=limit, endpoint_id=endpoint, state=wanted)
    headers = ("created", "event", "type", "endpoint", "state", "attempts", "last", "next attempt")
    table = Table(*(fixed_column(h) for h in headers))
    for row in rows:
        last = str(row.last_status) if row.last_status is not None else (row.last_error or "-")
        if row.last_status is not None and row.last_error and row.state != "SUCCEEDED":
            last = row.last_error
        table.add_row(
            when(row.created_at),
            row.event_id,
            row.event_type,
            row.endpoint_id,
            row.state,
            str(row.attempts),
            last,
            when(row.next_attempt_at) if row.state == "PENDING" else "-",
        )
    print_table(table, rows, "no webhook deliveries yet")
