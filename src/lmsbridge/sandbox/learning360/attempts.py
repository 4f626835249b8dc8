"""Course attempts stored column-wise (arrays of machine ints), so millions fit in little memory.

Row number = sort position = the id's counter: ids are derived, never stored, and the rows are only
ever appended (360Learning offers no way to delete an attempt).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lmsbridge.sandbox.learning360.oid import make_id, salt
from lmsbridge.sandbox.learning360.timefmt import iso

NONE = -1  # sentinel for absent optional integers (score, versionNumber, completedAt)


@dataclass
class NewAttempt:
    course: int
    user: int
    lang: int
    progress: int
    time_spent: int
    first_ms: int
    last_ms: int
    completed_ms: int = NONE
    score: int = NONE
    version: int = NONE


class AttemptStore:
    def __init__(self, seed: int, n_courses: int, n_users: int) -> None:
        self.salt = salt(seed, "attempt")
        self.ts = array("I")
        self.course = array("i")
        self.user = array("i")
        self.lang = array("B")
        self.progress = array("b")
        self.score = array("b")
        self.version = array("h")
        self.time_spent = array("q")
        self.first = array("q")
        self.last = array("q")
        self.completed = array("q")
        self.paths: dict[int, tuple[str, str]] = {}  # sparse: row → (pathId, pathSessionId)
        self.by_course: list[array[int]] = [array("i") for _ in range(n_courses)]
        self.by_user: list[array[int]] = [array("i") for _ in range(n_users)]
        # Rows that have a completedAt, in row order: serves the completedAt filters without a full scan.
        self.completed_rows = array("i")

    def __len__(self) -> int:
        return len(self.ts)

    def grow_courses(self, n: int) -> None:
        while len(self.by_course) < n:
            self.by_course.append(array("i"))

    def grow_users(self, n: int) -> None:
        while len(self.by_user) < n:
            self.by_user.append(array("i"))

    def append(self, a: NewAttempt, created_s: int) -> int:
        row = len(self.ts)
        if row and created_s < self.ts[-1]:
            created_s = self.ts[-1]  # ids must keep sorting in row order
        self.ts.append(created_s)
        self.course.append(a.course)
        self.user.append(a.user)
        self.lang.append(a.lang)
        self.progress.append(a.progress)
        self.score.append(a.score)
        self.version.append(a.version)
        self.time_spent.append(a.time_spent)
        self.first.append(a.first_ms)
        self.last.append(a.last_ms)
        self.completed.append(a.completed_ms)
        self.by_course[a.course].append(row)
        self.by_user[a.user].append(row)
        if a.completed_ms != NONE:
            self.completed_rows.append(row)
        return row

    def mark_completed(self, row: int, completed_ms: int) -> None:
        """Set completedAt on an existing row, keeping `completed_rows` sorted."""
        if self.completed[row] == NONE:
            from bisect import insort

            insort(self.completed_rows, row)
        self.completed[row] = completed_ms

    def id_of(self, row: int) -> str:
        return make_id(self.ts[row], self.salt, row)

    def row_of(self, attempt_id: str) -> int | None:
        """The row of an id this store issued, else None."""
        if len(attempt_id) != 24 or attempt_id[8:18] != self.salt:
            return None
        try:
            row = int(attempt_id[18:], 16)
        except ValueError:
            return None
        if row >= len(self.ts) or self.id_of(row) != attempt_id.lower():
            return None
        return row

    def rows_for(self, course: int, user: int) -> Iterator[int]:
        rows_c, rows_u = self.by_course[course], self.by_user[user]
        if len(rows_c) <= len(rows_u):
            return (r for r in rows_c if self.user[r] == user)
        return (r for r in rows_u if self.course[r] == course)

    def render(
        self, row: int, course_ids: list[str], user_ids: list[str], langs: Sequence[str]
    ) -> dict[str, Any]:
        """The CourseStatDTO of one row; optional fields are omitted when absent."""
        out: dict[str, Any] = {
            "_id": make_id(self.ts[row], self.salt, row),
            "courseId": course_ids[self.course[row]],
            "userId": user_ids[self.user[row]],
            "lang": langs[self.lang[row]],
            "timeSpent": self.time_spent[row],
            "progress": self.progress[row],
        }
        version = self.version[row]
        if version != NONE:
            out["versionNumber"] = version
        out["firstActivityAt"] = iso(self.first[row])
        out["lastActivityAt"] = iso(self.last[row])
        score = self.score[row]
        if score != NONE:
            out["score"] = score
        completed = self.completed[row]
        if completed != NONE:
            out["completedAt"] = iso(completed)
        path = self.paths.get(row) if self.paths else None
        if path is not None:
            out["pathId"], out["pathSessionId"] = path
        return out
