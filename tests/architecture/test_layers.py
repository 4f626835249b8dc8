"""The dependency rules of DESIGN.md §3, checked on the source: every package and top-level module has
a place in the layers below, and imports only what its place allows (docs/architecture.md explains them).

A unit is a package under ``lmsbridge`` (``store``) or a top-level module (``settings``); imports within
a unit are free. Function-level imports count; ``if TYPE_CHECKING:`` imports do not (import_graph).
"""

from __future__ import annotations

import pytest
from import_graph import package_graph

# Small modules every layer may use; they import only each other.
FOUNDATION = frozenset(
    {"__init__", "clock", "crypto", "ids", "json_text", "logs", "metrics", "netguard", "redaction"}
    | {"settings"}
)

_CORE = frozenset({"unified", "store", "connectors", "connections", "incoming", "webhooks"})
_WORK = _CORE | {"sync", "actions"}
_SERVICES = _WORK | {"features", "connect", "jobs", "shared_budgets"}
_BELOW_INTERFACES = _SERVICES | {"runtime", "observability"}
_CLI_PARTS = frozenset({"cli_common", "cli_connection", "cli_help", "cli_progress", "cli_webhooks"})

# unit → the units it may import besides itself and the foundation, from the bottom layer up
MAY_IMPORT: dict[str, frozenset[str]] = {
    # the unified model: pure, and not even the foundation (test_unified_imports_nothing_of_ours)
    "unified": frozenset(),
    # storage, and the connectors that speak to an LMS: neither knows the other
    "store": frozenset({"unified"}),
    "connectors": frozenset({"unified"}),
    # a connector built from an integration's stored, encrypted credentials; the LMS's own webhooks
    # (receiving endpoints, stored events, subscriptions)
    "connections": frozenset({"unified", "store", "connectors"}),
    "incoming": frozenset({"unified", "store", "connectors"}),
    # the outgoing webhook outbox and its delivery: knows the store, no connector
    "webhooks": frozenset({"unified", "store"}),
    # the work itself: syncing, and the write actions
    "sync": _CORE,
    "actions": _CORE,
    # scope and model tests, connecting an integration, the job system and its PostgreSQL budget store
    "features": _CORE | {"sync"},
    "connect": _CORE | {"sync", "features"},
    "jobs": _WORK | {"features"},
    "shared_budgets": frozenset({"connectors"}),
    # what a process runs (background services) and how it logs
    "runtime": _SERVICES,
    "observability": frozenset(),
    # the HTTP interfaces: the API and the pages it mounts (which reuse its operations)
    "api": _BELOW_INTERFACES | {"web"},
    "web": _BELOW_INTERFACES | {"api"},
    # the command line: its parts, and the root that mounts them (and starts the sandbox)
    **{part: _BELOW_INTERFACES | {"api", "cli_common"} for part in _CLI_PARTS},
    "cli": _BELOW_INTERFACES | _CLI_PARTS | {"api", "web", "sandbox"},
    # the simulated 360Learning tenant is a stranger that speaks only the vendor's protocol
    "sandbox": frozenset(),
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _edges() -> set[tuple[str, str]]:
    """(importing unit, imported unit) for every import that crosses units."""
    return {
        (_unit(importer), _unit(imported))
        for importer, imports in package_graph().items()
        for imported in imports
        if _unit(importer) != _unit(imported)
    }


def test_every_unit_has_a_layer() -> None:
    units = {_unit(module) for module in package_graph()}
    unplaced = units - FOUNDATION - set(MAY_IMPORT)
    assert not unplaced, f"place these in FOUNDATION or MAY_IMPORT (and docs/architecture.md): {unplaced}"


def test_the_foundation_imports_only_the_foundation() -> None:
    offenders = sorted(f"{a} imports {b}" for a, b in _edges() if a in FOUNDATION and b not in FOUNDATION)
    assert not offenders, offenders


@pytest.mark.parametrize("unit", sorted(MAY_IMPORT))
def test_imports_follow_the_layers(unit: str) -> None:
    allowed = MAY_IMPORT[unit] | (FOUNDATION if unit not in {"unified", "sandbox"} else frozenset())
    offenders = sorted(f"{a} imports {b}" for a, b in _edges() if a == unit and b not in allowed)
    assert not offenders, offenders


def test_unified_imports_nothing_of_ours() -> None:
    """The unified model is plain data: it imports no other project module, not even the foundation."""
    assert not {b for a, b in _edges() if a == "unified"}


def test_the_sandbox_is_a_stranger() -> None:
    """The simulated 360Learning tenant speaks only the vendor's protocol: it imports nothing of ours,
    and nothing of the product imports it but the command line that starts it."""
    assert not {b for a, b in _edges() if a == "sandbox"}
    assert {a for a, b in _edges() if b == "sandbox"} <= {"cli"}
