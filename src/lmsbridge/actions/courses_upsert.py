"""Upsert courses: validate Kombo's items, store a task, and run it through 360Learning's bulk course
upsert of the connector's own integration; completed courses are written to the store at once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.actions import tasks
from lmsbridge.actions.env import ActionEnv
from lmsbridge.actions.errors import ActionError, error_body
from lmsbridge.actions.store_writes import store_courses
from lmsbridge.connectors.learning360 import mapping, writes
from lmsbridge.connectors.learning360 import write_mapping as wm
from lmsbridge.connectors.learning360.query import encode_filters
from lmsbridge.store.schema import ActionTask

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
ORIGIN_ID_MAX = 255
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
# course reads after the upsert run this many at a time (under the company's read budget)
PARALLEL_READS = 8
# above this many upserted courses, read them back with one scan of recently modified courses
SCAN_ABOVE = 20


def _check_course(course: Any) -> tuple[wm.CourseInput | None, list[str]]:
    """A Kombo ``EXTERNAL`` course → (CourseInput, []), or (None, [problems naming the field])."""
    if not isinstance(course, dict):
        return None, ["course: must be an object"]
    problems: list[str] = []
    if course.get("type") != "EXTERNAL":
        problems.append('course.type: must be "EXTERNAL" (the only course type that can be created)')
    title = course.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append("course.title: required, a non-empty string")
    url = course.get("course_url")
    if not isinstance(url, str) or not _URL.match(url):
        problems.append("course.course_url: required, an absolute http(s) URL")
    description = course.get("description")
    if description is not None and not isinstance(description, str):
        problems.append("course.description: must be a string or null")
    thumbnail = course.get("thumbnail_url")
    if thumbnail is not None and (not isinstance(thumbnail, str) or not _URL.match(thumbnail)):
        problems.append("course.thumbnail_url: must be an absolute http(s) URL or null")
    duration = course.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0
    ):
        problems.append("course.duration: must be an integer greater than 0 (minutes) or null")
    languages = course.get("languages")
    if languages is not None:
        if not isinstance(languages, list):
            problems.append("course.languages: must be an array of language codes or null")
        else:
            for index, tag in enumerate(languages):
                if not isinstance(tag, str) or not LANGUAGE_PATTERN.match(tag):
                    problems.append(
                        f"course.languages[{index}]: {tag!r} does not match ^[a-z]{{2,3}}(-[A-Z]{{2}})?$"
                    )
    for name in ("title", "description", "course_url", "thumbnail_url"):
        if isinstance(course.get(name), str) and "\x00" in course[name]:
            problems.append(f"course.{name}: must not contain NUL characters")
    if problems:
        return None, problems
    return (
        wm.CourseInput(
            title=str(title).strip(),
            course_url=str(url),
            description=description or None,
            thumbnail_url=thumbnail or None,
            duration=duration,
            languages=tuple(languages) if languages else None,
        ),
        [],
    )


def prepare_request(body: Mapping[str, Any], provider_name: str) -> dict[str, Any]:
    """The task's request: per item the 360Learning payload, or the validation error that keeps it
    from being sent. A body whose shape is wrong as a whole is refused (``ActionError``)."""
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise ActionError("PLATFORM.INPUT_INVALID", "items: required, a non-empty array of courses")
    prepared: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ActionError("PLATFORM.INPUT_INVALID", f"items[{index}]: must be an object")
        origin_id = item.get("origin_id")
        if (
            not isinstance(origin_id, str)
            or not origin_id.strip()
            or len(origin_id) > ORIGIN_ID_MAX
            or "\x00" in origin_id
        ):
            raise ActionError(
                "PLATFORM.INPUT_INVALID",
                f"items[{index}].origin_id: required, a non-empty string of at most {ORIGIN_ID_MAX} "
                "characters",
            )
        if origin_id in seen:
            raise ActionError(
                "PLATFORM.INPUT_INVALID", f"items[{index}].origin_id: {origin_id!r} appears twice in items"
            )
        seen.add(origin_id)
        course, problems = _check_course(item.get("course"))
        if course is None:
            message = "; ".join(f"items[{index}].{p}" for p in problems)
            prepared.append({"origin_id": origin_id, "error": message})
        else:
            prepared.append(
                {"origin_id": origin_id, "item": wm.external_course_item(origin_id, course, provider_name)}
            )
    return {"items": prepared}


def submit(
    session: Session, integration_id: str, request: dict[str, Any], now: datetime, log_id: str | None
) -> ActionTask:
    return tasks.create_task(session, integration_id, tasks.UPSERT, request, now, log_id=log_id)


# ---- the background part ---------------------------------------------------------------------------


async def run(task: ActionTask, env: ActionEnv) -> None:
    """Submit (or resume) the bulk upserts of a task, then store the courses and finish the task."""
    integration_id = task.integration_id
    items = task.request["items"]
    valid = [entry for entry in items if "item" in entry]
    state: dict[str, Any] = dict(task.remote_state or {})
    batches: list[dict[str, Any]] = state.setdefault(
        "batches",
        [
            {"origin_ids": [e["origin_id"] for e in valid[start : start + wm.COURSES_PER_IMPORT]]}
            for start in range(0, len(valid), wm.COURSES_PER_IMPORT)
        ],
    )
    payloads = {e["origin_id"]: e["item"] for e in valid}
    client = await env.remote.client(integration_id)
    provider = await env.remote.provider(integration_id) if valid else None

    async def save() -> None:
        await env.in_db(lambda s: tasks.save_remote_state(s, [task.id], state, env.clock()))

    for batch in batches:
        if "outcomes" in batch:
            continue
        assert provider is not None
        batch_items = [payloads[o] for o in batch["origin_ids"]]
        async with env.remote.bulk_slot(integration_id):
            operation = None
            if batch.get("operation_id"):
                operation = await env.poll_known(client, batch["operation_id"])
            if operation is None:  # not submitted yet, or 360Learning no longer knows the operation
                batch["operation_id"] = await writes.submit_course_upsert(
                    client, provider["_id"], batch_items
                )
                await save()
                operation = await env.poll(client, batch["operation_id"])
        batch["outcomes"] = await _outcomes(env, client, provider, batch, batch_items, operation)
        batch["created_at"] = operation.get("createdAt")
        await save()

    outcomes: dict[str, dict[str, Any]] = {}
    for batch in batches:
        outcomes.update(batch["outcomes"])
    succeeded = {o: r["course_id"] for o, r in outcomes.items() if r.get("ok") and r.get("course_id")}
    since = min((str(b["created_at"]) for b in batches if b.get("created_at")), default=None)
    dtos = await _fetch_courses(client, list(succeeded.values()), since)
    now = env.clock()
    result_log = await env.log(
        integration_id,
        method="PUT",
        url=f"/api/v2/bulk/integrations/{provider['_id'] if provider else '-'}/courses",
        request={"task_id": task.id, "items": len(items)},
        response={"succeeded": len(succeeded), "failed": len(items) - len(succeeded)},
    )
    log_url = env.log_url(result_log)

    def finish(session: Session) -> None:
        pairs = [(dtos[cid], origin) for origin, cid in succeeded.items() if cid in dtos]
        ids = store_courses(session, integration_id, provider, pairs, now) if pairs else []
        kombo_ids = {origin: kid for (_, origin), kid in zip(pairs, ids, strict=True)}
        result = [_item_result(entry, outcomes, kombo_ids, log_url) for entry in items]
        tasks.finish(session, task.id, tasks.COMPLETED, now, result=result, log_id=result_log)

    await env.in_db(finish)


async def _outcomes(
    env: ActionEnv,
    client: Any,
    provider: Mapping[str, Any],
    batch: Mapping[str, Any],
    batch_items: Sequence[dict[str, Any]],
    operation: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    origin_ids: list[str] = batch["origin_ids"]
    if operation.get("status") == "error":
        message = f"360Learning's bulk operation failed: {operation.get('errorMessage') or 'no reason given'}"
        return {o: {"ok": False, "code": "REMOTE.UNKNOWN_HTTP_ERROR", "error": message} for o in origin_ids}
    matched = wm.match_results(batch_items, await writes.get_results(client, batch["operation_id"]))
    outcomes: dict[str, dict[str, Any]] = {}
    for origin, item in zip(origin_ids, batch_items, strict=True):
        outcome = matched[wm.input_key(item)]
        if not outcome.ok:
            outcomes[origin] = {"ok": False, "code": "REMOTE.INPUT_INVALID", "error": outcome.error}
            continue
        course_id = outcome.resource_id if wm.is_object_id(outcome.resource_id) else None
        if course_id is None:  # resourceId is not documented as the course id: ask by externalId
            course_id = await writes.external_course_id(client, str(provider["_id"]), origin)
        outcomes[origin] = {"ok": course_id is not None, "course_id": course_id}
        if course_id is None:
            outcomes[origin].update(
                code="REMOTE.UNKNOWN_HTTP_ERROR", error="360Learning did not tell the course id"
            )
    return outcomes


async def _fetch_courses(
    client: Any, course_ids: Sequence[str], since: str | None
) -> dict[str, dict[str, Any]]:
    """The upserted courses as 360Learning serves them. Many courses: one scan of the courses modified
    since the first operation (500 per page) instead of one call each; the rest one by one."""
    wanted = list(dict.fromkeys(course_ids))
    found: dict[str, dict[str, Any]] = {}
    started = mapping.parse_datetime(since) if since else None
    if len(wanted) > SCAN_ABOVE and started is not None:
        # filter dates have whole seconds at 360Learning: start one second earlier
        params = encode_filters({"modifiedAt": {"gte": started - timedelta(seconds=1)}})
        pending = set(wanted)
        async for page in client.iter_pages("/api/v2/courses", params):
            for dto in page.items:
                if dto.get("_id") in pending:
                    found[str(dto["_id"])] = dict(dto)
    limit = asyncio.Semaphore(PARALLEL_READS)

    async def one(course_id: str) -> tuple[str, dict[str, Any]]:
        async with limit:
            dto = found.get(course_id) or await writes.get_course(client, course_id)
            if dto.get("status") == "archived":
                # upserting a deactivated course makes it available again (360Learning's replace
                # keeps the archived status, so restore it explicitly)
                dto = await writes.archive_course(client, course_id, archived=False)
            return course_id, dto

    return dict(await asyncio.gather(*(one(c) for c in wanted)))


def _item_result(
    entry: Mapping[str, Any],
    outcomes: Mapping[str, Mapping[str, Any]],
    kombo_ids: Mapping[str, str],
    log_url: str,
) -> dict[str, Any]:
    origin = entry["origin_id"]
    if "error" in entry:
        return {
            "origin_id": origin,
            "status": "FAILED",
            "error": error_body("PLATFORM.INPUT_INVALID", entry["error"], log_url),
        }
    outcome = outcomes.get(origin, {})
    if origin in kombo_ids:
        return {"origin_id": origin, "status": "SUCCEEDED", "data": {"id": kombo_ids[origin]}}
    code = str(outcome.get("code") or "REMOTE.UNKNOWN_HTTP_ERROR")
    return {
        "origin_id": origin,
        "status": "FAILED",
        "error": error_body(code, str(outcome.get("error") or "failed"), log_url),
    }


def task_view(task: ActionTask) -> dict[str, Any]:
    """Kombo's task shape (times still datetimes): PENDING while queued or running."""
    view: dict[str, Any] = {"task_id": task.id, "created_at": task.created_at}
    if task.state == tasks.COMPLETED:
        view.update(status="COMPLETED", completed_at=task.completed_at, data=task.result or [])
    elif task.state == tasks.FAILED:
        view.update(status="FAILED", completed_at=task.completed_at, error=task.error)
    else:
        view.update(status="PENDING", completed_at=None)
    return view
