"""Access to each integration's 360Learning tenant for actions: one client per integration, the bulk
slots of each company (3 concurrent bulk operations), and the connector's own course-provider integration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.connections import stored_connection
from lmsbridge.connectors.base import StoredConnection
from lmsbridge.connectors.learning360 import writes
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.config import ClientOptions
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.integrations import get_integration, update_integration
from lmsbridge.store.transact import transact_async

DEFAULT_PROVIDER_NAME = "lmsbridge"
# 360Learning runs at most 3 bulk operations per company at once
BULK_SLOTS_PER_COMPANY = 3
PROVIDER_STATE_KEY = "provider_integration"


@dataclass(frozen=True, slots=True)
class _Tenant:
    connector: Learning360Connector
    company_key: str
    provider_name: str
    author_id: str | None


class RemoteAccess:
    """Shared by the API process (synchronous actions) and the action worker."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        settings: Settings | None = None,
        *,
        client_options: ClientOptions | None = None,
        bulk_slots: int = BULK_SLOTS_PER_COMPANY,
    ) -> None:
        self.db = db
        self.box = box
        self.settings = settings
        self.client_options = client_options
        self.bulk_slots = bulk_slots
        self._tenants: dict[str, _Tenant] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._providers: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _tenant(self, integration_id: str) -> _Tenant:
        tenant = self._tenants.get(integration_id)
        if tenant is not None:
            return tenant
        async with self._lock("tenant:" + integration_id):
            tenant = self._tenants.get(integration_id)
            if tenant is None:
                connection = await transact_async(self.db, lambda s: self._connection(s, integration_id))
                config = Learning360Connector.config_from_connection(connection)
                options = self.client_options
                if options is None and self.settings is not None:
                    options = ClientOptions.with_timeout(
                        self.settings.remote_timeout_seconds,
                        allow_private_hosts=self.settings.allow_private_hosts,
                    )
                settings = self.settings
                connector = Learning360Connector(
                    config,
                    options=options,
                    reads_per_second=settings.remote_reads_per_second if settings else None,
                    writes_per_second=settings.remote_writes_per_second if settings else None,
                )
                tenant = _Tenant(
                    connector=connector,
                    company_key=config.company_key,
                    provider_name=config.settings.provider_name or DEFAULT_PROVIDER_NAME,
                    author_id=config.settings.author_id,
                )
                self._tenants[integration_id] = tenant
        return tenant

    def _connection(self, session: Session, integration_id: str) -> StoredConnection:
        integration = get_integration(session, integration_id)
        if integration is None:
            raise LookupError(f"integration {integration_id} no longer exists")
        return stored_connection(self.box, integration)

    async def client(self, integration_id: str) -> Learning360Client:
        return (await self._tenant(integration_id)).connector.client

    @asynccontextmanager
    async def bulk_slot(self, integration_id: str) -> AsyncIterator[None]:
        """One of the company's bulk-operation slots, held while an operation is in flight."""
        key = (await self._tenant(integration_id)).company_key
        slot = self._slots.setdefault(key, asyncio.Semaphore(self.bulk_slots))
        async with slot:
            yield

    async def provider(self, integration_id: str) -> dict[str, Any]:
        """The connector's own 360Learning integration (``IntegrationDTO``), found or created on first
        use; its id is kept in ``Integration.connector_state`` so restarts and other processes reuse it."""
        cached = self._providers.get(integration_id)
        if cached is not None:
            return cached
        async with self._lock("provider:" + integration_id):
            cached = self._providers.get(integration_id)
            if cached is not None:
                return cached
            tenant = await self._tenant(integration_id)
            state = await transact_async(self.db, lambda s: self._connector_state(s, integration_id))
            known = state.get(PROVIDER_STATE_KEY)
            dto = await writes.ensure_provider_integration(
                tenant.connector.client,
                provider_name=tenant.provider_name,
                author_id=tenant.author_id,
                known_id=str(known["_id"]) if isinstance(known, dict) and known.get("_id") else None,
            )
            if known != dto:
                await transact_async(self.db, lambda s: self._save_provider(s, integration_id, dto))
            self._providers[integration_id] = dto
            return dto

    def forget_provider(self, integration_id: str) -> None:
        """Look the provider integration up again next time (360Learning answered integrationNotFound)."""
        self._providers.pop(integration_id, None)

    def _connector_state(self, session: Session, integration_id: str) -> dict[str, Any]:
        integration = get_integration(session, integration_id)
        return dict(integration.connector_state or {}) if integration is not None else {}

    def _save_provider(self, session: Session, integration_id: str, dto: dict[str, Any]) -> None:
        state = self._connector_state(session, integration_id)
        state[PROVIDER_STATE_KEY] = dto
        update_integration(session, integration_id, connector_state=state, now=datetime.now(UTC))

    async def aclose(self) -> None:
        tenants, self._tenants = list(self._tenants.values()), {}
        for tenant in tenants:
            await tenant.connector.aclose()
