"""Pure mapping of 360Learning payloads to unified records, on plain dicts shaped like the vendor DTOs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from connector_reference import root_conftest

from lmsbridge.connectors.learning360.mapping import (
    ProviderIndex,
    attempts_from_remote_data,
    course_records,
    group_attempts,
    merge_attempts,
    parse_datetime,
    progression_from_attempts,
    progression_remote_id,
    provider_record,
    split_progression_remote_id,
    synthetic_providers,
    user_record,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
USER = "64b7f0c2a1e4c93d8f2a1b01"
COURSE = "65a1c3e9f0b2d47a9c8e5f10"


def _user(**fields: Any) -> dict[str, Any]:
    return {"_id": USER, "mail": "john@acme.example", "status": "active", "lang": "en", **fields}


def _course(**fields: Any) -> dict[str, Any]:
    base = {
        "_id": COURSE,
        "name": "Onboarding",
        "description": "How to onboard",
        "sourceLang": "en",
        "defaultLang": "en",
        "authorId": USER,
        "coAuthorIds": [],
        "groupId": "5f3e2d1c0b9a887766554433",
        "createdAt": "2025-01-10T09:00:00.000Z",
        "modifiedAt": "2025-09-01T12:30:00.000Z",
        "status": "published",
        "type": "native",
        "translations": [],
    }
    return {**base, **fields}


def _attempt(attempt_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": attempt_id,
        "courseId": COURSE,
        "userId": USER,
        "lang": "en",
        "timeSpent": 1000,
        "progress": 0,
        **fields,
    }


# ---- users ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"), [("active", "ACTIVE"), ("invited", "ACTIVE"), ("deleted", "INACTIVE")]
)
def test_user_status(status: str, expected: str) -> None:
    assert user_record(_user(status=status)).status == expected


def test_user_fields_and_remote_data() -> None:
    dto = _user(firstName="John", lastName="Smith", lastLoginDate="2025-10-02T08:14:22.000Z")
    record = user_record(dto)
    assert (record.remote_id, record.first_name, record.last_name, record.work_email) == (
        USER,
        "John",
        "Smith",
        "john@acme.example",
    )
    assert record.remote_data == {"/users": dto}
    assert record.remote_deleted_at is None
    assert "lastLoginDate" in record.volatile_remote_keys


def test_user_without_optional_fields() -> None:
    record = user_record({"_id": USER, "username": "jsmith", "status": "invited", "lang": "fr"})
    assert (record.first_name, record.last_name, record.work_email) == (None, None, None)
    assert record.status == "ACTIVE"


def test_deleted_user_takes_latest_deletion_date() -> None:
    record = user_record(
        _user(
            status="deleted",
            deletedAt=["2025-06-30T17:00:00.000Z", "2024-01-01T00:00:00.000Z", "2025-08-01T10:00:00.000Z"],
            reactivatedAt=["2025-07-01T00:00:00.000Z"],
        )
    )
    assert record.status == "INACTIVE"
    assert record.remote_deleted_at == datetime(2025, 8, 1, 10, tzinfo=UTC)


def test_reactivated_user_is_not_deleted() -> None:
    record = user_record(
        _user(deletedAt=["2025-06-30T17:00:00.000Z"], reactivatedAt=["2025-07-01T00:00:00.000Z"])
    )
    assert record.status == "ACTIVE"
    assert record.remote_deleted_at is None


def test_deleted_user_without_dates() -> None:
    record = user_record(_user(status="deleted"))
    assert record.status == "INACTIVE"
    assert record.remote_deleted_at is None


# ---- providers and courses -----------------------------------------------------------------------

INTEGRATIONS = [
    {
        "_id": "66c2d4a0f1c3e58b0d9f6a00",
        "externalPlatform": "Acme Academy",
        "authorId": USER,
        "groupId": "g1",
    },
    {
        "_id": "66c2d4a0f1c3e58b0d9f6a01",
        "externalPlatform": "Acme Academy",
        "authorId": USER,
        "groupId": "g2",
    },
    {"_id": "66c2d4a0f1c3e58b0d9f6a02", "externalPlatform": "Other", "authorId": USER, "groupId": "g1"},
]


def test_provider_from_integration() -> None:
    record = provider_record(INTEGRATIONS[2])
    assert (record.remote_id, record.name) == ("66c2d4a0f1c3e58b0d9f6a02", "Other")
    assert record.remote_data == {"/integrations": INTEGRATIONS[2]}


def test_provider_matching() -> None:
    index = ProviderIndex.from_integrations(reversed(INTEGRATIONS))
    external = _course(type="external", externalPlatform="Acme Academy", groupId="g2")
    assert index.provider_for(external) == "66c2d4a0f1c3e58b0d9f6a01"
    # same platform, unknown group: the integration with the lowest id
    assert index.provider_for({**external, "groupId": "g9"}) == "66c2d4a0f1c3e58b0d9f6a00"
    # a marketplace platform without integration
    assert index.provider_for({**external, "externalPlatform": "Udemy"}) == "platform:Udemy"
    assert index.provider_for(_course(type="native")) is None
    assert index.provider_for(_course(type="elearning standard")) is None
    assert index.provider_for(_course(type="external")) is None


def test_synthetic_providers_for_a_page() -> None:
    index = ProviderIndex.from_integrations(INTEGRATIONS)
    courses = [
        _course(type="external", externalPlatform="Udemy"),
        _course(type="external", externalPlatform="Coursera"),
        _course(type="external", externalPlatform="Udemy"),
        _course(type="external", externalPlatform="Other"),
        _course(),
    ]
    records = synthetic_providers(courses, index)
    assert [(r.remote_id, r.name) for r in records] == [
        ("platform:Coursera", "Coursera"),
        ("platform:Udemy", "Udemy"),
    ]


@pytest.mark.parametrize(
    ("status", "revision_status", "deleted"),
    [("published", "ACTIVE", False), ("archived", "INACTIVE", False), ("deleted", "INACTIVE", True)],
)
def test_course_and_its_one_revision(status: str, revision_status: str, deleted: bool) -> None:
    dto = _course(status=status)
    course, revision = course_records(dto, ProviderIndex(), observed_at=NOW)
    assert course.remote_id == revision.remote_id == revision.course_remote_id == COURSE
    assert course.provider_remote_id is None and course.origin_id is None
    assert (revision.title, revision.description, revision.status) == (
        "Onboarding",
        "How to onboard",
        revision_status,
    )
    assert revision.remote_url is None
    assert course.remote_created_at == revision.remote_created_at == datetime(2025, 1, 10, 9, tzinfo=UTC)
    assert course.remote_deleted_at == revision.remote_deleted_at == (NOW if deleted else None)
    assert course.remote_data == revision.remote_data == {"/courses": dto}


def test_external_course_provider_and_origin() -> None:
    dto = _course(type="external", externalPlatform="Other", groupId="g1", description=None)
    course, revision = course_records(
        dto, ProviderIndex.from_integrations(INTEGRATIONS), observed_at=NOW, origin_id="ext-7"
    )
    assert course.provider_remote_id == "66c2d4a0f1c3e58b0d9f6a02"
    assert course.origin_id == "ext-7"
    assert revision.description is None


def test_vendor_course_example_maps() -> None:
    """The vendor's CourseDTO schema lists the fields the mapping reads as required."""
    core = root_conftest().reference_document("360learning-openapi", "core-api.json")
    schema = core["components"]["schemas"]["CourseDTO"]
    assert {"_id", "name", "status", "type", "createdAt", "groupId"} <= set(schema["required"])
    assert set(schema["properties"]["status"]["enum"]) == {"published", "archived", "deleted"}
    stat = core["components"]["schemas"]["CourseStatDTO"]
    assert {"_id", "courseId", "userId", "progress"} <= set(stat["required"])
    user = core["components"]["schemas"]["UserDTO"]
    assert set(user["properties"]["status"]["enum"]) == {"active", "invited", "deleted"}


# ---- progressions --------------------------------------------------------------------------------


def test_progression_remote_id_round_trip() -> None:
    remote_id = progression_remote_id(USER, COURSE)
    assert remote_id == f"{USER}:{COURSE}"
    assert split_progression_remote_id(remote_id) == (USER, COURSE)
    with pytest.raises(ValueError):
        split_progression_remote_id("no-separator")


def test_enrolled_attempt() -> None:
    record = progression_from_attempts(
        USER, COURSE, [_attempt("a1", firstActivityAt="2025-10-01T08:00:00.000Z")]
    )
    assert record.status == "ENROLLED"
    assert record.enrolled_at == datetime(2025, 10, 1, 8, tzinfo=UTC)
    assert record.completed_at is None
    assert (record.user_remote_id, record.course_revision_remote_id, record.course_remote_id) == (
        USER,
        COURSE,
        COURSE,
    )


def test_in_progress_attempt_without_dates() -> None:
    record = progression_from_attempts(USER, COURSE, [_attempt("a1", progress=40)])
    assert record.status == "IN_PROGRESS"
    assert record.enrolled_at is None


def test_progress_100_without_completion_is_in_progress() -> None:
    assert progression_from_attempts(USER, COURSE, [_attempt("a1", progress=100)]).status == "IN_PROGRESS"


def test_retakes_fold_into_one_progression() -> None:
    attempts = [
        _attempt("a3", progress=30, firstActivityAt="2025-12-01T08:00:00.000Z"),
        _attempt(
            "a1",
            progress=100,
            firstActivityAt="2025-09-01T08:00:00.000Z",
            completedAt="2025-09-01T09:00:00.000Z",
        ),
        _attempt(
            "a2",
            progress=100,
            firstActivityAt="2025-10-01T08:00:00.000Z",
            completedAt="2025-10-02T09:00:00.000Z",
        ),
    ]
    record = progression_from_attempts(USER, COURSE, attempts)
    assert record.status == "COMPLETED"
    assert record.completed_at == datetime(2025, 10, 2, 9, tzinfo=UTC)
    assert record.enrolled_at == datetime(2025, 9, 1, 8, tzinfo=UTC)
    assert record.remote_data is not None
    assert [a["_id"] for a in record.remote_data["/courses/stats"]] == ["a1", "a2", "a3"]
    assert attempts_from_remote_data(record.remote_data) == sorted(attempts, key=lambda a: a["_id"])


def test_progression_rejects_foreign_or_no_attempts() -> None:
    with pytest.raises(ValueError):
        progression_from_attempts(USER, COURSE, [])
    with pytest.raises(ValueError):
        progression_from_attempts(USER, COURSE, [_attempt("a1", userId="someone-else")])


def test_group_attempts_by_pair() -> None:
    page = [_attempt("a1"), _attempt("a2", courseId="c2"), _attempt("a3")]
    groups = group_attempts(page)
    assert list(groups) == [(USER, COURSE), (USER, "c2")]
    assert [a["_id"] for a in groups[(USER, COURSE)]] == ["a1", "a3"]


def test_merge_replace_drops_attempts_not_seen() -> None:
    stored = [_attempt("a1", progress=10), _attempt("a2", progress=20)]
    merged = merge_attempts(stored, [_attempt("a2", progress=50)], replace=True)
    assert merged == [_attempt("a2", progress=50)]


def test_merge_upsert_by_id_keeps_others_sorted() -> None:
    stored = [_attempt("a3", progress=10), _attempt("a1", progress=20)]
    merged = merge_attempts(stored, [_attempt("a2"), _attempt("a1", progress=90)], replace=False)
    assert [(a["_id"], a["progress"]) for a in merged] == [("a1", 90), ("a2", 0), ("a3", 10)]
    # the inputs are not mutated
    assert stored[1]["progress"] == 20


def test_attempts_from_empty_remote_data() -> None:
    assert attempts_from_remote_data(None) == []
    assert attempts_from_remote_data({"/courses/stats": "garbage"}) == []


def test_parse_datetime() -> None:
    assert parse_datetime("2025-01-10T09:00:00.000Z") == datetime(2025, 1, 10, 9, tzinfo=UTC)
    assert parse_datetime("2025-01-10T09:00:00") == datetime(2025, 1, 10, 9, tzinfo=UTC)
    assert parse_datetime("yesterday") is None
    assert parse_datetime(None) is None
