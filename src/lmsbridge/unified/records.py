"""Mapped records: what a connector's pure mapping functions produce and the store upserts.

References between records are remote ids; the store turns them into Kombo ids with
``lmsbridge.ids.record_id`` (deterministic), so no lookup is needed while syncing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

UserStatus = Literal["ACTIVE", "INACTIVE"]
RevisionStatus = Literal["ACTIVE", "INACTIVE"]
ProgressionStatus = Literal["ENROLLED", "IN_PROGRESS", "COMPLETED", "DROPPED"]

# Kombo's model names (also the `changed_models[].name` values of the data-changed webhook, minus "lms_").
MODELS = ("users", "course_providers", "courses", "course_revisions", "course_progressions", "skills")


@dataclass(frozen=True, slots=True)
class MappedRecord:
    remote_id: str
    remote_data: dict[str, Any] | None
    remote_created_at: datetime | None = None
    remote_deleted_at: datetime | None = None

    model: ClassVar[str]
    # keys of remote_data that change without the record changing (left out of the content hash)
    volatile_remote_keys: ClassVar[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class UserRecord(MappedRecord):
    first_name: str | None = None
    last_name: str | None = None
    work_email: str | None = None
    status: UserStatus | None = None

    model: ClassVar[str] = "users"
    volatile_remote_keys: ClassVar[frozenset[str]] = frozenset({"lastLoginDate"})


@dataclass(frozen=True, slots=True)
class CourseProviderRecord(MappedRecord):
    name: str | None = None

    model: ClassVar[str] = "course_providers"


@dataclass(frozen=True, slots=True)
class CourseRecord(MappedRecord):
    provider_remote_id: str | None = None
    origin_id: str | None = None

    model: ClassVar[str] = "courses"


@dataclass(frozen=True, slots=True)
class CourseRevisionRecord(MappedRecord):
    course_remote_id: str = ""
    title: str | None = None
    description: str | None = None
    remote_url: str | None = None
    status: RevisionStatus | None = None

    model: ClassVar[str] = "course_revisions"


@dataclass(frozen=True, slots=True)
class CourseProgressionRecord(MappedRecord):
    user_remote_id: str = ""
    course_revision_remote_id: str = ""
    course_remote_id: str = ""
    status: ProgressionStatus | None = None
    enrolled_at: datetime | None = None
    completed_at: datetime | None = None

    model: ClassVar[str] = "course_progressions"


@dataclass(frozen=True, slots=True)
class SkillRecord(MappedRecord):
    name: str | None = None

    model: ClassVar[str] = "skills"
