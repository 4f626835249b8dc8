"""Connector classes by tool slug (the ``tool`` of an integration), and what each declares (coverage,
scopes, label) for code that has a tool name but no connection.

The one module outside a connector's own package that names connectors: adding an LMS adds a line here.
"""

from __future__ import annotations

from lmsbridge.connectors.base import Connector, ScopeRequirements
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.connectors.writes import BatchingPolicy
from lmsbridge.unified.coverage import ToolCoverage, unknown_tool_coverage

CONNECTORS: dict[str, type[Connector]] = {Learning360Connector.tool: Learning360Connector}
# what each tool covers; tests add tools here to reach paths no shipped connector has
COVERAGE: dict[str, ToolCoverage] = {tool: cls.coverage for tool, cls in CONNECTORS.items()}
NO_SCOPES = ScopeRequirements(models={}, actions={})
# an integration id as the API documentation shows it (`<tool>:<random id>`)
EXAMPLE_INTEGRATION_ID = f"{next(iter(CONNECTORS))}:HWUTwvyx2wLoSUHphiWVrp28"


def connection_help(part: str) -> str:
    """Per tool, what to enter as ``part`` ("credentials", "host", "settings") to connect it."""
    text = "; ".join(
        f"for {tool}: {said}" for tool, cls in CONNECTORS.items() if (said := cls.connection_text(part))
    )
    return text[:1].upper() + text[1:]


def connector_class(tool: str) -> type[Connector]:
    """The connector class for a tool slug; KeyError names the known tools."""
    try:
        return CONNECTORS[tool]
    except KeyError:
        raise KeyError(f"unknown tool {tool!r}; known: {sorted(CONNECTORS)}") from None


def tool_coverage(tool: str) -> ToolCoverage:
    """The coverage of ``tool``; an unknown tool covers nothing (every model answers MODEL_NOT_AVAILABLE)."""
    return COVERAGE.get(tool) or unknown_tool_coverage(tool)


def scope_requirements(tool: str) -> ScopeRequirements:
    """The scopes each model and action of ``tool`` needs (none known for an unknown tool)."""
    known = CONNECTORS.get(tool)
    return known.scopes if known is not None else NO_SCOPES


def write_batching(tool: str) -> BatchingPolicy | None:
    """How ``tool``'s connector batches its write actions (None: unknown tool, or no write actions)."""
    known = CONNECTORS.get(tool)
    writes = known.write_actions_class if known is not None else None
    return writes.batching if writes is not None else None
