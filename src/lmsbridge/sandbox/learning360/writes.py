"""The vendor's write rules on a tenant: integrations, external course upserts/archives, stats imports.

Each bulk item function returns (resourceId, None) on success or (None, errorMessage) on failure.
"""

from __future__ import annotations

from typing import Any

from lmsbridge.sandbox.learning360.attempts import NONE, NewAttempt
from lmsbridge.sandbox.learning360.tenant import CourseMeta, Tenant
from lmsbridge.sandbox.learning360.timefmt import iso, parse_iso

Outcome = tuple[str | None, str | None]
# Undocumented which names are reserved (guess: 360Learning's own marketplace connectors).
RESERVED_PLATFORMS = frozenset({"360learning", "udemy", "linkedin learning", "coursera", "go1", "opensesame"})
MAX_INTEGRATIONS = 50  # undocumented limit (guess)


def find_duplicate(tenant: Tenant, group_id: str, platform: str, except_id: str | None = None) -> bool:
    return any(
        i is not None
        and i["_id"] != except_id
        and i["groupId"] == group_id
        and i["externalPlatform"] == platform
        for i in tenant.integrations.items
    )


def delete_integration(tenant: Tenant, integration_id: str) -> None:
    """Delete the configuration and archive all its courses (vendor-documented)."""
    tenant.integrations.items[tenant.integrations.pos[integration_id]] = None
    for (owner, _external_id), row in tenant.external_index.items():
        if owner == integration_id and tenant.courses.items[row]["status"] == "published":
            tenant.courses.items[row]["status"] = "archived"


def _course_dto(tenant: Tenant, integration: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    dto: dict[str, Any] = {"name": item["name"]}
    if "description" in item:
        dto["description"] = item["description"]
    if "duration" in item:
        dto["duration"] = item["duration"]
    dto.update(
        sourceLang=item["defaultLang"],
        defaultLang=item["defaultLang"],
        authorId=item.get("authorId", integration["authorId"]),
        coAuthorIds=[],
        groupId=integration["groupId"],
        type="external",
        externalPlatform=integration["externalPlatform"],
        translations=[
            {
                "lang": t["lang"],
                "published": True,
                "translatorIds": [],
                "translatedFields": {
                    k: v for k, v in t["translatedFields"].items() if k in ("name", "description")
                },
            }
            for t in item.get("translations", [])
        ],
    )
    return dto


def upsert_external_course(tenant: Tenant, integration: dict[str, Any], item: dict[str, Any]) -> Outcome:
    """Replace the course with this externalId, or create it (published) in the integration's group."""
    if item.get("authorId") is not None and tenant.users.get(item["authorId"]) is None:
        return None, "The given authorId does not correspond to any existing user."
    key = (integration["_id"], item["externalId"])
    dto = _course_dto(tenant, integration, item)
    row = tenant.external_index.get(key)
    if row is None:
        row = tenant.add_course(
            {**dto, "status": "published"}, CourseMeta(integration_id=integration["_id"], external=dict(item))
        )
        tenant.external_index[key] = row
    else:
        course = tenant.courses.items[row]
        for optional in ("description", "duration"):
            course.pop(optional, None)
        tenant.edit_course(row, dto)  # replaced: modifiedAt moves; status is kept (guess)
        tenant.course_meta[row].external = dict(item)
    return tenant.courses.ids[row], None


def archive_external_course(tenant: Tenant, integration: dict[str, Any], item: Any) -> Outcome:
    if not isinstance(item, dict) or set(item) != {"externalId"} or not isinstance(item["externalId"], str):
        return None, "Each input element must be {externalId}."
    row = tenant.external_index.get((integration["_id"], item["externalId"]))
    if row is None:
        return None, "No course with this externalId exists in the integration."
    tenant.set_course_archived(row, True)
    return tenant.courses.ids[row], None


def import_statistic(tenant: Tenant, integration: dict[str, Any], item: dict[str, Any]) -> Outcome:
    """Create or update an attempt by the vendor's quoted rules (see docs/sandbox.md)."""
    cid, uid = item["courseIdentifier"], item["userIdentifier"]
    if cid["type"] == "externalId":
        course = tenant.external_index.get((integration["_id"], cid["value"]))
    else:
        course = tenant.course_row(cid["value"])
        if course is not None and tenant.course_meta[course].integration_id != integration["_id"]:
            return None, "The course does not belong to this integration."
    if course is None:
        return None, "Course not found."
    user = tenant.user_by_mail(uid["value"]) if uid["type"] == "mail" else tenant.user_row(uid["value"])
    if user is None or tenant.users.items[user]["status"] == "deleted":
        return None, "User not found."
    first, last = parse_iso(item["firstActivityAt"]), parse_iso(item["lastActivityAt"])
    assert first is not None and last is not None  # validated before
    last = max(first, last)
    progress = int(item["progress"])
    score = int(item["score"]) if "score" in item else NONE
    store = tenant.attempts
    existing = list(store.rows_for(course, user))

    def end_of(row: int) -> int:
        completed = store.completed[row]
        return completed if completed != NONE else store.last[row]

    # "Create a new attempt if forceNew is true; no attempt exists for the course and user; or
    #  firstActivityAt is later than the lastActivityAt or completedAt of all existing attempts."
    if item.get("forceNew") or not existing or all(first > end_of(r) for r in existing):
        row = tenant.add_attempt(
            NewAttempt(
                course=course,
                user=user,
                lang=tenant.lang_index(item.get("lang", tenant.courses.items[course]["defaultLang"])),
                progress=progress,
                time_spent=int(item["timeSpent"]),
                first_ms=first,
                last_ms=last,
                completed_ms=last if progress == 100 else NONE,
                score=score,
            )
        )
        return store.id_of(row), None
    # "Update existing non-completed attempts if firstActivityAt is earlier than the lastActivityAt
    #  or completedAt of those attempts."
    updated = [r for r in existing if store.completed[r] == NONE and first < store.last[r]]
    for row in updated:
        tenant.update_attempt(
            row,
            progress=max(progress, store.progress[row]) if progress != 100 else 100,
            time_spent=int(item["timeSpent"]),
            last_ms=last,
            score=score if score != NONE else None,
        )
    # Neither rule applies (e.g. every attempt is completed): a no-op, reported on the latest attempt.
    return store.id_of(updated[-1] if updated else existing[-1]), None


def external_course_view(tenant: Tenant, row: int) -> dict[str, Any]:
    """ExternalCourseResponseDTO: the last imported item plus courseId and authorId."""
    course, meta = tenant.courses.items[row], tenant.course_meta[row]
    external = dict(meta.external or {})
    external.setdefault("translations", [])
    external["authorId"] = course["authorId"]
    external["courseId"] = course["_id"]
    return external


def now_iso(tenant: Tenant) -> str:
    return iso(tenant.now_ms())
