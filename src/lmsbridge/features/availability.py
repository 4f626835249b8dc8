"""Which read models and write actions an integration can use: the connector's coverage, narrowed by
the scopes its stored scope test found missing. Feeds ``GET /integrations/{id}`` and the guards that
answer INTEGRATION.MODEL_NOT_AVAILABLE / INTEGRATION.PERMISSION_MISSING naming the scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmsbridge.connectors.registry import scope_requirements, tool_coverage
from lmsbridge.store.schema import Integration
from lmsbridge.unified.coverage import ACTION_FIELDS, MODEL_LABELS, model_available, read_models_and_actions
from lmsbridge.unified.errors import KomboError as ApiError  # raised here, rendered by the API
from lmsbridge.unified.wire import ReadModel, WriteAction

# Our read-API model names (records.MODELS) ↔ Kombo's model ids.
KOMBO_MODEL_IDS = {
    "users": "lms_users",
    "course_providers": "lms_course_providers",
    "courses": "lms_courses",
    "course_revisions": "lms_course_revisions",
    "course_progressions": "lms_course_progressions",
    "skills": "lms_skills",
}


def missing_scopes(scope_test: Mapping[str, Any] | None) -> set[str]:
    """Scopes the stored scope test found missing (``unknown`` is not missing: it cannot tell)."""
    scopes = (scope_test or {}).get("scopes") or {}
    return {
        name
        for name, check in scopes.items()
        if isinstance(check, Mapping) and check.get("status") == "missing"
    }


def _kombo_id(model: str) -> str:
    return KOMBO_MODEL_IDS.get(model, model)


def model_missing_scopes(tool: str, model: str, scope_test: Mapping[str, Any] | None) -> list[str]:
    """The missing scopes that make ``model`` (Kombo id or our name) unreadable; empty = readable."""
    needed = scope_requirements(tool).models.get(_kombo_id(model), ())
    missing = missing_scopes(scope_test)
    return [scope for scope in needed if scope in missing]


def action_missing_scopes(tool: str, action: str, scope_test: Mapping[str, Any] | None) -> list[str]:
    needed = scope_requirements(tool).actions.get(action, ())
    missing = missing_scopes(scope_test)
    return [scope for scope in needed if scope in missing]


def unavailable(tool: str, scope_test: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Model and action ids made unavailable by missing scopes → those scopes."""
    out: dict[str, list[str]] = {}
    for model in scope_requirements(tool).models:
        scopes = model_missing_scopes(tool, model, scope_test)
        if scopes:
            out[model] = scopes
    for action in scope_requirements(tool).actions:
        scopes = action_missing_scopes(tool, action, scope_test)
        if scopes:
            out[action] = scopes
    return out


def integration_models_and_actions(integration: Integration) -> tuple[list[ReadModel], list[WriteAction]]:
    """``read_models`` and ``write_actions`` of ``GET /integrations/{id}`` (Kombo's shapes)."""
    blocked = unavailable(integration.tool, integration.scope_test)
    return read_models_and_actions(tool_coverage(integration.tool), {"unavailable": sorted(blocked)})


def _names(scopes: list[str]) -> str:
    return ", ".join(f"`{scope}`" for scope in scopes)


def require_model(integration: Integration, model: str) -> None:
    """Raise INTEGRATION.MODEL_NOT_AVAILABLE when the model is not covered or its scope is missing."""
    kombo_id = _kombo_id(model)
    if not model_available(tool_coverage(integration.tool), kombo_id):
        raise ApiError(
            "INTEGRATION.MODEL_NOT_AVAILABLE",
            f'The "{kombo_id}" model is not available for {integration.tool} integrations.',
        )
    scopes = model_missing_scopes(integration.tool, kombo_id, integration.scope_test)
    if scopes:
        label = MODEL_LABELS.get(kombo_id, kombo_id)
        raise ApiError(
            "INTEGRATION.MODEL_NOT_AVAILABLE",
            f'The "{kombo_id}" model ({label}) is not available for this integration: its credential lacks '
            f"the {tool_coverage(integration.tool).label} scope {_names(scopes)} (last scope test). "
            "Grant it, then run a scope test.",
        )


def require_action(integration: Integration, action: str) -> None:
    """Raise INTEGRATION.PERMISSION_MISSING when the action needs a scope the scope test found missing
    (INTEGRATION.ACTION_NOT_AVAILABLE when the connector does not implement it at all)."""
    if action not in ACTION_FIELDS or action not in scope_requirements(integration.tool).actions:
        raise ApiError(
            "INTEGRATION.ACTION_NOT_AVAILABLE",
            f'The "{action}" action is not available for {integration.tool} integrations.',
        )
    scopes = action_missing_scopes(integration.tool, action, integration.scope_test)
    if scopes:
        lms = tool_coverage(integration.tool).label
        raise ApiError(
            "INTEGRATION.PERMISSION_MISSING",
            f'The "{action}" action needs the {lms} scope {_names(scopes)}, '
            "which the integration's credential lacks (last scope test). Grant it, then run a scope test.",
        )
