"""Access to each integration's LMS for actions: one connector per integration, its write actions, the
write slots of each tenant (``BatchingPolicy.calls_in_flight``) and the connector state they keep."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.actions.errors import ActionError
from lmsbridge.connections import stored_connection
from lmsbridge.connectors.base import Connector, StoredConnection
from lmsbridge.connectors.registry import connector_class
from lmsbridge.connectors.writes import Json, WriteActions, WriteHost, WriteTiming
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.integrations import get_integration, update_integration
from lmsbridge.store.transact import transact_async

# ends announced for operations nobody here waits on (e.g. another worker's) are kept this many at most
MAX_ENDED_KEPT = 1024


class RemoteAccess:
    """Shared by the API process (synchronous actions) and the action worker."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        settings: Settings | None = None,
        *,
        connector_options: Mapping[str, Any] | None = None,
        timing: WriteTiming | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.settings = settings
        self.connector_options = connector_options
        self.timing = timing or WriteTiming()
        self._connectors: dict[str, Connector] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # remote operations an event (e.g. a webhook) said ended, by key: a wait on one ends now
        self._ended: dict[str, asyncio.Event] = {}

    async def connector(self, integration_id: str) -> Connector:
        connector = self._connectors.get(integration_id)
        if connector is not None:
            return connector
        async with self._locks.setdefault("connector:" + integration_id, asyncio.Lock()):
            connector = self._connectors.get(integration_id)
            if connector is None:
                tool, connection = await transact_async(
                    self.db, lambda s: self._connection(s, integration_id)
                )
                cls = connector_class(tool)
                options = self.connector_options
                if options is None:
                    options = cls.background_options(self.settings) if self.settings else {}
                settings = self.settings
                connector = cls.from_connection(
                    connection,
                    reads_per_second=settings.remote_reads_per_second if settings else None,
                    writes_per_second=settings.remote_writes_per_second if settings else None,
                    **options,
                )
                self._connectors[integration_id] = connector
        return connector

    def _connection(self, session: Session, integration_id: str) -> tuple[str, StoredConnection]:
        integration = get_integration(session, integration_id)
        if integration is None:
            raise LookupError(f"integration {integration_id} no longer exists")
        return integration.tool, stored_connection(self.box, integration)

    async def client(self, integration_id: str) -> Any:
        """The connector's HTTP client (what the webhook reader uses until events go through the
        connector)."""
        connector: Any = await self.connector(integration_id)
        return connector.client

    async def writer(self, integration_id: str, *, prepare: bool = True) -> WriteActions:
        """The integration's write actions, prepared unless told not to (e.g. its course provider found
        or created: nothing is prepared for a request that sends nothing)."""
        writer = (await self.connector(integration_id)).write_actions()
        if writer is None:
            raise ActionError(
                "INTEGRATION.ACTION_NOT_AVAILABLE", f"the connector of {integration_id} writes nothing"
            )
        if prepare:
            await writer.prepare(_Host(self, integration_id))
        return writer

    def host(self, integration_id: str) -> WriteHost:
        return _Host(self, integration_id)

    @asynccontextmanager
    async def write_slot(self, writer: WriteActions) -> AsyncIterator[None]:
        """One of the tenant's write slots, held while a remote write is in flight."""
        slot = self._slots.setdefault(writer.tenant_key, asyncio.Semaphore(writer.batching.calls_in_flight))
        async with slot:
            yield

    def operation_ended(self, key: str) -> None:
        """The LMS said a remote operation ended (its event reached this process). Kept even when no
        wait is on it yet (it may arrive while the first poll is in flight), the oldest dropped first."""
        self._ended.setdefault(key, asyncio.Event()).set()
        while len(self._ended) > MAX_ENDED_KEPT:
            del self._ended[next(iter(self._ended))]

    async def wait(self, key: str, seconds: float) -> None:
        # the event stays registered between waits, so an end announced while polling is not missed
        ended = self._ended.setdefault(key, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), seconds)

    def stop_waiting(self, key: str) -> None:
        self._ended.pop(key, None)

    def connector_state(self, session: Session, integration_id: str) -> dict[str, Any]:
        integration = get_integration(session, integration_id)
        return dict(integration.connector_state or {}) if integration is not None else {}

    def save_connector_state(self, session: Session, integration_id: str, state: Json) -> None:
        update_integration(session, integration_id, connector_state=state, now=datetime.now(UTC))

    async def aclose(self) -> None:
        connectors, self._connectors = list(self._connectors.values()), {}
        for connector in connectors:
            await connector.aclose()


class _Host:
    """``WriteHost`` of one integration: its connector state in the store, waits that events end."""

    def __init__(self, remote: RemoteAccess, integration_id: str) -> None:
        self.remote = remote
        self.integration_id = integration_id
        self.timing = remote.timing

    async def load_state(self) -> Json:
        return await transact_async(
            self.remote.db, lambda s: self.remote.connector_state(s, self.integration_id)
        )

    async def save_state(self, state: Json) -> None:
        await transact_async(
            self.remote.db, lambda s: self.remote.save_connector_state(s, self.integration_id, state)
        )

    async def wait(self, key: str, seconds: float) -> None:
        await self.remote.wait(key, seconds)

    def done_waiting(self, key: str) -> None:
        self.remote.stop_waiting(key)
