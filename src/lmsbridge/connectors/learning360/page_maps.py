"""What one page of each 360Learning stream becomes: unified records by model (pure functions).

Referenced by the stream declarations (``streams.py``); the sync engine calls them, maybe in another
process (module-level functions pickle by name). ``reconcile_*`` fold what the store already holds
into a page's records: the connector alone knows what a stored course or progression keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lmsbridge.connectors.base import Dto, Json, MapContext, StoredRecord
from lmsbridge.connectors.learning360 import mapping
from lmsbridge.unified.records import MappedRecord

# the run's memory key of the integrations list (the provider index's input)
INTEGRATIONS_MEMORY = "integrations"


def remember_integrations(items: list[Dto], memory: Mapping[str, Any]) -> Json:
    """Keep every integration seen (by ``_id``): courses of later pages find their provider in them."""
    kept = list(memory.get(INTEGRATIONS_MEMORY) or [])
    known = {str(i.get("_id")) for i in kept}
    kept.extend(i for i in items if str(i.get("_id")) not in known)
    return {**memory, INTEGRATIONS_MEMORY: kept}


def provider_index(memory: Mapping[str, Any]) -> mapping.ProviderIndex:
    return mapping.ProviderIndex.from_integrations(memory.get(INTEGRATIONS_MEMORY) or [])


def users_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    return {"users": [mapping.user_record(dto) for dto in items]}


def integrations_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    return {"course_providers": [mapping.provider_record(dto) for dto in items]}


def courses_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    """Courses, their revisions and the synthetic providers they refer to (seen deleted now; the
    first observed deletion time and a known origin id come back in ``reconcile_course``)."""
    providers = provider_index(ctx.memory)
    courses: list[MappedRecord] = []
    revisions: list[MappedRecord] = []
    for dto in items:
        course, revision = mapping.course_records(dto, providers, observed_at=ctx.now)
        courses.append(course)
        revisions.append(revision)
    return {
        "course_providers": list(mapping.synthetic_providers(items, providers)),
        "courses": courses,
        "course_revisions": revisions,
    }


def reconcile_course(
    remote_id: str, page_data: Any, stored: StoredRecord, ctx: MapContext
) -> Sequence[MappedRecord]:
    """origin_id is known only from our own upserts; the first observed deletion time is kept."""
    dto = page_data[mapping.COURSES_KEY]
    deleted = dto.get("status") == "deleted"
    keeps_deletion = deleted and stored.remote_deleted_at is not None
    if stored.origin_id is None and not keeps_deletion:
        return ()
    course, revision = mapping.course_records(
        dto,
        provider_index(ctx.memory),
        observed_at=stored.remote_deleted_at if keeps_deletion and stored.remote_deleted_at else ctx.now,
        origin_id=stored.origin_id,
    )
    return (course, revision)


def stats_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    """Progressions made from this page's attempts alone (deduplicated by attempt ``_id``)."""
    records: list[MappedRecord] = []
    for (user_id, course_id), attempts in mapping.group_attempts(items).items():
        unique = mapping.merge_attempts((), attempts, replace=True)
        records.append(mapping.progression_from_attempts(user_id, course_id, unique))
    return {"course_progressions": records}


def reconcile_progression(
    remote_id: str, page_data: Any, stored: StoredRecord, ctx: MapContext
) -> Sequence[MappedRecord]:
    """Attempts fold into one progression per (user, course); a pair's attempts arrive on different
    pages (the list is ordered by attempt, not by pair), so each page merges into what is stored, by
    attempt ``_id``. Writing a pair's partial attempt list first would change (and move ``changed_at``
    of) records that did not change. The price: an attempt that 360Learning drops while its pair keeps
    others stays in ``remote_data`` (docs/sync.md); a pair that disappears entirely is marked deleted."""
    existing = mapping.attempts_from_remote_data(stored.remote_data)
    page_attempts = page_data[mapping.STATS_KEY]
    if {str(a["_id"]) for a in existing} <= {str(a["_id"]) for a in page_attempts}:
        return ()  # the page holds the whole pair: mapped as it is to be stored
    attempts = mapping.merge_attempts(existing, page_attempts, replace=False)
    pair = mapping.split_progression_remote_id(remote_id)
    return (mapping.progression_from_attempts(*pair, attempts),)


def gone_course(stored_remote_data: Any) -> Dto | None:
    """A stored course that now answers 404 was purged: its stored payload, marked deleted."""
    payload = (stored_remote_data or {}).get(mapping.COURSES_KEY)
    return {**payload, "status": "deleted"} if isinstance(payload, dict) else None
