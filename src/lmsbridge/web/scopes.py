"""A scope test's result as people read it: which models and actions the credential allows, and which
scopes it misses (the Connect page before confirming, and the dashboard)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lmsbridge.connectors.registry import scope_requirements
from lmsbridge.features.availability import unavailable
from lmsbridge.unified.coverage import ACTION_FIELDS, MODEL_LABELS


@dataclass(frozen=True)
class Capability:
    label: str
    allowed: bool
    missing: list[str]


@dataclass(frozen=True)
class ScopeView:
    models: list[Capability]
    actions: list[Capability]
    missing: list[str]
    unknown: list[str]
    scopes: list[tuple[str, str, str]]  # (scope, status, why)


def scope_view(tool: str, scope_test: Mapping[str, Any] | None) -> ScopeView:
    blocked = unavailable(tool, scope_test)
    models = [
        Capability(MODEL_LABELS.get(model, model), model not in blocked, blocked.get(model, []))
        for model in scope_requirements(tool).models
    ]
    actions = [
        Capability(
            ACTION_FIELDS[action][0] if action in ACTION_FIELDS else action,
            action not in blocked,
            blocked.get(action, []),
        )
        for action in scope_requirements(tool).actions
    ]
    checks = (scope_test or {}).get("scopes") or {}
    scopes = sorted(
        (str(name), str(check.get("status", "unknown")), str(check.get("why", "")))
        for name, check in checks.items()
        if isinstance(check, Mapping)
    )
    return ScopeView(
        models=models,
        actions=actions,
        missing=[name for name, status, _ in scopes if status == "missing"],
        unknown=[name for name, status, _ in scopes if status == "unknown"],
        scopes=scopes,
    )
