"""Kombo's wire shapes (LMS API v1) as pydantic models: what the read API serialises and documents.

Every key the reference spec lists as required is a field without a default, so it is always present
(null when unknown). Timestamps serialise as millisecond-precision UTC strings ending in ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, StrictBool, WithJsonSchema


def format_timestamp(value: datetime) -> str:
    """``2022-08-07T14:01:29.196Z``: Kombo's format (milliseconds, UTC, ``Z``)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2022-08-07T14:01:29.196Z"}),
]

UserStatus = Literal["ACTIVE", "INACTIVE"]
RevisionStatus = Literal["ACTIVE", "INACTIVE"]
ProgressionStatus = Literal["ENROLLED", "IN_PROGRESS", "COMPLETED", "DROPPED"]
CoverageStatus = Literal["SUPPORTED", "UNSUPPORTED", "NOT_IMPLEMENTED", "UNKNOWN"]
ScopeConfigSetting = Literal["ENABLED", "DISABLED", "OPTIONAL"]


class WireModel(BaseModel):
    # defaults (e.g. status="success") are still always serialised: required in the documented schema
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_serialization_defaults_required=True)


class IntegrationField(WireModel):
    id: str
    key: str
    type: Literal["DEFAULT", "CUSTOM"]
    value: Any = None
    label: str | None


class User(WireModel):
    id: str
    remote_id: str
    first_name: str | None
    last_name: str | None
    work_email: str | None
    status: UserStatus | None
    remote_created_at: Timestamp | None
    remote_deleted_at: Timestamp | None
    changed_at: Timestamp
    remote_data: dict[str, Any] | None
    custom_fields: dict[str, Any] | None
    integration_fields: list[IntegrationField]


class CourseProvider(WireModel):
    id: str
    remote_id: str
    name: str | None


class Skill(WireModel):
    id: str
    remote_id: str | None
    name: str | None
    remote_created_at: Timestamp | None
    remote_deleted_at: Timestamp | None
    changed_at: Timestamp
    remote_data: dict[str, Any] | None
    custom_fields: dict[str, Any] | None
    integration_fields: list[IntegrationField]


class SkillRef(WireModel):
    id: str
    remote_id: str | None
    name: str | None


class SkillAssignment(WireModel):
    skill: SkillRef


class CourseRevision(WireModel):
    id: str
    remote_id: str
    course_id: str | None
    title: str | None
    description: str | None
    remote_url: str | None
    status: RevisionStatus | None
    remote_created_at: Timestamp | None
    remote_deleted_at: Timestamp | None
    changed_at: Timestamp
    remote_data: dict[str, Any] | None
    custom_fields: dict[str, Any] | None
    integration_fields: list[IntegrationField]
    skill_assignments: list[SkillAssignment]


class Course(WireModel):
    id: str
    remote_id: str
    provider_id: str | None
    origin_id: str | None
    remote_created_at: Timestamp | None
    remote_deleted_at: Timestamp | None
    changed_at: Timestamp
    remote_data: dict[str, Any] | None
    custom_fields: dict[str, Any] | None
    integration_fields: list[IntegrationField]
    provider: CourseProvider | None
    revisions: list[CourseRevision]


class ProgressionUser(WireModel):
    id: str
    remote_id: str
    first_name: str | None
    last_name: str | None
    work_email: str | None


class CourseRef(WireModel):
    id: str
    remote_id: str


class ProgressionRevision(WireModel):
    id: str
    remote_id: str
    title: str | None
    course: CourseRef | None


class CourseProgression(WireModel):
    id: str
    remote_id: str
    user_id: str
    course_revision_id: str
    status: ProgressionStatus | None
    enrolled_at: Timestamp | None
    completed_at: Timestamp | None
    changed_at: Timestamp
    remote_deleted_at: Timestamp | None
    remote_data: dict[str, Any] | None
    user: ProgressionUser
    course_revision: ProgressionRevision


ItemT = TypeVar("ItemT", bound=WireModel)
DataT = TypeVar("DataT")


class Page(WireModel, Generic[ItemT]):
    next: str | None
    results: list[ItemT]


class Success(WireModel, Generic[DataT]):
    status: Literal["success"] = "success"
    data: DataT


class ErrorDetail(WireModel):
    code: str | None
    title: str | None
    message: str
    log_url: str | None


class ErrorResponse(WireModel):
    status: Literal["error"] = "error"
    error: ErrorDetail


class CheckApiKey(WireModel):
    environment_id: str
    # deprecated by Kombo (renamed to environment_id) but still required by its spec: same value
    customer_id: str


class Empty(WireModel):
    pass


class Tool(WireModel):
    id: str
    label: str
    internal_label: str | None
    logo_url: str
    icon_url: str


class EndUser(WireModel):
    organization_name: str
    creator_email: str | None
    origin_id: str | None


class ScopeConfig(WireModel):
    id: str
    name: str | None


class ReadModelField(WireModel):
    id: str
    is_available: bool
    coverage_status: CoverageStatus
    scope_config_setting: ScopeConfigSetting
    opted_out_by_customer: bool


class ReadModel(WireModel):
    id: str
    label: str
    is_available: bool
    coverage_status: CoverageStatus
    scope_config_setting: ScopeConfigSetting
    opted_out_by_customer: bool
    fields: list[ReadModelField]


class WriteActionField(WireModel):
    id: str
    is_available: bool
    coverage_status: CoverageStatus


class WriteAction(WireModel):
    id: str
    label: str
    is_available: bool
    coverage_status: CoverageStatus
    scope_config_setting: ScopeConfigSetting
    opted_out_by_customer: bool
    fields: list[WriteActionField]


class IntegrationDetails(WireModel):
    id: str
    tool: Tool
    category: Literal["HRIS", "ATS", "ASSESSMENT", "LMS"]
    status: Literal["ACTIVE", "INVALID", "INACTIVE"]
    setup_status: Literal["INCOMPLETE", "FINAL_SYNC_PENDING", "COMPLETED"]
    end_user: EndUser
    scope_config: ScopeConfig
    data_expired_at: Timestamp | None
    created_at: Timestamp
    beta: bool
    read_models: list[ReadModel]
    write_actions: list[WriteAction]


class SetEnabledBody(BaseModel):
    """Body of ``PUT /integrations/{id}/enabled``: unknown keys ignored, ``value`` a JSON boolean."""

    value: StrictBool


# Response bodies, named as the schemas of Kombo's spec.
class GetLmsUsersPositiveResponse(Success[Page[User]]):
    pass


class GetLmsCoursesPositiveResponse(Success[Page[Course]]):
    pass


class GetLmsCourseProgressionsPositiveResponse(Success[Page[CourseProgression]]):
    pass


class GetLmsSkillsPositiveResponse(Success[Page[Skill]]):
    pass


class GetCheckApiKeyPositiveResponse(Success[CheckApiKey]):
    pass


class EmptyPositiveResponse(Success[Empty]):
    pass


class ForceSyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["FULL", "DELTA"] = "FULL"


class ForceSync(WireModel):
    already_queued: bool
    sync_id: str
    type: Literal["FULL", "DELTA"]


class PostForceSyncPositiveResponse(Success[ForceSync]):
    pass
