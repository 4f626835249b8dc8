"""Connecting a tenant: validate what the user typed, prove the credentials work, store them encrypted,
record the scope test, announce the integration and queue its first FULL sync — one transaction.

Used by ``POST /v1/integrations``, ``lmsbridge integrations add`` and the hosted Connect page, which
also replaces a stored integration's credentials in place (``relink_integration``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.connectors.base import StoredConnection
from lmsbridge.connectors.errors import ConnectorError, InvalidCredentials
from lmsbridge.connectors.registry import CONNECTORS, connector_class
from lmsbridge.crypto import SecretBox
from lmsbridge.features.scope_test import ScopeTestResult, run_scope_test, store_scope_test
from lmsbridge.netguard import BlockedHost, check_url
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.integrations import create_integration, get_integration, set_credentials
from lmsbridge.store.schema import Integration
from lmsbridge.store.transact import transact_async
from lmsbridge.webhooks import outbox


class EndUser(BaseModel):
    """Who the integration belongs to (Kombo's ``end_user``)."""

    model_config = ConfigDict(extra="forbid")

    organization_name: str = Field(min_length=1, max_length=500)
    creator_email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    origin_id: str | None = Field(default=None, max_length=500)


class ConnectError(Exception):
    """Connecting failed; ``code`` is the Kombo error code that fits, ``message`` says what to fix."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Connected:
    integration_id: str
    sync_id: str | None
    scope_test: ScopeTestResult


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "input"
    return f"{where}: {first.get('msg', 'invalid')}"


@dataclass(frozen=True)
class Probed:
    """Credentials that work, in storable form, and what the scope test found they allow."""

    tool: str
    connection: StoredConnection
    scope_test: ScopeTestResult


async def probe_connection(
    settings: Settings,
    *,
    tool: str,
    host: str | None,
    credentials: Mapping[str, Any],
    integration_settings: Mapping[str, Any] | None = None,
) -> Probed:
    """Validate what the user typed, prove the credentials work (a token request) and run the scope test;
    stores nothing. ``ConnectError`` says what is wrong."""
    try:
        cls = connector_class(tool)
    except KeyError:
        raise ConnectError(
            "PLATFORM.INPUT_INVALID", f"unknown tool {tool!r}; known: {sorted(CONNECTORS)}"
        ) from None
    host = host if host is not None else cls.default_host()
    if host is None:
        raise ConnectError("PLATFORM.INPUT_INVALID", f"host: {tool} needs the base URL of its tenant")
    try:
        connection = cls.connection_from_input(
            host=host, credentials=credentials, settings=integration_settings
        )
    except ValidationError as exc:
        raise ConnectError("PLATFORM.INPUT_INVALID", _first_error(exc)) from None
    except ValueError as exc:
        raise ConnectError("PLATFORM.INPUT_INVALID", str(exc)) from None
    try:  # before the credentials are sent anywhere
        await asyncio.to_thread(check_url, connection.base_url, allow_private=settings.allow_private_hosts)
    except BlockedHost as exc:
        raise ConnectError("PLATFORM.INPUT_INVALID", f"host: {exc}") from None

    try:
        async with cls.from_connection(connection, app_settings=settings) as connector:
            await connector.verify_credentials()
            scopes = await run_scope_test(connector)
    except InvalidCredentials:
        named = ", ".join(f.label for f in cls.credential_fields)
        raise ConnectError(
            "INTEGRATION.AUTHENTICATION_INVALID",
            f"{cls.coverage.label} refused the credentials"
            + (f" ({named})" if named else "")
            + "; nothing was stored",
        ) from None
    except ConnectorError as exc:
        raise ConnectError(
            "REMOTE.SERVICE_UNAVAILABLE", f"{tool} at {connection.base_url} could not be reached: {exc}"
        ) from None
    return Probed(tool, connection, scopes)


async def connect_integration(
    db: Engine,
    box: SecretBox,
    settings: Settings,
    *,
    tool: str,
    host: str | None,
    credentials: Mapping[str, Any],
    end_user: Mapping[str, Any],
    integration_settings: Mapping[str, Any] | None = None,
    first_sync: bool = True,
    in_transaction: Callable[[Session, Integration], None] | None = None,
) -> Connected:
    """Connect a tenant. ``in_transaction`` runs in the storing transaction (the Connect page uses its
    link up there); raising ``ConnectError`` from it stores nothing."""
    try:
        owner = EndUser.model_validate(dict(end_user))
    except ValidationError as exc:
        raise ConnectError("PLATFORM.INPUT_INVALID", _first_error(exc)) from None
    probed = await probe_connection(
        settings, tool=tool, host=host, credentials=credentials, integration_settings=integration_settings
    )
    connection, scopes = probed.connection, probed.scope_test
    now = datetime.now(UTC)

    def store(session: Session) -> Connected:
        integration: Integration = create_integration(
            session,
            box,
            tool=tool,
            base_url=connection.base_url,
            credentials={k: str(v) for k, v in connection.credentials.items()},
            settings=dict(connection.settings),
            end_user=owner.model_dump(),
            now=now,
        )
        store_scope_test(session, integration.id, scopes, now)
        outbox.record_integration_created(session, integration, now)
        if in_transaction is not None:
            in_transaction(session, integration)
        run_id = None
        if first_sync:
            run, _ = sync_runs.enqueue(session, integration.id, "FULL", now)
            run_id = run.id
        return Connected(integration.id, run_id, scopes)

    return await transact_async(db, store)


async def relink_integration(
    db: Engine,
    box: SecretBox,
    settings: Settings,
    integration_id: str,
    *,
    host: str,
    credentials: Mapping[str, Any],
    in_transaction: Callable[[Session, Integration], None] | None = None,
) -> ScopeTestResult:
    """Replace a stored integration's credentials (and host) in place, after proving the new ones work:
    the integration keeps its id, so its records keep theirs and the next sync continues the store. A
    failed or paused integration is active again (its failure count starts over)."""

    def load(session: Session) -> Integration:
        found = get_integration(session, integration_id)
        if found is None:
            raise ConnectError(
                "PLATFORM.INTEGRATION_NOT_FOUND", f"No integration with id {integration_id!r}."
            )
        session.expunge(found)
        return found

    current = await transact_async(db, load)
    probed = await probe_connection(
        settings,
        tool=current.tool,
        host=host,
        credentials=credentials,
        integration_settings=dict(current.settings or {}),
    )
    now = datetime.now(UTC)

    def store(session: Session) -> ScopeTestResult:
        integration = get_integration(session, integration_id)
        if integration is None:
            raise ConnectError(
                "PLATFORM.INTEGRATION_NOT_FOUND", f"No integration with id {integration_id!r}."
            )
        before = outbox.state_snapshot(integration)
        set_credentials(
            session,
            box,
            integration_id,
            {k: str(v) for k, v in probed.connection.credentials.items()},
            now,
            base_url=probed.connection.base_url,
        )
        if integration.status == "INVALID":
            integration.status = "ACTIVE"
        integration.consecutive_failures = 0
        integration.last_sync_error = None
        integration.paused_at = None
        integration.pause_reason = None
        store_scope_test(session, integration_id, probed.scope_test, now)
        outbox.record_state_change_since(session, integration, before, now)
        if in_transaction is not None:
            in_transaction(session, integration)
        return probed.scope_test

    return await transact_async(db, store)
