"""The write side of a connector: what the action worker asks of an LMS to upsert courses, enroll users
and complete progressions, and how the connector wants those calls batched.

Store-free like every connector module: the action machinery (``lmsbridge.actions``) keeps the tasks,
their retries and the store writes; a ``WriteActions`` turns validated requests into remote payloads,
sends them (resuming from the progress it saved), and reads back what the LMS now shows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from lmsbridge.unified.records import CourseProgressionRecord, MappedRecord

Json = dict[str, Any]
Dto = dict[str, Any]
# (user remote id, course remote id): what an enrollment or a completion is about
Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class BatchingPolicy:
    """How a connector's write calls are cut into remote calls.

    ``courses_per_call``: courses one upsert call carries. ``progressions_per_call``: enroll/complete
    items one call carries (1: one call per item). ``coalesce_progressions``: enroll/complete calls of
    one integration that arrive close together wait for each other and share a call (the window is the
    worker's ``ActionOptions.batch_window_s``); without it each is sent as soon as it is due.
    ``calls_in_flight``: remote write calls one tenant runs at once (``WriteActions.tenant_key``).
    """

    courses_per_call: int
    progressions_per_call: int
    coalesce_progressions: bool
    calls_in_flight: int


@dataclass(frozen=True, slots=True)
class CourseInput:
    """One validated Kombo ``EXTERNAL`` course of an upsert request."""

    title: str
    course_url: str
    description: str | None = None
    thumbnail_url: str | None = None
    duration: int | None = None
    languages: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What the LMS said of one written item: ``remote_id`` is the course (upsert) or the record the
    write made (enroll/complete); a failure carries a Kombo error code and a message."""

    ok: bool
    remote_id: str | None = None
    code: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WriteTiming:
    """How long to wait for an LMS that processes writes asynchronously (tests shrink the numbers)."""

    poll_initial_s: float = 0.25
    poll_max_s: float = 5.0
    operation_timeout_s: float = 600.0


class OperationTimedOut(Exception):
    """An asynchronous remote write did not finish within ``WriteTiming.operation_timeout_s``."""


class WriteHost(Protocol):
    """What the action worker lends a connector's writes: the integration's durable connector state
    (e.g. an object the connector created in the LMS once), and waiting that an event can end early."""

    timing: WriteTiming

    async def load_state(self) -> Json: ...

    async def save_state(self, state: Json) -> None: ...

    async def wait(self, key: str, seconds: float) -> None:
        """Sleep up to ``seconds``; returns at once when an event said ``key`` ended."""
        ...

    def done_waiting(self, key: str) -> None:
        """No more waits on ``key`` (its operation ended)."""
        ...


# saves a task's remote progress (submitted operation ids …) so a restarted worker resumes it
SaveProgress = Callable[[Json], Awaitable[None]]


class WriteActions(ABC):
    """A connector's write actions on one tenant. Made by ``Connector.write_actions``; its HTTP client
    is the connector's (closed with it)."""

    batching: ClassVar[BatchingPolicy]
    # label of the LMS in messages users read (e.g. warnings of asynchronous writes)
    label: ClassVar[str]

    @property
    @abstractmethod
    def tenant_key(self) -> str:
        """Integrations with the same key share ``batching.calls_in_flight`` (e.g. one company)."""

    async def prepare(self, host: WriteHost) -> None:
        """Whatever the tenant needs before writes (e.g. find or create the connector's own objects,
        kept in ``host``'s state)."""
        return None

    def forget(self, exc: BaseException) -> bool:
        """A write failed with ``exc``: drop what ``prepare`` found if it is gone (prepare again next
        time); True when that makes the failure worth retrying."""
        return False

    def is_transient(self, exc: BaseException) -> bool:
        """``exc`` is the LMS being busy (retry the task later), not a failure of the request."""
        return False

    def explain(self, exc: BaseException) -> tuple[str, str] | None:
        """A Kombo error code and message for an LMS-specific failure (None: the generic translation)."""
        return None

    # ---- upsert courses ----

    def upsert_payload(self, origin_id: str, course: CourseInput, settings: Mapping[str, Any]) -> Json:
        """The remote payload of one course (pure; ``settings`` are the integration's)."""
        raise NotImplementedError(f"{self.label} cannot upsert courses")

    async def upsert_courses(
        self, payloads: Sequence[Json], progress: Json, save: SaveProgress, host: WriteHost
    ) -> list[WriteOutcome]:
        """Send one batch (at most ``courses_per_call``); ``progress`` is what ``save`` kept when an
        earlier attempt of the batch stopped. One outcome per payload, in order; ``remote_id`` is the
        course's remote id."""
        raise NotImplementedError(f"{self.label} cannot upsert courses")

    async def read_courses(self, remote_ids: Sequence[str], since: str | None) -> dict[str, Dto]:
        """The upserted courses as the stream that reads courses serves them (``since``: when the first
        batch was accepted, from the progress); an upsert also makes a deactivated course active."""
        raise NotImplementedError(f"{self.label} cannot upsert courses")

    def course_records(
        self,
        item: Dto,
        origin_id: str | None,
        observed_at: datetime,
        stored_provider: str | None,
        *,
        own_provider: bool,
    ) -> list[MappedRecord]:
        """The store records of a course item an upsert or a deactivation returned (``stored_provider``:
        the remote id of the course provider the store already links the course to, if any;
        ``own_provider``: the course was upserted by the connector, so it belongs to its own provider)."""
        raise NotImplementedError(f"{self.label} cannot write courses")

    def provider_records(self) -> list[MappedRecord]:
        """Records of the connector's own objects the upserted courses refer to (its course provider)."""
        return []

    # ---- enroll and complete ----

    def progression_refusal(
        self, course_remote_data: Any, course_provider_remote_id: str | None, action: str
    ) -> str | None:
        """Why this stored course cannot take ``action`` ("enroll", "complete"; None: it can). The
        message continues "Cannot enroll course X: "."""
        return None

    def progression_remote_id(self, pair: Pair) -> str:
        """The remote id of the progression of a (user, course) pair (what the sync stores)."""
        raise NotImplementedError(f"{self.label} cannot enroll users")

    def pair_of(self, progression_remote_id: str, remote_data: Any) -> Pair:
        """The (user, course) pair of a stored progression."""
        raise NotImplementedError(f"{self.label} cannot complete progressions")

    def enroll_payload(self, pair: Pair, enrolled_at: datetime) -> Json:
        raise NotImplementedError(f"{self.label} cannot enroll users")

    def complete_payload(
        self,
        pair: Pair,
        remote_data: Any,
        *,
        enrolled_at: datetime | None,
        completed_at: datetime,
        score: int | None,
    ) -> Json:
        raise NotImplementedError(f"{self.label} cannot complete progressions")

    def provisional(
        self,
        pair: Pair,
        remote_data: Any,
        *,
        status: str,
        enrolled_at: datetime | None,
        completed_at: datetime | None,
    ) -> CourseProgressionRecord:
        """The progression an enroll or complete returns before the LMS confirmed it (its final id;
        ``remote_data``: what is stored of the progression, None for a new one)."""
        raise NotImplementedError(f"{self.label} cannot enroll users")

    def payload_key(self, payload: Json) -> str:
        """Payloads with the same key are the same write (sent once per call)."""
        raise NotImplementedError(f"{self.label} cannot enroll users")

    async def write_progressions(
        self, payloads: Sequence[Json], progress: Json, save: SaveProgress, host: WriteHost
    ) -> tuple[dict[str, WriteOutcome], Json]:
        """Send one call of enroll/complete payloads (at most ``progressions_per_call``, distinct
        keys), resuming from ``progress``; the outcome of each by ``payload_key`` and what the call's
        result records (e.g. its operation id)."""
        raise NotImplementedError(f"{self.label} cannot enroll users")

    async def read_progressions(self, pairs: Sequence[Pair]) -> dict[Pair, CourseProgressionRecord | None]:
        """What the LMS shows for each pair now (None: no progression, the enrollment did not happen)."""
        raise NotImplementedError(f"{self.label} cannot enroll users")

    def matches_ref(self, remote_data: Any, ref: str) -> bool:
        """A stored progression answers to ``remote:<ref>`` besides its remote id (e.g. one of the
        attempts it is made of)."""
        return False

    def log_target(self, kind: str, state: Json) -> str:
        """What the action log shows as the call's URL (no secrets)."""
        return kind
