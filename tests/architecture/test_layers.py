"""The dependency rules of DESIGN.md §3, checked on the source: dependencies point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lmsbridge"

# package → project packages it must never import
FORBIDDEN = {
    "unified": {"store", "connectors", "sync", "jobs", "webhooks", "api", "actions", "features", "sandbox"},
    "store": {"connectors", "sync", "jobs", "webhooks", "api", "actions", "features", "sandbox"},
    "connectors": {"store", "sync", "jobs", "webhooks", "api", "actions", "features", "sandbox"},
    "sync": {"api", "jobs", "actions", "sandbox"},
    "webhooks": {"api", "sync", "jobs", "actions", "features", "connectors", "sandbox"},
    "actions": {"api", "jobs", "sandbox"},
    "features": {"api", "jobs", "actions", "sandbox"},
}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            parts = name.split(".")
            if parts[0] == "lmsbridge" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package: str) -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)} imports lmsbridge.{name}"
        for path in (PACKAGE / package).rglob("*.py")
        for name in _imported_packages(path) & FORBIDDEN[package]
    }
    assert not offenders, sorted(offenders)


def test_the_sandbox_is_a_stranger() -> None:
    """The simulated 360Learning tenant speaks only the vendor's protocol: it imports nothing of ours."""
    offenders = {
        f"{path.relative_to(PACKAGE)} imports lmsbridge.{name}"
        for path in (PACKAGE / "sandbox").rglob("*.py")
        for name in _imported_packages(path) - {"sandbox"}
    }
    assert not offenders, sorted(offenders)
