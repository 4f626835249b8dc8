"""360Learning's write actions: courses through bulk course upserts and enrollments/completions through
statistics imports, both bulk operations of lmsbridge's own 360Learning integration (the course
provider), polled until they end; afterwards the courses and attempts are read back.

Batching: one bulk operation carries up to 10,000 items, a company runs at most 3 at once, and
enroll/complete calls close together are coalesced into one import (statistics imports are costly).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from lmsbridge.connectors.errors import NotFound, RemoteError
from lmsbridge.connectors.learning360 import mapping, writes
from lmsbridge.connectors.learning360 import write_mapping as wm
from lmsbridge.connectors.learning360.client import Learning360Client
from lmsbridge.connectors.learning360.config import Learning360Config
from lmsbridge.connectors.learning360.query import encode_filters
from lmsbridge.connectors.writes import (
    BatchingPolicy,
    CourseInput,
    Dto,
    Json,
    OperationTimedOut,
    Pair,
    SaveProgress,
    WriteActions,
    WriteHost,
    WriteOutcome,
)
from lmsbridge.unified.records import CourseProgressionRecord, MappedRecord

DEFAULT_PROVIDER_NAME = "lmsbridge"
# the connector's own integration, kept in the integration's connector state across processes
PROVIDER_STATE_KEY = "provider_integration"
# course reads after the upsert run this many at a time (under the company's read budget)
PARALLEL_READS = 8
# above this many upserted courses, read them back with one scan of recently modified courses
SCAN_ABOVE = 20
LABEL = "360Learning"


class Learning360Writes(WriteActions):
    batching: ClassVar[BatchingPolicy] = BatchingPolicy(
        courses_per_call=wm.COURSES_PER_IMPORT,
        progressions_per_call=wm.STATS_PER_IMPORT,
        coalesce_progressions=True,
        calls_in_flight=3,  # 360Learning runs at most 3 bulk operations per company at once
    )
    label: ClassVar[str] = LABEL

    def __init__(self, client: Learning360Client, config: Learning360Config) -> None:
        self.client = client
        self.config = config
        self.provider_name = config.settings.provider_name or DEFAULT_PROVIDER_NAME
        self.provider: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def tenant_key(self) -> str:
        return self.config.company_key

    async def prepare(self, host: WriteHost) -> None:
        """Find or create the connector's own 360Learning integration (``IntegrationDTO``) on first use;
        its id is kept in the connector state so restarts and other processes reuse it."""
        if self.provider is not None:
            return
        async with self._lock:
            if self.provider is not None:
                return
            state = await host.load_state()
            known = state.get(PROVIDER_STATE_KEY)
            dto = await writes.ensure_provider_integration(
                self.client,
                provider_name=self.provider_name,
                author_id=self.config.settings.author_id,
                known_id=str(known["_id"]) if isinstance(known, dict) and known.get("_id") else None,
            )
            if known != dto:
                await host.save_state({**state, PROVIDER_STATE_KEY: dto})
            self.provider = dto

    def _provider(self) -> dict[str, Any]:
        if self.provider is None:
            raise RuntimeError("prepare() first")
        return self.provider

    def forget(self, exc: BaseException) -> bool:
        if isinstance(exc, NotFound) and exc.code == "integrationNotFound":
            # the connector's 360Learning integration was deleted: find or create it again next time
            self.provider = None
            return True
        return False

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, RemoteError) and exc.code == "bulkOperationsConcurrencyLimitReached"

    def explain(self, exc: BaseException) -> tuple[str, str] | None:
        if isinstance(exc, RemoteError) and exc.code == "bulkAPIDisabled":
            return "REMOTE.SERVICE_UNAVAILABLE", "360Learning's bulk API is disabled for this tenant"
        return None

    # ---- bulk operations ----

    async def poll(self, operation_id: str, host: WriteHost) -> dict[str, Any]:
        """Wait for a bulk operation to end (completed or error); raises ``OperationTimedOut``. The
        bulk.operation.ended webhook ends a wait early (``host.wait``); polling stays the fallback."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + host.timing.operation_timeout_s
        interval = host.timing.poll_initial_s
        try:
            while True:
                operation = await writes.get_operation(self.client, operation_id)
                if operation.get("status") in wm.FINISHED_STATES:
                    return operation
                if loop.time() >= deadline:
                    raise OperationTimedOut(f"bulk operation {operation_id} did not finish in time")
                await host.wait(operation_id, interval)
                interval = min(interval * 1.5, host.timing.poll_max_s)
        finally:
            host.done_waiting(operation_id)

    async def _poll_known(self, operation_id: str, host: WriteHost) -> dict[str, Any] | None:
        """Resume polling an operation submitted earlier; None when 360Learning no longer knows it
        (then the items are submitted again: upserts and these imports are safe to repeat)."""
        try:
            return await self.poll(operation_id, host)
        except NotFound as exc:
            if exc.code == "bulkOperationNotFound":
                return None
            raise

    # ---- upsert courses ----

    def upsert_payload(self, origin_id: str, course: CourseInput, settings: Mapping[str, Any]) -> Json:
        provider_name = str(settings.get("provider_name") or DEFAULT_PROVIDER_NAME)
        return wm.external_course_item(origin_id, course, provider_name)

    async def upsert_courses(
        self, payloads: Sequence[Json], progress: Json, save: SaveProgress, host: WriteHost
    ) -> list[WriteOutcome]:
        provider = self._provider()
        operation = None
        if progress.get("operation_id"):
            operation = await self._poll_known(str(progress["operation_id"]), host)
        if operation is None:  # not submitted yet, or 360Learning no longer knows the operation
            progress["operation_id"] = await writes.submit_course_upsert(
                self.client, provider["_id"], payloads
            )
            await save(progress)
            operation = await self.poll(str(progress["operation_id"]), host)
        progress["since"] = operation.get("createdAt")
        if operation.get("status") == "error":
            message = (
                f"360Learning's bulk operation failed: {operation.get('errorMessage') or 'no reason given'}"
            )
            return [WriteOutcome(False, code="REMOTE.UNKNOWN_HTTP_ERROR", error=message) for _ in payloads]
        results = await writes.get_results(self.client, str(progress["operation_id"]))
        matched = wm.match_results(payloads, results)
        outcomes: list[WriteOutcome] = []
        for item in payloads:
            outcome = matched[wm.input_key(item)]
            if not outcome.ok:
                outcomes.append(WriteOutcome(False, code="REMOTE.INPUT_INVALID", error=outcome.error))
                continue
            course_id = outcome.resource_id if wm.is_object_id(outcome.resource_id) else None
            if course_id is None:  # resourceId is not documented as the course id: ask by externalId
                course_id = await writes.external_course_id(
                    self.client, str(provider["_id"]), str(item["externalId"])
                )
            if course_id is None:
                outcomes.append(
                    WriteOutcome(
                        False,
                        code="REMOTE.UNKNOWN_HTTP_ERROR",
                        error="360Learning did not tell the course id",
                    )
                )
            else:
                outcomes.append(WriteOutcome(True, remote_id=course_id))
        return outcomes

    async def read_courses(self, remote_ids: Sequence[str], since: str | None) -> dict[str, Dto]:
        """Many courses: one scan of the courses modified since the first operation (500 per page)
        instead of one call each; the rest one by one."""
        wanted = list(dict.fromkeys(remote_ids))
        found: dict[str, dict[str, Any]] = {}
        started = mapping.parse_datetime(since) if since else None
        if len(wanted) > SCAN_ABOVE and started is not None:
            # filter dates have whole seconds at 360Learning: start one second earlier
            params = encode_filters({"modifiedAt": {"gte": started - timedelta(seconds=1)}})
            pending = set(wanted)
            async for page in self.client.iter_pages("/api/v2/courses", params):
                for dto in page.items:
                    if dto.get("_id") in pending:
                        found[str(dto["_id"])] = dict(dto)
        limit = asyncio.Semaphore(PARALLEL_READS)

        async def one(course_id: str) -> tuple[str, dict[str, Any]]:
            async with limit:
                dto = found.get(course_id) or await writes.get_course(self.client, course_id)
                if dto.get("status") == "archived":
                    # upserting a deactivated course makes it available again (360Learning's replace
                    # keeps the archived status, so restore it explicitly)
                    dto = await writes.archive_course(self.client, course_id, archived=False)
                return course_id, dto

        return dict(await asyncio.gather(*(one(c) for c in wanted)))

    def course_records(
        self,
        item: Dto,
        origin_id: str | None,
        observed_at: datetime,
        stored_provider: str | None,
        *,
        own_provider: bool,
    ) -> list[MappedRecord]:
        if own_provider and self.provider is not None:
            providers = mapping.ProviderIndex.from_integrations([self.provider])
        elif stored_provider is not None:
            # keep a provider the sync found (deactivate of a course of another integration)
            providers = mapping.ProviderIndex(
                by_platform={str(item.get("externalPlatform")): stored_provider}
            )
        else:
            providers = mapping.ProviderIndex()
        return list(mapping.course_records(item, providers, observed_at=observed_at, origin_id=origin_id))

    def provider_records(self) -> list[MappedRecord]:
        return [mapping.provider_record(self.provider)] if self.provider is not None else []

    # ---- enroll and complete ----

    def progression_refusal(
        self, course_remote_data: Any, course_provider_remote_id: str | None, action: str
    ) -> str | None:
        """Only external courses of the connector's own 360Learning integration accept statistics."""
        provider = self._provider()
        dto = (course_remote_data or {}).get(mapping.COURSES_KEY) or {}
        platform = provider.get("externalPlatform")
        if dto.get("type") != "external":
            kind = str(dto.get("type") or "native")
            return (
                f"it is a {kind} 360Learning course, and 360Learning's API v2 can {action} users only in "
                f"external courses of lmsbridge's own integration {platform!r} (upsert courses through "
                "POST /lms/courses/bulk)."
            )
        ours = course_provider_remote_id == str(provider.get("_id")) or (
            dto.get("externalPlatform") == platform and dto.get("groupId") == provider.get("groupId")
        )
        if not ours:
            return (
                f"it is an external course of the 360Learning integration {dto.get('externalPlatform')!r}, "
                f"and 360Learning accepts statistics only for courses of lmsbridge's own integration "
                f"{platform!r}."
            )
        return None

    def progression_remote_id(self, pair: Pair) -> str:
        return mapping.progression_remote_id(*pair)

    def pair_of(self, progression_remote_id: str, remote_data: Any) -> Pair:
        return mapping.split_progression_remote_id(progression_remote_id)

    def enroll_payload(self, pair: Pair, enrolled_at: datetime) -> Json:
        return wm.enroll_stat_item(pair[0], pair[1], enrolled_at)

    def complete_payload(
        self,
        pair: Pair,
        remote_data: Any,
        *,
        enrolled_at: datetime | None,
        completed_at: datetime,
        score: int | None,
    ) -> Json:
        return wm.complete_stat_item(
            pair[0],
            pair[1],
            attempts=mapping.attempts_from_remote_data(remote_data),
            enrolled_at=enrolled_at,
            completed_at=completed_at,
            score=score,
        )

    def provisional(
        self,
        pair: Pair,
        remote_data: Any,
        *,
        status: str,
        enrolled_at: datetime | None,
        completed_at: datetime | None,
    ) -> CourseProgressionRecord:
        attempts = mapping.attempts_from_remote_data(remote_data)
        return CourseProgressionRecord(
            remote_id=mapping.progression_remote_id(*pair),
            remote_data={mapping.STATS_KEY: attempts},
            user_remote_id=pair[0],
            course_revision_remote_id=pair[1],
            course_remote_id=pair[1],
            status=status,  # type: ignore[arg-type]
            enrolled_at=enrolled_at,
            completed_at=completed_at,
        )

    def payload_key(self, payload: Json) -> str:
        return wm.input_key(payload)

    async def write_progressions(
        self, payloads: Sequence[Json], progress: Json, save: SaveProgress, host: WriteHost
    ) -> tuple[dict[str, WriteOutcome], Json]:
        provider = self._provider()
        operation_id = str(progress.get("operation_id") or "")
        operation = await self._poll_known(operation_id, host) if operation_id else None
        if operation is None:  # not submitted yet, or 360Learning no longer knows the operation
            operation_id = await writes.submit_stats_import(self.client, str(provider["_id"]), payloads)
            await save({"operation_id": operation_id, "items": len(payloads)})
            operation = await self.poll(operation_id, host)
        if operation.get("status") == "error":
            failed = (
                "360Learning's statistics import failed: "
                f"{operation.get('errorMessage') or 'no reason given'}"
            )
            matched = {wm.input_key(p): wm.ItemOutcome(False, error=failed) for p in payloads}
        else:
            matched = wm.match_results(payloads, await writes.get_results(self.client, operation_id))
        outcomes = {
            key: WriteOutcome(
                o.ok, remote_id=o.resource_id, code=None if o.ok else "REMOTE.INPUT_INVALID", error=o.error
            )
            for key, o in matched.items()
        }
        return outcomes, {"operation_id": operation_id, "status": operation.get("status")}

    async def read_progressions(self, pairs: Sequence[Pair]) -> dict[Pair, CourseProgressionRecord | None]:
        attempts = await writes.pair_attempts(self.client, pairs)
        return {
            pair: mapping.progression_from_attempts(pair[0], pair[1], found) if found else None
            for pair, found in attempts.items()
        }

    def matches_ref(self, remote_data: Any, ref: str) -> bool:
        """A remote id of one attempt (what 360Learning calls it) names its (user, course) pair."""
        return any(str(a.get("_id")) == ref for a in mapping.attempts_from_remote_data(remote_data))

    def log_target(self, kind: str, state: Json) -> str:
        provider = self.provider["_id"] if self.provider else "-"
        if kind == "courses":
            return f"/api/v2/bulk/integrations/{provider}/courses"
        return f"/api/v2/bulk/integrations/{provider}/stats"
