"""Upsert courses: validate Kombo's items, store a task, and run it through the connector's course
upserts (batched as its policy says); completed courses are written to the store at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from lmsbridge.actions import tasks
from lmsbridge.actions.env import ActionEnv
from lmsbridge.actions.errors import ActionError, error_body
from lmsbridge.actions.store_writes import store_courses
from lmsbridge.connectors.writes import CourseInput, Json
from lmsbridge.store.schema import ActionTask

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
ORIGIN_ID_MAX = 255
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
# the remote payload of one valid course (the connector's ``WriteActions.upsert_payload``)
Payload = Callable[[str, CourseInput], Json]


def _check_course(course: Any) -> tuple[CourseInput | None, list[str]]:
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
        CourseInput(
            title=str(title).strip(),
            course_url=str(url),
            description=description or None,
            thumbnail_url=thumbnail or None,
            duration=duration,
            languages=tuple(languages) if languages else None,
        ),
        [],
    )


def prepare_request(body: Mapping[str, Any], payload: Payload) -> dict[str, Any]:
    """The task's request: per item the connector's payload, or the validation error that keeps it
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
            prepared.append({"origin_id": origin_id, "item": payload(origin_id, course)})
    return {"items": prepared}


def submit(
    session: Session, integration_id: str, request: dict[str, Any], now: datetime, log_id: str | None
) -> ActionTask:
    return tasks.create_task(session, integration_id, tasks.UPSERT, request, now, log_id=log_id)


# ---- the background part ---------------------------------------------------------------------------


async def run(task: ActionTask, env: ActionEnv) -> None:
    """Submit (or resume) the upsert batches of a task, then store the courses and finish the task."""
    integration_id = task.integration_id
    items = task.request["items"]
    valid = [entry for entry in items if "item" in entry]
    writer = await env.remote.writer(integration_id, prepare=bool(valid))
    per_call = writer.batching.courses_per_call
    state: dict[str, Any] = dict(task.remote_state or {})
    batches: list[dict[str, Any]] = state.setdefault(
        "batches",
        [
            {"origin_ids": [e["origin_id"] for e in valid[start : start + per_call]]}
            for start in range(0, len(valid), per_call)
        ],
    )
    payloads = {e["origin_id"]: e["item"] for e in valid}

    async def save() -> None:
        await env.in_db(lambda s: tasks.save_remote_state(s, [task.id], state, env.clock()))

    for batch in batches:
        if "outcomes" in batch:
            continue
        # the batch itself keeps the connector's progress (e.g. its operation id) beside its origin ids

        async def save_progress(saved: Json, batch: dict[str, Any] = batch) -> None:
            batch.update(saved)
            await save()

        async with env.remote.write_slot(writer):
            written = await writer.upsert_courses(
                [payloads[o] for o in batch["origin_ids"]],
                batch,
                save_progress,
                env.remote.host(integration_id),
            )
        batch["outcomes"] = {
            origin: {"ok": True, "course_id": outcome.remote_id}
            if outcome.ok
            else {"ok": False, "code": outcome.code, "error": outcome.error}
            for origin, outcome in zip(batch["origin_ids"], written, strict=True)
        }
        await save()

    outcomes: dict[str, dict[str, Any]] = {}
    for batch in batches:
        outcomes.update(batch["outcomes"])
    succeeded = {o: r["course_id"] for o, r in outcomes.items() if r.get("ok") and r.get("course_id")}
    since = min((str(b["since"]) for b in batches if b.get("since")), default=None)
    dtos = await writer.read_courses(list(succeeded.values()), since) if succeeded else {}
    now = env.clock()
    result_log = await env.log(
        integration_id,
        method="PUT",
        url=writer.log_target("courses", state),
        request={"task_id": task.id, "items": len(items)},
        response={"succeeded": len(succeeded), "failed": len(items) - len(succeeded)},
    )
    log_url = env.log_url(result_log)

    def finish(session: Session) -> None:
        pairs = [(dtos[cid], origin) for origin, cid in succeeded.items() if cid in dtos]
        ids = (
            store_courses(session, integration_id, writer, pairs, now, with_provider=bool(valid))
            if pairs
            else []
        )
        kombo_ids = {origin: kid for (_, origin), kid in zip(pairs, ids, strict=True)}
        result = [_item_result(entry, outcomes, kombo_ids, log_url) for entry in items]
        tasks.finish(session, task.id, tasks.COMPLETED, now, result=result, log_id=result_log)

    await env.in_db(finish)


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
