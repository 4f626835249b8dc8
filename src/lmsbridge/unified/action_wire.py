"""The wire shapes of the write actions (``/v1/lms`` upsert courses, deactivate course, enroll,
complete): request bodies, task views and positive responses, as Kombo's LMS API v1 names them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from lmsbridge.unified.wire import Course, CourseProgression, Success, Timestamp, WireModel

# a date or a date-time in UTC, as Kombo accepts them
_KOMBO_DATE = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?)?Z?$"


class Warning_(WireModel):
    message: str


class TaskId(WireModel):
    task_id: str


class ItemError(WireModel):
    code: str | None
    title: str | None
    message: str
    log_url: str | None


class ItemData(WireModel):
    id: str


class ItemSucceeded(WireModel):
    origin_id: str
    status: Literal["SUCCEEDED"]
    data: ItemData


class ItemFailed(WireModel):
    origin_id: str
    status: Literal["FAILED"]
    error: ItemError


class TaskPending(WireModel):
    task_id: str
    created_at: Timestamp
    status: Literal["PENDING"]
    completed_at: None


class TaskCompleted(WireModel):
    task_id: str
    created_at: Timestamp
    status: Literal["COMPLETED"]
    completed_at: Timestamp
    data: list[ItemSucceeded | ItemFailed]


class TaskFailed(WireModel):
    task_id: str
    created_at: Timestamp
    status: Literal["FAILED"]
    completed_at: Timestamp
    error: ItemError


class PostLmsCoursesBulkPositiveResponse(Success[TaskId]):
    warnings: list[Warning_]


class GetLmsCoursesBulkTaskIdPositiveResponse(Success[TaskPending | TaskCompleted | TaskFailed]):
    pass


class PostLmsCoursesCourseIdDeactivatePositiveResponse(Success[Course]):
    warnings: list[Warning_]


class PostLmsCourseProgressionsPositiveResponse(Success[CourseProgression]):
    warnings: list[Warning_]


class PostLmsCourseProgressionsCourseProgressionIdCompletePositiveResponse(Success[CourseProgression]):
    warnings: list[Warning_]


class EnrollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, description="Kombo id of the user, or `remote:<the LMS's id>`.")
    course_revision_id: str = Field(
        min_length=1, description="Kombo id of the course revision, or `remote:<the LMS's course id>`."
    )


class CompleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completed_at: str | None = Field(
        default=None, pattern=_KOMBO_DATE, description="Date or date-time (UTC); defaults to now."
    )
    score: StrictInt | None = Field(default=None, ge=0, le=100)
