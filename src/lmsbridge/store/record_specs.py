"""How each unified model's mapped record becomes a row: table, content columns, reference ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lmsbridge.ids import record_id
from lmsbridge.store.hashing import content_hash
from lmsbridge.unified.records import (
    CourseProgressionRecord,
    CourseProviderRecord,
    CourseRecord,
    CourseRevisionRecord,
    MappedRecord,
    SkillRecord,
    UserRecord,
)

if TYPE_CHECKING:
    from sqlalchemy import Table

# Part of every record's content besides the model's own columns (a deletion is a content change).
COMMON_CONTENT = ("remote_created_at", "remote_deleted_at")


@dataclass(frozen=True, slots=True)
class RecordSpec:
    model: str
    record_type: type[MappedRecord]
    # columns written from the record and covered by the content hash, in hashing order
    columns: tuple[str, ...]
    # (integration_id, record) -> values of ``columns`` (references already turned into Kombo ids)
    values: Callable[[str, Any], tuple[Any, ...]]

    @property
    def table(self) -> Table:
        # imported here: page preparation (store/rows.py) uses the specs without SQLAlchemy
        from lmsbridge.store.schema import RECORD_TABLES

        return RECORD_TABLES[self.model].__table__  # type: ignore[attr-defined, no-any-return]

    @property
    def volatile_keys(self) -> frozenset[str]:
        return self.record_type.volatile_remote_keys

    @property
    def content_columns(self) -> tuple[str, ...]:
        return (*self.columns, *COMMON_CONTENT)

    def hash_row(self, row: Mapping[str, Any]) -> str:
        """The content hash of a stored row (equal to the hash of the record it was written from)."""
        return content_hash((row[c] for c in self.content_columns), row["remote_data"], self.volatile_keys)


# bounded: a large tenant's users would otherwise all stay in memory, and a miss only costs hashing one
# id again
REF_ID_CACHE_SIZE = 8_192


@lru_cache(maxsize=REF_ID_CACHE_SIZE)
def ref_id(integration_id: str, model: str, remote_id: str) -> str:
    """``record_id`` for references: the same user or course is referenced by many records in a row."""
    return record_id(integration_id, model, remote_id)


def _ref(integration_id: str, model: str, remote_id: str | None) -> str | None:
    return ref_id(integration_id, model, remote_id) if remote_id else None


def _user(_: str, r: UserRecord) -> tuple[Any, ...]:
    email = r.work_email
    return (r.first_name, r.last_name, email, email.lower() if email else None, r.status)


def _provider(_: str, r: CourseProviderRecord) -> tuple[Any, ...]:
    return (r.name,)


def _course(integration_id: str, r: CourseRecord) -> tuple[Any, ...]:
    return (_ref(integration_id, "course_providers", r.provider_remote_id), r.origin_id)


def _revision(integration_id: str, r: CourseRevisionRecord) -> tuple[Any, ...]:
    return (
        ref_id(integration_id, "courses", r.course_remote_id),
        r.title,
        r.description,
        r.remote_url,
        r.status,
    )


def _progression(integration_id: str, r: CourseProgressionRecord) -> tuple[Any, ...]:
    return (
        ref_id(integration_id, "users", r.user_remote_id),
        ref_id(integration_id, "course_revisions", r.course_revision_remote_id),
        ref_id(integration_id, "courses", r.course_remote_id),
        r.status,
        r.enrolled_at,
        r.completed_at,
    )


def _skill(_: str, r: SkillRecord) -> tuple[Any, ...]:
    return (r.name,)


SPECS: dict[str, RecordSpec] = {
    spec.model: spec
    for spec in (
        RecordSpec(
            "users",
            UserRecord,
            ("first_name", "last_name", "work_email", "work_email_lower", "status"),
            _user,
        ),
        RecordSpec("course_providers", CourseProviderRecord, ("name",), _provider),
        RecordSpec("courses", CourseRecord, ("provider_id", "origin_id"), _course),
        RecordSpec(
            "course_revisions",
            CourseRevisionRecord,
            ("course_id", "title", "description", "remote_url", "status"),
            _revision,
        ),
        RecordSpec(
            "course_progressions",
            CourseProgressionRecord,
            ("user_id", "course_revision_id", "course_id", "status", "enrolled_at", "completed_at"),
            _progression,
        ),
        RecordSpec("skills", SkillRecord, ("name",), _skill),
    )
}


def spec_for(model: str) -> RecordSpec:
    try:
        return SPECS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(SPECS)}") from None
