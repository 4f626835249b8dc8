"""One simulated 360Learning company: its records, credentials and tokens, and the vendor's write rules.

Users, courses, groups and integrations are kept as the exact DTO dicts the API serves, in lists sorted
by `_id` (ids are issued in increasing order, so appends keep the order); attempts are column arrays.
"""

from __future__ import annotations

import secrets
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lmsbridge.sandbox.learning360.attempts import NONE, AttemptStore, NewAttempt
from lmsbridge.sandbox.learning360.clock import Clock
from lmsbridge.sandbox.learning360.config import SandboxConfig
from lmsbridge.sandbox.learning360.oid import IdFactory
from lmsbridge.sandbox.learning360.timefmt import iso, parse_iso
from lmsbridge.sandbox.learning360.vocab import ALL_SCOPES, CONTENT_LANGS, LANG_INDEX

T = TypeVar("T")
Listener = Callable[[str, dict[str, Any]], None]


class Collection(Generic[T]):
    """Records sorted by id with O(1) lookup and bisect positioning for pagination."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.items: list[T] = []
        self.pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, record_id: str, item: T) -> int:
        if self.ids and record_id <= self.ids[-1]:
            raise ValueError("ids must be added in increasing order")
        self.pos[record_id] = len(self.ids)
        self.ids.append(record_id)
        self.items.append(item)
        return len(self.ids) - 1

    def get(self, record_id: str) -> T | None:
        index = self.pos.get(record_id.lower())
        return None if index is None else self.items[index]

    def start_after(self, after_id: str | None) -> int:
        return 0 if after_id is None else bisect_right(self.ids, after_id)


@dataclass
class Credential:
    client_id: str
    client_secret: str
    scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))


@dataclass
class Token:
    credential: Credential
    expires_ms: int
    revoked: bool = False


@dataclass
class CourseMeta:
    """What 360Learning knows about a course but CourseDTO does not show."""

    created_ms: int = 0
    modified_ms: int = 0
    tag_ids: list[str] = field(default_factory=list)
    original_author_id: str | None = None
    integration_id: str | None = None
    external: dict[str, Any] | None = None  # the last ExternalCourseDTO imported for it


class Tenant:
    def __init__(self, seed: int, config: SandboxConfig | None = None, clock: Clock | None = None) -> None:
        self.seed = seed
        self.config = config or SandboxConfig()
        self.clock = clock or Clock()
        self.company_id = IdFactory(seed, "company").next(1_600_000_000)
        self.user_ids = IdFactory(seed, "user")
        self.course_ids = IdFactory(seed, "course")
        self.group_ids = IdFactory(seed, "group")
        self.integration_ids = IdFactory(seed, "integration")
        self.misc_ids = IdFactory(seed, "misc")
        self.users: Collection[dict[str, Any]] = Collection()
        self.courses: Collection[dict[str, Any]] = Collection()
        self.course_meta: list[CourseMeta] = []
        self.groups: Collection[dict[str, Any]] = Collection()
        self.roles: dict[str, list[dict[str, str]]] = {}  # groupId → UserRole rows sorted by userId
        self.integrations: Collection[dict[str, Any] | None] = Collection()  # None = deleted
        self.inactive_integrations: set[str] = set()
        self.external_index: dict[tuple[str, str], int] = {}  # (integrationId, externalId) → course row
        self.attempts = AttemptStore(seed, 0, 0)
        self.credentials: dict[str, Credential] = {}
        self.tokens: dict[str, Token] = {}
        self.listeners: list[Listener] = []
        # Called before every API request and periodically: advance time-driven work (bulk operations).
        self.tickers: list[Callable[[], None]] = []
        self.pagination_secret = secrets.token_bytes(32)

    # ---- ids and time -------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def now_iso(self) -> str:
        return iso(self.now_ms())

    def tick(self) -> None:
        for ticker in self.tickers:
            ticker()

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event_type, data)

    @property
    def root_group_id(self) -> str:
        return self.groups.ids[0]

    # ---- credentials and tokens ---------------------------------------------------------------
    def add_credential(self, client_id: str | None = None, client_secret: str | None = None) -> Credential:
        cred = Credential(client_id or secrets.token_hex(16), client_secret or secrets.token_hex(16))
        self.credentials[cred.client_id] = cred
        return cred

    def issue_token(self, cred: Credential) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = Token(cred, self.now_ms() + self.config.token_lifetime_s * 1000)
        return token

    def revoke_tokens(self) -> int:
        live = [t for t in self.tokens.values() if not t.revoked]
        for t in live:
            t.revoked = True
        return len(live)

    # ---- users --------------------------------------------------------------------------------
    def add_user(self, dto: dict[str, Any], created_s: int | None = None) -> dict[str, Any]:
        user_id = self.user_ids.next(created_s if created_s is not None else self.now_ms() // 1000)
        user = {"_id": user_id, **{k: v for k, v in dto.items() if k != "_id"}}
        self.users.add(user_id, user)
        self.attempts.grow_users(len(self.users))
        return user

    def create_user(self, dto: dict[str, Any]) -> dict[str, Any]:
        """A new user (control API); fires `user.created`."""
        user = self.add_user({"status": "active", "lang": "en", **dto})
        self.emit("user.created", {"userId": user["_id"], "createdAt": self.now_iso(), **_names(user)})
        return user

    def update_user(self, user: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """Profile changes (control API); fires `user.updated`."""
        user.update({k: v for k, v in changes.items() if k not in ("_id", "status", "deletedAt")})
        for key in [k for k, v in user.items() if v is None]:
            del user[key]
        updatable = ("lang", "custom", "job", "organization", "phone", "toBeDeactivatedAt", "primaryGroupId")
        data = {"userId": user["_id"], "updatedAt": self.now_iso(), **_names(user)}
        data.update({k: user[k] for k in updatable if k in user})
        self.emit("user.updated", data)
        return user

    def delete_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """Soft delete: same `_id`, status `deleted`, a date appended to `deletedAt`; fires `user.deleted`."""
        if user["status"] != "deleted":
            now = self.now_iso()
            user["status"] = "deleted"
            user["deletedAt"] = [*user.get("deletedAt", []), now]
            self.emit("user.deleted", {"userId": user["_id"], "deletedAt": now, **_names(user)})
        return user

    def reactivate_user(self, user: dict[str, Any]) -> dict[str, Any]:
        if user["status"] == "deleted":
            now = self.now_iso()
            user["status"] = "active"
            user["reactivatedAt"] = [*user.get("reactivatedAt", []), now]
            self.emit("user.reactivated", {"userId": user["_id"], "reactivatedAt": now, **_names(user)})
        return user

    def user_row(self, user_id: str) -> int | None:
        return self.users.pos.get(user_id.lower())

    def user_by_mail(self, mail: str) -> int | None:
        # Linear, but only bulk stats imports by mail use it; they are rare and small in tests.
        for i, user in enumerate(self.users.items):
            if user.get("mail") == mail:
                return i
        return None

    # ---- courses ------------------------------------------------------------------------------
    def add_course(
        self, dto: dict[str, Any], meta: CourseMeta | None = None, created_ms: int | None = None
    ) -> int:
        created = created_ms if created_ms is not None else self.now_ms()
        course_id = self.course_ids.next(created // 1000)
        course = {"_id": course_id, **{k: v for k, v in dto.items() if k != "_id"}}
        course.setdefault("createdAt", iso(created))
        course.setdefault("modifiedAt", course["createdAt"])
        row = self.courses.add(course_id, course)
        meta = meta or CourseMeta()
        meta.created_ms = parse_iso(course["createdAt"]) or created
        meta.modified_ms = parse_iso(course["modifiedAt"]) or created
        self.course_meta.append(meta)
        self.attempts.grow_courses(len(self.courses))
        return row

    def course_row(self, course_id: str) -> int | None:
        return self.courses.pos.get(course_id.lower())

    def edit_course(self, row: int, changes: dict[str, Any]) -> dict[str, Any]:
        """A content edit: fields change and `modifiedAt` moves to now."""
        course = self.courses.items[row]
        course.update({k: v for k, v in changes.items() if k not in ("_id", "createdAt", "modifiedAt")})
        now = self.now_ms()
        course["modifiedAt"] = iso(now)
        self.course_meta[row].modified_ms = now
        return course

    def set_course_archived(self, row: int, archived: bool) -> dict[str, Any]:
        """Archive/restore: status moves, `modifiedAt` deliberately does not (vendor-documented)."""
        course = self.courses.items[row]
        course["status"] = "archived" if archived else "published"
        return course

    # ---- attempts -----------------------------------------------------------------------------
    def add_attempt(self, attempt: NewAttempt) -> int:
        row = self.attempts.append(attempt, self.now_ms() // 1000)
        if attempt.completed_ms != NONE:
            self._attempt_closed(row)
        return row

    def update_attempt(
        self,
        row: int,
        *,
        progress: int | None = None,
        time_spent: int | None = None,
        last_ms: int | None = None,
        score: int | None = None,
        first_ms: int | None = None,
    ) -> None:
        a = self.attempts
        was_completed = a.completed[row] != NONE
        if first_ms is not None:
            a.first[row] = first_ms
        if last_ms is not None:
            a.last[row] = max(last_ms, a.first[row])
        if time_spent is not None:
            a.time_spent[row] = time_spent
        if score is not None:
            a.score[row] = score
        if progress is not None:
            a.progress[row] = progress
            if progress == 100 and not was_completed:
                # progress 100 completes the attempt at its last activity (vendor rule for imports).
                a.mark_completed(row, a.last[row])
                self._attempt_closed(row)

    def _attempt_closed(self, row: int) -> None:
        a = self.attempts
        self.emit(
            "course.attempt.closed",
            {
                "attemptId": a.id_of(row),
                "closedAt": iso(a.completed[row]),
                "userId": self.users.ids[a.user[row]],
                "courseId": self.courses.ids[a.course[row]],
                "reason": "learnerFinished",
                "context": dict(zip(("pathId", "pathSessionId"), a.paths[row], strict=True))
                if row in a.paths
                else {},
            },
        )

    def render_attempt(self, row: int) -> dict[str, Any]:
        return self.attempts.render(row, self.courses.ids, self.users.ids, CONTENT_LANGS)

    @staticmethod
    def lang_index(lang: str) -> int:
        return LANG_INDEX.get(lang, LANG_INDEX["en"])


def _names(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("firstName", "lastName", "mail", "username") if k in user}
