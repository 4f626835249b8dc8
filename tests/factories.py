"""Test seeding helpers: integrations and unified records written through the store's own upsert path.

Import as `from factories import ...` (pytest puts tests/ on sys.path via the root conftest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine

from lmsbridge.crypto import SecretBox
from lmsbridge.ids import random_id, record_id
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.upsert import UpsertCounts, upsert_records
from lmsbridge.unified.records import (
    CourseProgressionRecord,
    CourseProviderRecord,
    CourseRecord,
    CourseRevisionRecord,
    MappedRecord,
    SkillRecord,
    UserRecord,
)

BASE_TIME = datetime(2024, 1, 15, 9, 30, 0, 123000, tzinfo=UTC)
TEST_CLIENT_SECRET = "test-client-secret-do-not-leak"


def new_box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


def make_integration(
    engine: Engine,
    box: SecretBox | None = None,
    *,
    base_url: str = "https://app.360learning.test",
    client_id: str = "test-client",
    client_secret: str = TEST_CLIENT_SECRET,
    now: datetime = BASE_TIME,
    **kwargs: Any,
) -> str:
    """Create an integration and return its id (credentials encrypted with ``box``)."""
    with session_scope(engine) as session:
        integration = create_integration(
            session,
            box or new_box(),
            base_url=base_url,
            credentials={"client_id": client_id, "client_secret": client_secret},
            now=now,
            **{"tool": "360learning", **kwargs},
        )
        return integration.id


def user(n: int, **overrides: Any) -> UserRecord:
    remote_id = overrides.pop("remote_id", f"u{n:05d}")
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_data": {
            "_id": remote_id,
            "firstName": f"First{n}",
            "lastName": f"Last{n}",
            "mail": f"User{n}@Example.com",
        },
        "remote_created_at": BASE_TIME - timedelta(days=n),
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "work_email": f"User{n}@Example.com",
        "status": "ACTIVE",
    }
    values.update(overrides)
    return UserRecord(**values)


def provider(n: int, **overrides: Any) -> CourseProviderRecord:
    remote_id = overrides.pop("remote_id", f"p{n:05d}")
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_data": {"name": f"Provider {n}"},
        "name": f"Provider {n}",
    }
    values.update(overrides)
    return CourseProviderRecord(**values)


def course(n: int, **overrides: Any) -> CourseRecord:
    remote_id = overrides.pop("remote_id", f"c{n:05d}")
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_data": {"_id": remote_id, "name": f"Course {n}"},
        "remote_created_at": BASE_TIME - timedelta(days=n),
        "provider_remote_id": None,
        "origin_id": None,
    }
    values.update(overrides)
    return CourseRecord(**values)


def revision(n: int, course_remote_id: str | None = None, **overrides: Any) -> CourseRevisionRecord:
    course_remote_id = course_remote_id or f"c{n:05d}"
    remote_id = overrides.pop("remote_id", f"{course_remote_id}:r1")
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_data": {"_id": course_remote_id, "name": f"Course {n}"},
        "course_remote_id": course_remote_id,
        "title": f"Course {n}",
        "description": f"About course {n}",
        "remote_url": f"https://app.360learning.test/course/{course_remote_id}",
        "status": "ACTIVE",
    }
    values.update(overrides)
    return CourseRevisionRecord(**values)


def progression(user_remote_id: str, course_remote_id: str, **overrides: Any) -> CourseProgressionRecord:
    remote_id = overrides.pop("remote_id", f"{user_remote_id}:{course_remote_id}")
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_data": {"userId": user_remote_id, "courseId": course_remote_id, "attempts": []},
        "user_remote_id": user_remote_id,
        "course_remote_id": course_remote_id,
        "course_revision_remote_id": overrides.pop("course_revision_remote_id", f"{course_remote_id}:r1"),
        "status": "ENROLLED",
        "enrolled_at": BASE_TIME,
        "completed_at": None,
    }
    values.update(overrides)
    return CourseProgressionRecord(**values)


def skill(n: int, **overrides: Any) -> SkillRecord:
    remote_id = overrides.pop("remote_id", f"s{n:05d}")
    values: dict[str, Any] = {
        "remote_id": remote_id,
        "remote_data": {"name": f"Skill {n}"},
        "name": f"Skill {n}",
    }
    values.update(overrides)
    return SkillRecord(**values)


def upsert(
    engine: Engine,
    integration_id: str,
    records: Sequence[MappedRecord],
    *,
    sync_run_id: str | None = None,
    now: datetime = BASE_TIME,
) -> UpsertCounts:
    """Upsert records (any mix of models, grouped per model in order) in one transaction."""
    total = UpsertCounts()
    with session_scope(engine) as session:
        by_model: dict[str, list[MappedRecord]] = {}
        for record in records:
            by_model.setdefault(record.model, []).append(record)
        for page in by_model.values():
            total += upsert_records(session, integration_id, page, sync_run_id, now)
    return total


@dataclass
class Tenant:
    """What ``seed_tenant`` wrote; ids are the Kombo ids the API returns."""

    integration_id: str
    users: list[UserRecord] = field(default_factory=list)
    providers: list[CourseProviderRecord] = field(default_factory=list)
    courses: list[CourseRecord] = field(default_factory=list)
    revisions: list[CourseRevisionRecord] = field(default_factory=list)
    progressions: list[CourseProgressionRecord] = field(default_factory=list)
    skills: list[SkillRecord] = field(default_factory=list)

    def id_of(self, record: MappedRecord) -> str:
        return record_id(self.integration_id, record.model, record.remote_id)

    def ids(self, records: Sequence[MappedRecord]) -> list[str]:
        return [self.id_of(r) for r in records]


def seed_tenant(
    engine: Engine,
    integration_id: str,
    *,
    users: int = 5,
    courses: int = 3,
    skills: int = 0,
    enrollments_per_user: int = 2,
    sync_run_id: str | None = None,
    now: datetime = BASE_TIME,
) -> Tenant:
    """A small consistent tenant: one provider, courses with one revision each, progressions that point
    at existing users and revisions (user i is enrolled in courses i, i+1, … modulo ``courses``)."""
    tenant = Tenant(integration_id)
    tenant.providers = [provider(1)]
    tenant.users = [user(n) for n in range(1, users + 1)]
    tenant.courses = [course(n, provider_remote_id="p00001") for n in range(1, courses + 1)]
    tenant.revisions = [revision(n) for n in range(1, courses + 1)]
    tenant.skills = [skill(n) for n in range(1, skills + 1)]
    statuses = ("ENROLLED", "IN_PROGRESS", "COMPLETED")
    if courses:
        for i, u in enumerate(tenant.users):
            for k in range(min(enrollments_per_user, courses)):
                c = tenant.courses[(i + k) % courses]
                status = statuses[(i + k) % len(statuses)]
                tenant.progressions.append(
                    progression(
                        u.remote_id,
                        c.remote_id,
                        status=status,
                        completed_at=now if status == "COMPLETED" else None,
                    )
                )
    upsert(
        engine,
        integration_id,
        [
            *tenant.providers,
            *tenant.users,
            *tenant.courses,
            *tenant.revisions,
            *tenant.progressions,
            *tenant.skills,
        ],
        sync_run_id=sync_run_id,
        now=now,
    )
    return tenant


def new_run_id() -> str:
    return random_id()
