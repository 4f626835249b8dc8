"""Pure mapping of 360Learning API v2 payloads to unified records (``lmsbridge.unified.records``).

No I/O and no clock: everything a function needs (the provider index, the time a deletion was
observed) comes in as an argument. Decisions are written down in docs/connector-360learning.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lmsbridge.unified.records import (
    CourseProgressionRecord,
    CourseProviderRecord,
    CourseRecord,
    CourseRevisionRecord,
    ProgressionStatus,
    RevisionStatus,
    UserRecord,
    UserStatus,
)

# remote_data is keyed by the endpoint the payload came from (Kombo's convention)
USERS_KEY = "/users"
INTEGRATIONS_KEY = "/integrations"
COURSES_KEY = "/courses"
STATS_KEY = "/courses/stats"

SYNTHETIC_PROVIDER_PREFIX = "platform:"
PAIR_SEPARATOR = ":"

_USER_STATUS: dict[str, UserStatus] = {"active": "ACTIVE", "invited": "ACTIVE", "deleted": "INACTIVE"}
_REVISION_STATUS: dict[str, RevisionStatus] = {
    "published": "ACTIVE",
    "archived": "INACTIVE",
    "deleted": "INACTIVE",
}

Dto = Mapping[str, Any]


def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from 360Learning's ``YYYY-MM-DDThh:mm:ss.sssZ``; None if absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _latest(values: Any) -> datetime | None:
    if not isinstance(values, list):
        return None
    dates = [d for d in (parse_datetime(v) for v in values) if d is not None]
    return max(dates) if dates else None


# ---- users ---------------------------------------------------------------------------------------


def user_record(dto: Dto) -> UserRecord:
    """``UserDTO`` → user. invited counts as ACTIVE (the unified enum has no pending state)."""
    status = _USER_STATUS.get(str(dto.get("status")))
    deleted = dto.get("status") == "deleted"
    return UserRecord(
        remote_id=str(dto["_id"]),
        remote_data={USERS_KEY: dict(dto)},
        # 360Learning has no creation date for users
        remote_created_at=None,
        # deletedAt is the list of soft deletions; the last one is the current one
        remote_deleted_at=_latest(dto.get("deletedAt")) if deleted else None,
        first_name=_text(dto.get("firstName")),
        last_name=_text(dto.get("lastName")),
        work_email=_text(dto.get("mail")),
        status=status,
    )


# ---- course providers ----------------------------------------------------------------------------


def provider_record(integration: Dto) -> CourseProviderRecord:
    """``IntegrationDTO`` → course provider named by its ``externalPlatform``."""
    return CourseProviderRecord(
        remote_id=str(integration["_id"]),
        remote_data={INTEGRATIONS_KEY: dict(integration)},
        name=_text(integration.get("externalPlatform")),
    )


def synthetic_provider_id(platform: str) -> str:
    return SYNTHETIC_PROVIDER_PREFIX + platform


def synthetic_provider_record(platform: str) -> CourseProviderRecord:
    """A provider for external courses of a platform with no API integration (e.g. a marketplace)."""
    return CourseProviderRecord(remote_id=synthetic_provider_id(platform), remote_data=None, name=platform)


@dataclass(frozen=True, slots=True)
class ProviderIndex:
    """Finds the provider of a course: the integration with the course's platform (and group)."""

    by_platform_and_group: Mapping[tuple[str, str], str] = field(default_factory=dict)
    by_platform: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_integrations(cls, integrations: Iterable[Dto]) -> ProviderIndex:
        by_pair: dict[tuple[str, str], str] = {}
        by_platform: dict[str, str] = {}
        # lowest _id wins when two integrations (in different groups) share a platform name
        for integration in sorted(integrations, key=lambda i: str(i["_id"])):
            platform = _text(integration.get("externalPlatform"))
            if platform is None:
                continue
            remote_id = str(integration["_id"])
            by_pair.setdefault((platform, str(integration.get("groupId"))), remote_id)
            by_platform.setdefault(platform, remote_id)
        return cls(by_pair, by_platform)

    def provider_for(self, course: Dto) -> str | None:
        """Provider remote id of a course: None for native and elearning-standard courses."""
        platform = _text(course.get("externalPlatform"))
        if course.get("type") != "external" or platform is None:
            return None
        matched = self.by_platform_and_group.get((platform, str(course.get("groupId"))))
        return matched or self.by_platform.get(platform) or synthetic_provider_id(platform)


def synthetic_providers(courses: Iterable[Dto], index: ProviderIndex) -> list[CourseProviderRecord]:
    """The synthetic providers a batch of courses refers to (one per unmatched platform, sorted)."""
    ids = {index.provider_for(course) for course in courses}
    return [
        synthetic_provider_record(remote_id.removeprefix(SYNTHETIC_PROVIDER_PREFIX))
        for remote_id in sorted(i for i in ids if i and i.startswith(SYNTHETIC_PROVIDER_PREFIX))
    ]


# ---- courses and revisions -----------------------------------------------------------------------


def course_records(
    dto: Dto,
    providers: ProviderIndex,
    *,
    observed_at: datetime,
    origin_id: str | None = None,
) -> tuple[CourseRecord, CourseRevisionRecord]:
    """``CourseDTO`` → the course and its one revision (revision remote id = course ``_id``).

    ``observed_at``: when this payload was fetched. The API gives no deletion date, so a deleted
    course's ``remote_deleted_at`` is the time it was seen deleted (the store keeps the first one).
    ``origin_id``: the ``externalId`` when lmsbridge knows it (courses it upserted itself).
    """
    remote_id = str(dto["_id"])
    created = parse_datetime(dto.get("createdAt"))
    deleted_at = observed_at if dto.get("status") == "deleted" else None
    remote_data = {COURSES_KEY: dict(dto)}
    course = CourseRecord(
        remote_id=remote_id,
        remote_data=remote_data,
        remote_created_at=created,
        remote_deleted_at=deleted_at,
        provider_remote_id=providers.provider_for(dto),
        origin_id=origin_id,
    )
    revision = CourseRevisionRecord(
        remote_id=remote_id,
        remote_data=remote_data,
        remote_created_at=created,
        remote_deleted_at=deleted_at,
        course_remote_id=remote_id,
        title=_text(dto.get("name")),
        description=_text(dto.get("description")),
        # CourseDTO carries no URL and the in-LMS URL pattern is undocumented
        remote_url=None,
        status=_REVISION_STATUS.get(str(dto.get("status"))),
    )
    return course, revision


# ---- progressions --------------------------------------------------------------------------------


def progression_remote_id(user_id: str, course_id: str) -> str:
    """One progression per (user, course): ``"<userId>:<courseId>"``."""
    return f"{user_id}{PAIR_SEPARATOR}{course_id}"


def split_progression_remote_id(remote_id: str) -> tuple[str, str]:
    """``"<userId>:<courseId>"`` → (userId, courseId)."""
    user_id, sep, course_id = remote_id.partition(PAIR_SEPARATOR)
    if not sep or not user_id or not course_id:
        raise ValueError(f"not a progression remote id: {remote_id!r}")
    return user_id, course_id


def group_attempts(attempts: Iterable[Dto]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """A page of ``CourseStatDTO`` grouped by (userId, courseId), in first-seen order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for attempt in attempts:
        groups.setdefault((str(attempt["userId"]), str(attempt["courseId"])), []).append(dict(attempt))
    return groups


def merge_attempts(
    existing: Sequence[Dto], page_attempts: Sequence[Dto], *, replace: bool
) -> list[dict[str, Any]]:
    """Fold a page's attempts of one pair into what is stored, sorted by ``_id``.

    ``replace=True``: first time the pair is seen in a FULL run, so stored attempts that the run has
    not seen are dropped. ``replace=False``: upsert by ``_id`` (later pages, delta runs).
    """
    merged: dict[str, dict[str, Any]] = {} if replace else {str(a["_id"]): dict(a) for a in existing}
    for attempt in page_attempts:
        merged[str(attempt["_id"])] = dict(attempt)
    return [merged[key] for key in sorted(merged)]


def attempts_from_remote_data(remote_data: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The attempts kept in a stored progression's remote_data (for ``merge_attempts``)."""
    if not remote_data:
        return []
    attempts = remote_data.get(STATS_KEY)
    return [dict(a) for a in attempts if isinstance(a, dict)] if isinstance(attempts, list) else []


def _status(attempts: Sequence[Dto], any_completed: bool) -> ProgressionStatus:
    if any_completed:
        return "COMPLETED"
    if any(isinstance(a.get("progress"), int | float) and a["progress"] > 0 for a in attempts):
        return "IN_PROGRESS"
    return "ENROLLED"


def progression_from_attempts(
    user_id: str, course_id: str, attempts: Sequence[Dto]
) -> CourseProgressionRecord:
    """All attempts of one (user, course) pair → one progression (retakes are its history)."""
    if not attempts:
        raise ValueError("a progression needs at least one attempt")
    for attempt in attempts:
        if str(attempt.get("userId")) != user_id or str(attempt.get("courseId")) != course_id:
            raise ValueError(f"attempt {attempt.get('_id')!r} does not belong to ({user_id}, {course_id})")
    ordered = sorted((dict(a) for a in attempts), key=lambda a: str(a["_id"]))
    started = [d for d in (parse_datetime(a.get("firstActivityAt")) for a in ordered) if d]
    completed = [d for d in (parse_datetime(a.get("completedAt")) for a in ordered) if d]
    return CourseProgressionRecord(
        remote_id=progression_remote_id(user_id, course_id),
        remote_data={STATS_KEY: ordered},
        user_remote_id=user_id,
        # one revision per course (revision remote id = course id)
        course_revision_remote_id=course_id,
        course_remote_id=course_id,
        # the completion dates are parsed once, for the status and completed_at
        status=_status(ordered, bool(completed)),
        # no enrollment date exists; the first activity of the first attempt stands in
        enrolled_at=min(started) if started else None,
        completed_at=max(completed) if completed else None,
    )
