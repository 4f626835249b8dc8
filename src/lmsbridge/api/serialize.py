"""Stored rows → Kombo wire models (pure). Fields the store has no column for are null or empty."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

import orjson
from pydantic import BaseModel

from lmsbridge.connectors.registry import tool_coverage
from lmsbridge.features.availability import integration_models_and_actions
from lmsbridge.store.queries import CourseItem
from lmsbridge.store.schema import CourseRevision, Integration, Skill, User
from lmsbridge.unified import wire

ItemT = TypeVar("ItemT")

# Kombo's pattern for end_user.creator_email; a stored value that does not fit is served as null.
_EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)([\w'+-.]*)[\w+-]@([\da-z][\da-z-]*\.)+[a-z]{2,}$")


def user(row: User) -> wire.User:
    return wire.User(
        id=row.id,
        remote_id=row.remote_id,
        first_name=row.first_name,
        last_name=row.last_name,
        work_email=row.work_email,
        status=cast(Any, row.status),
        remote_created_at=row.remote_created_at,
        remote_deleted_at=row.remote_deleted_at,
        changed_at=row.changed_at,
        remote_data=row.remote_data,
        custom_fields=None,
        integration_fields=[],
    )


def skill(row: Skill) -> wire.Skill:
    return wire.Skill(
        id=row.id,
        remote_id=row.remote_id,
        name=row.name,
        remote_created_at=row.remote_created_at,
        remote_deleted_at=row.remote_deleted_at,
        changed_at=row.changed_at,
        remote_data=row.remote_data,
        custom_fields=None,
        integration_fields=[],
    )


def revision(row: CourseRevision) -> wire.CourseRevision:
    return wire.CourseRevision(
        id=row.id,
        remote_id=row.remote_id,
        course_id=row.course_id,
        title=row.title,
        description=row.description,
        remote_url=row.remote_url,
        status=cast(Any, row.status),
        remote_created_at=row.remote_created_at,
        remote_deleted_at=row.remote_deleted_at,
        changed_at=row.changed_at,
        remote_data=row.remote_data,
        custom_fields=None,
        integration_fields=[],
        # the store keeps no revision↔skill join yet (no shipped connector reads skills)
        skill_assignments=[],
    )


def course(item: CourseItem) -> wire.Course:
    row = item.course
    provider = item.provider
    return wire.Course(
        id=row.id,
        remote_id=row.remote_id,
        provider_id=row.provider_id,
        origin_id=row.origin_id,
        remote_created_at=row.remote_created_at,
        remote_deleted_at=row.remote_deleted_at,
        changed_at=row.changed_at,
        remote_data=row.remote_data,
        custom_fields=None,
        integration_fields=[],
        provider=(
            wire.CourseProvider(id=provider.id, remote_id=provider.remote_id, name=provider.name)
            if provider is not None
            else None
        ),
        revisions=[revision(r) for r in item.revisions],
    )


def stored_json(text: str) -> orjson.Fragment:
    """JSON text the database rendered (``queries.list_course_progressions``), embedded in a response as
    is."""
    return orjson.Fragment(text)


def as_json(to_wire: Callable[[ItemT], BaseModel]) -> Callable[[ItemT], orjson.Fragment]:
    """``to_wire`` whose model is serialised by pydantic, for embedding in a plain-data response."""

    def render(item: ItemT) -> orjson.Fragment:
        return orjson.Fragment(to_wire(item).model_dump_json())

    return render


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def integration_details(row: Integration) -> wire.IntegrationDetails:
    """Kombo's integration details; models and actions whose scope the last scope test found missing
    are unavailable."""
    coverage = tool_coverage(row.tool)
    read_models, write_actions = integration_models_and_actions(row)
    end_user = row.end_user or {}
    email = _text(end_user.get("creator_email"))
    settings = row.settings or {}
    # Kombo: INACTIVE = manually disabled; otherwise the stored state (ACTIVE, or INVALID credentials)
    status = "INACTIVE" if not row.enabled else ("ACTIVE" if row.status == "INACTIVE" else row.status)
    return wire.IntegrationDetails(
        id=row.id,
        tool=wire.Tool(
            id=coverage.id,
            label=coverage.label,
            internal_label=None,
            logo_url=coverage.logo_url,
            icon_url=coverage.icon_url,
        ),
        category="LMS",
        status=cast(Any, status),
        setup_status=cast(Any, row.setup_status),
        end_user=wire.EndUser(
            organization_name=_text(end_user.get("organization_name")) or row.id,
            creator_email=email if email and _EMAIL.match(email) else None,
            origin_id=_text(end_user.get("origin_id")),
        ),
        scope_config=wire.ScopeConfig(
            id=_text(settings.get("scope_config_id")) or "default",
            name=_text(settings.get("scope_config_name")),
        ),
        data_expired_at=None,
        created_at=row.created_at,
        beta=coverage.beta,
        read_models=read_models,
        write_actions=write_actions,
    )
