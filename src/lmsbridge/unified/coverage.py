"""What each connector covers: read models (and their fields), write actions, filterable fields.

One table, ``TOOL_COVERAGE``, answers "is lms_skills available for 360learning?" for the read API,
``GET /integrations/{id}`` and the docs. Tests add tools to it (``monkeypatch.setitem``) to reach paths
no shipped connector has, e.g. a successful ``GET /lms/skills``.
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


def _fields(*names: str) -> frozenset[str]:
    return frozenset(names)


_COMMON = ("id", "remote_id", "changed_at", "remote_deleted_at", "remote_data")

# From Kombo's 360Learning connector page (reference/kombo-360learning-connector.txt): no Skills model.
LEARNING360 = ToolCoverage(
    id="360learning",
    label="360Learning",
    logo_url="https://360learning.com/favicon.ico",
    icon_url="https://360learning.com/favicon.ico",
    beta=True,
    read_models={
        "lms_users": _fields(*_COMMON, "first_name", "last_name", "work_email", "status"),
        "lms_course_providers": _fields(*_COMMON, "name"),
        "lms_courses": _fields(*_COMMON, "provider_id", "remote_created_at"),
        "lms_course_revisions": _fields(
            *_COMMON, "course_id", "title", "description", "remote_url", "status", "remote_created_at"
        ),
        "lms_course_progressions": _fields(
            *_COMMON, "user_id", "course_revision_id", "status", "enrolled_at", "completed_at"
        ),
    },
    write_actions=frozenset(ACTION_FIELDS),
)

TOOL_COVERAGE: dict[str, ToolCoverage] = {LEARNING360.id: LEARNING360}


def tool_coverage(tool: str) -> ToolCoverage:
    """The coverage of ``tool``; an unknown tool covers nothing (every model answers MODEL_NOT_AVAILABLE)."""
    known = TOOL_COVERAGE.get(tool)
    if known is not None:
        return known
    return ToolCoverage(
        id=tool, label=tool, logo_url="about:blank", icon_url="about:blank", beta=True, read_models={}
    )


def model_available(tool: str, model: str) -> bool:
    return model in tool_coverage(tool).read_models


def unsupported_filters(tool: str, model: str, filters: Iterable[str]) -> set[str]:
    """The given filter names that target a field ``tool`` does not fill for ``model``."""
    covered = tool_coverage(tool).read_models.get(model, frozenset())
    return {name for name in filters if FILTER_FIELDS.get(name, name) not in covered}


def read_models_and_actions(
    tool: str, scope_test: Mapping[str, Any] | None = None
) -> tuple[list[ReadModel], list[WriteAction]]:
    """``read_models`` and ``write_actions`` of ``GET /integrations/{id}``.

    The static coverage table, narrowed by ``scope_test``'s ``unavailable`` list (the scope probes'
    verdict, ``features.availability``): a model or action whose scope is missing becomes unavailable.
    """
    coverage = tool_coverage(tool)
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
