"""What each connector covers: read models (and their fields), write actions, filterable fields.

Each connector declares its ``ToolCoverage`` (``Connector.coverage``; by tool name:
``connectors.registry.tool_coverage``); the functions here answer "is lms_skills available?" from it for
the read API, ``GET /integrations/{id}`` and the docs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lmsbridge.unified.wire import ReadModel, ReadModelField, WriteAction, WriteActionField

# Every field of each Kombo read model (wire names), in the spec's order.
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "lms_users": (
        "id", "remote_id", "first_name", "last_name", "work_email", "status", "remote_created_at",
        "remote_deleted_at", "changed_at", "remote_data", "custom_fields", "integration_fields",
    ),
    "lms_course_providers": (
        "id", "remote_id", "name", "remote_created_at", "remote_deleted_at", "changed_at", "remote_data",
    ),
    "lms_courses": (
        "id", "remote_id", "provider_id", "origin_id", "remote_created_at", "remote_deleted_at",
        "changed_at", "remote_data", "custom_fields", "integration_fields",
    ),
    "lms_course_revisions": (
        "id", "remote_id", "course_id", "title", "description", "remote_url", "status",
        "remote_created_at", "remote_deleted_at", "changed_at", "remote_data", "custom_fields",
        "integration_fields",
    ),
    "lms_course_progressions": (
        "id", "remote_id", "user_id", "course_revision_id", "status", "enrolled_at", "completed_at",
        "changed_at", "remote_deleted_at", "remote_data",
    ),
    "lms_skills": (
        "id", "remote_id", "name", "remote_created_at", "remote_deleted_at", "changed_at", "remote_data",
        "custom_fields", "integration_fields",
    ),
}  # fmt: skip

MODEL_LABELS: dict[str, str] = {
    "lms_users": "Users",
    "lms_course_providers": "Course Providers",
    "lms_courses": "Courses",
    "lms_course_revisions": "Course Revisions",
    "lms_course_progressions": "Course Progressions",
    "lms_skills": "Skills",
}

# Action ids are not published by Kombo for LMS; these follow its `<category>_<verb>_<object>` pattern.
ACTION_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "lms_upsert_courses": (
        "Upsert courses",
        (
            "items.origin_id", "items.course.type", "items.course.title", "items.course.description",
            "items.course.course_url", "items.course.thumbnail_url", "items.course.duration",
            "items.course.languages",
        ),
    ),
    "lms_deactivate_course": ("Deactivate course", ("course_id",)),
    "lms_enroll_user": ("Enroll user in course", ("user_id", "course_revision_id")),
    "lms_complete_course": ("Complete course", ("course_progression_id", "completed_at", "score")),
}  # fmt: skip

# The record field a list filter reads; a filter on a field the connector does not fill is "unsupported".
FILTER_FIELDS: dict[str, str] = {
    "ids": "id",
    "remote_ids": "remote_id",
    "updated_after": "changed_at",
    "work_emails": "work_email",
    "user_ids": "user_id",
    "course_ids": "course_revision_id",
}


@dataclass(frozen=True)
class ToolCoverage:
    """A connector's coverage: per read model the fields it fills; the write actions it implements."""

    id: str
    label: str
    logo_url: str
    icon_url: str
    beta: bool
    read_models: Mapping[str, frozenset[str]]
    write_actions: frozenset[str] = field(default_factory=frozenset)


def unknown_tool_coverage(tool: str) -> ToolCoverage:
    """The coverage of a tool no connector implements: nothing."""
    return ToolCoverage(
        id=tool, label=tool, logo_url="about:blank", icon_url="about:blank", beta=True, read_models={}
    )


def model_available(coverage: ToolCoverage, model: str) -> bool:
    return model in coverage.read_models


def unsupported_filters(coverage: ToolCoverage, model: str, filters: Iterable[str]) -> set[str]:
    """The given filter names that target a field the tool does not fill for ``model``."""
    covered = coverage.read_models.get(model, frozenset())
    return {name for name in filters if FILTER_FIELDS.get(name, name) not in covered}


def read_models_and_actions(
    coverage: ToolCoverage, scope_test: Mapping[str, Any] | None = None
) -> tuple[list[ReadModel], list[WriteAction]]:
    """``read_models`` and ``write_actions`` of ``GET /integrations/{id}``.

    The tool's coverage, narrowed by ``scope_test``'s ``unavailable`` list (the scope probes'
    verdict, ``features.availability``): a model or action whose scope is missing becomes unavailable.
    """
    missing = set((scope_test or {}).get("unavailable", ()))
    models = []
    for model_id, all_fields in MODEL_FIELDS.items():
        covered = coverage.read_models.get(model_id)
        available = covered is not None and model_id not in missing
        models.append(
            ReadModel(
                id=model_id,
                label=MODEL_LABELS[model_id],
                is_available=available,
                coverage_status="SUPPORTED" if covered is not None else "UNSUPPORTED",
                scope_config_setting="ENABLED",
                opted_out_by_customer=False,
                fields=[
                    ReadModelField(
                        id=name,
                        is_available=available and name in (covered or ()),
                        coverage_status="SUPPORTED" if name in (covered or ()) else "UNSUPPORTED",
                        scope_config_setting="ENABLED",
                        opted_out_by_customer=False,
                    )
                    for name in all_fields
                ],
            )
        )
    actions = []
    for action_id, (label, action_fields) in ACTION_FIELDS.items():
        supported = action_id in coverage.write_actions
        available = supported and action_id not in missing
        actions.append(
            WriteAction(
                id=action_id,
                label=label,
                is_available=available,
                coverage_status="SUPPORTED" if supported else "UNSUPPORTED",
                scope_config_setting="ENABLED",
                opted_out_by_customer=False,
                fields=[
                    WriteActionField(
                        id=name,
                        is_available=available,
                        coverage_status="SUPPORTED" if supported else "UNSUPPORTED",
                    )
                    for name in action_fields
                ],
            )
        )
    return models, actions
