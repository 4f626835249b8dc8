"""Live connectors for stored integrations (credentials are decrypted here and nowhere else), and a
cache that keeps one per integration so consecutive calls reuse its token."""

from __future__ import annotations

import asyncio
import hashlib

from lmsbridge.connectors.base import Connector, StoredConnection
from lmsbridge.connectors.registry import connector_class
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.integrations import decrypt_credentials
from lmsbridge.store.schema import Integration


def stored_connection(box: SecretBox, integration: Integration) -> StoredConnection:
    """The integration's connection with its credentials decrypted (never log the result)."""
    return StoredConnection(
        base_url=integration.base_url,
        credentials=decrypt_credentials(box, integration),
        settings=dict(integration.settings or {}),
    )


def open_connector(box: SecretBox, integration: Integration, settings: Settings | None = None) -> Connector:
    """A new connector for the integration; the caller closes it (``async with``)."""
    cls = connector_class(integration.tool)
    return cls.from_connection(stored_connection(box, integration), app_settings=settings)


def _fingerprint(integration: Integration) -> str:
    # a credential or host change must not reuse a client holding the old token
    material = f"{integration.tool}|{integration.base_url}|{integration.credentials_encrypted}"
    return hashlib.sha256(material.encode()).hexdigest()


class ConnectorCache:
    """One live connector per integration, so consecutive passthrough calls share its token cache
    (the company budget is shared anyway, through ``BudgetRegistry``). Close with ``aclose``."""

    def __init__(self, box: SecretBox, settings: Settings | None = None) -> None:
        self.box = box
        self.settings = settings
        self._connectors: dict[str, tuple[str, Connector]] = {}
        # replaced connectors may still serve an in-flight call: closed only by ``aclose``
        self._retired: list[Connector] = []
        self._lock = asyncio.Lock()

    async def get(self, integration: Integration) -> Connector:
        fingerprint = _fingerprint(integration)
        async with self._lock:
            cached = self._connectors.get(integration.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            connector = open_connector(self.box, integration, self.settings)
            self._connectors[integration.id] = (fingerprint, connector)
            if cached is not None:
                self._retired.append(cached[1])
        return connector

    async def aclose(self) -> None:
        async with self._lock:
            connectors = [c for _, c in self._connectors.values()] + self._retired
            self._connectors.clear()
            self._retired = []
        for connector in connectors:
            await connector.aclose()
