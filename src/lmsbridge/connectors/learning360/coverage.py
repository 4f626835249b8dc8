"""What the 360Learning connector covers (read models and their fields, write actions) and the scopes
each model and action needs."""

from __future__ import annotations

from lmsbridge.connectors.base import ScopeRequirements
from lmsbridge.unified.coverage import ACTION_FIELDS, ToolCoverage

_COMMON = ("id", "remote_id", "changed_at", "remote_deleted_at", "remote_data")

# From Kombo's 360Learning connector page (reference/kombo-360learning-connector.txt): no Skills model.
COVERAGE = ToolCoverage(
    id="360learning",
    label="360Learning",
    logo_url="https://360learning.com/favicon.ico",
    icon_url="https://360learning.com/favicon.ico",
    beta=True,
    read_models={
        "lms_users": frozenset({*_COMMON, "first_name", "last_name", "work_email", "status"}),
        "lms_course_providers": frozenset({*_COMMON, "name"}),
        "lms_courses": frozenset({*_COMMON, "provider_id", "remote_created_at"}),
        "lms_course_revisions": frozenset(
            {*_COMMON, "course_id", "title", "description", "remote_url", "status", "remote_created_at"}
        ),
        "lms_course_progressions": frozenset(
            {*_COMMON, "user_id", "course_revision_id", "status", "enrolled_at", "completed_at"}
        ),
    },
    write_actions=frozenset(ACTION_FIELDS),
)

# Upserts, enrollments and completions go through the connector's own 360Learning integration (found
# or created, then bulk imports polled as bulk operations); deactivation archives the course.
# `groups:read` is probed but gates nothing: it only finds the root group when the provider
# integration must be created and the settings name no author.
_BULK = ("integrations:read", "integrations:write", "integrations:bulk", "bulkOperations:read")
SCOPES = ScopeRequirements(
    # the stream that feeds each model
    models={
        "lms_users": ("users:read",),
        "lms_course_providers": ("integrations:read",),
        "lms_courses": ("courses:read",),
        "lms_course_revisions": ("courses:read",),
        "lms_course_progressions": ("courseStats:read",),
    },
    actions={
        "lms_upsert_courses": _BULK,
        "lms_deactivate_course": ("courses:write",),
        "lms_enroll_user": (*_BULK, "courseStats:read"),
        "lms_complete_course": (*_BULK, "courseStats:read"),
    },
)
