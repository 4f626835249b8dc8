"""Connector classes by tool slug (the ``tool`` of an integration)."""

from __future__ import annotations

from lmsbridge.connectors.base import Connector
from lmsbridge.connectors.learning360.connector import Learning360Connector

CONNECTORS: dict[str, type[Connector]] = {Learning360Connector.tool: Learning360Connector}


def connector_class(tool: str) -> type[Connector]:
    """The connector class for a tool slug; KeyError names the known tools."""
    try:
        return CONNECTORS[tool]
    except KeyError:
        raise KeyError(f"unknown tool {tool!r}; known: {sorted(CONNECTORS)}") from None
