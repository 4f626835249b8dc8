"""Connecting a tenant: validate what the user typed, prove the credentials work, store them encrypted,
record the scope test, announce the integration and queue its first FULL sync — one transaction.

Used by ``POST /v1/integrations`` and ``lmsbridge integrations add``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.connectors.errors import ConnectorError, InvalidCredentials
from lmsbridge.connectors.registry import CONNECTORS, connector_class
from lmsbridge.crypto import SecretBox
from lmsbridge.features.scope_test import ScopeTestResult, run_scope_test, store_scope_test
from lmsbridge.netguard import BlockedHost, check_url
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.integrations import create_integration
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


async def connect_integration(
    db: Engine,
    box: SecretBox,
    settings: Settings,
    *,
    tool: str,
    host: str,
    credentials: Mapping[str, Any],
    end_user: Mapping[str, Any],
    integration_settings: Mapping[str, Any] | None = None,
    first_sync: bool = True,
) -> Connected:
    try:
        cls = connector_class(tool)
    except KeyError:
        raise ConnectError(
            "PLATFORM.INPUT_INVALID", f"unknown tool {tool!r}; known: {sorted(CONNECTORS)}"
        ) from None
    try:
        owner = EndUser.model_validate(dict(end_user))
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
        raise ConnectError(
            "INTEGRATION.AUTHENTICATION_INVALID",
            f"{tool} refused the client id and secret (token request failed); nothing was stored",
        ) from None
    except ConnectorError as exc:
        raise ConnectError(
            "REMOTE.SERVICE_UNAVAILABLE", f"{tool} at {connection.base_url} could not be reached: {exc}"
        ) from None

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
        run_id = None
        if first_sync:
            run, _ = sync_runs.enqueue(session, integration.id, "FULL", now)
            run_id = run.id
        return Connected(integration.id, run_id, scopes)

    return await transact_async(db, store)
