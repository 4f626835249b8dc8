"""The Skel LMS connector: everything a connector declares and does, in one small module.

Writes: deactivate a training, enroll and complete, one call per enrollment (Skel LMS has no bulk
API): its batching policy neither coalesces nor batches, unlike 360Learning's bulk imports.

People and enrollments page by offset, trainings by page number: each chain's checkpoint is the offset
or page to fetch next. People and enrollments have no change filter, so every run reads them in full
(and confirms their deletions); trainings have ``updated_since``, so a DELTA reads only what changed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import httpx

from lmsbridge.connectors.base import (
    Chain,
    Connector,
    CredentialField,
    Deletions,
    Dto,
    Json,
    MapContext,
    Page,
    PassthroughApi,
    PlanInput,
    ProbeResult,
    ScopeRequirements,
    StoredConnection,
    Stream,
    SyncMode,
)
from lmsbridge.connectors.errors import InvalidCredentials, NotFound, PermissionMissing, RemoteError
from lmsbridge.connectors.writes import (
    BatchingPolicy,
    Pair,
    SaveProgress,
    WriteActions,
    WriteHost,
    WriteOutcome,
)
from lmsbridge.settings import Settings
from lmsbridge.unified.coverage import ToolCoverage
from lmsbridge.unified.records import (
    CourseProgressionRecord,
    CourseRecord,
    CourseRevisionRecord,
    MappedRecord,
    UserRecord,
)

TOOL = "skel"
PAGE_SIZE = 10
# a scope probe: a page of one item proves a read scope
READ_PROBES = {
    "people:read": "/v1/people",
    "trainings:read": "/v1/trainings",
    "enrollments:read": "/v1/enrollments",
}


def people_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    return {
        "users": [
            UserRecord(
                remote_id=p["id"],
                remote_data=p,
                first_name=p["name"].split(" ")[0],
                last_name=p["name"].split(" ", 1)[-1],
                work_email=p["email"],
                status="ACTIVE" if p["active"] else "INACTIVE",
            )
            for p in items
        ]
    }


def trainings_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    courses: list[MappedRecord] = [CourseRecord(remote_id=t["id"], remote_data=t) for t in items]
    revisions: list[MappedRecord] = [
        CourseRevisionRecord(
            remote_id=t["id"],
            remote_data=t,
            course_remote_id=t["id"],
            title=t["title"],
            status="INACTIVE" if t["archived"] else "ACTIVE",
        )
        for t in items
    ]
    return {"courses": courses, "course_revisions": revisions}


def enrollments_page(items: list[Dto], ctx: MapContext) -> dict[str, list[MappedRecord]]:
    return {
        "course_progressions": [
            CourseProgressionRecord(
                remote_id=e["id"],
                remote_data=e,
                user_remote_id=e["person"],
                course_revision_remote_id=e["training"],
                course_remote_id=e["training"],
                status="COMPLETED" if e["done"] else "ENROLLED",
            )
            for e in items
        ]
    }


PEOPLE = Stream("people", ("users",), people_page, scope="people:read", deletions=Deletions.EVERY_RUN)
TRAININGS = Stream(
    "trainings",
    ("courses", "course_revisions"),
    trainings_page,
    scope="trainings:read",
    replication_key="updated_at",
)
ENROLLMENTS = Stream(
    "enrollments",
    ("course_progressions",),
    enrollments_page,
    scope="enrollments:read",
    after=("people", "trainings"),
    deletions=Deletions.EVERY_RUN,
)
PATHS = {"people": "/v1/people", "trainings": "/v1/trainings", "enrollments": "/v1/enrollments"}


def enrollment_id(pair: Pair) -> str:
    return f"{pair[0]}.{pair[1]}"


def enrollment_record(row: Dto) -> CourseProgressionRecord:
    [record] = enrollments_page([row], MapContext(datetime.now(UTC), {}))["course_progressions"]
    assert isinstance(record, CourseProgressionRecord)
    return record


class SkelWrites(WriteActions):
    batching: ClassVar[BatchingPolicy] = BatchingPolicy(
        courses_per_call=1, progressions_per_call=1, coalesce_progressions=False, calls_in_flight=2
    )
    label: ClassVar[str] = "Skel LMS"

    def __init__(self, connector: SkelConnector) -> None:
        self.connector = connector

    @property
    def tenant_key(self) -> str:
        return self.connector.base_url

    def progression_remote_id(self, pair: Pair) -> str:
        return enrollment_id(pair)

    def pair_of(self, progression_remote_id: str, remote_data: Any) -> Pair:
        return str(remote_data["person"]), str(remote_data["training"])

    def enroll_payload(self, pair: Pair, enrolled_at: datetime) -> Dto:
        return {"id": enrollment_id(pair), "done": False}

    def complete_payload(
        self,
        pair: Pair,
        remote_data: Any,
        *,
        enrolled_at: datetime | None,
        completed_at: datetime,
        score: int | None,
    ) -> Dto:
        return {"id": str(remote_data["id"]), "done": True}

    def provisional(
        self,
        pair: Pair,
        remote_data: Any,
        *,
        status: str,
        enrolled_at: datetime | None,
        completed_at: datetime | None,
    ) -> CourseProgressionRecord:
        row = dict(remote_data or {"id": enrollment_id(pair), "person": pair[0], "training": pair[1]})
        row["done"] = status == "COMPLETED"
        return enrollment_record(row)

    def payload_key(self, payload: Dto) -> str:
        return json.dumps(payload, sort_keys=True)

    async def write_progressions(
        self, payloads: Sequence[Dto], progress: Dto, save: SaveProgress, host: WriteHost
    ) -> tuple[dict[str, WriteOutcome], Dto]:
        outcomes = {}
        for payload in payloads:  # one per call, as the policy says
            self.connector.calls += 1
            path = f"/v1/enrollments/{payload['id']}"
            response = await self.connector.http.put(path, json={"done": payload["done"]})
            row = self.connector._answer(response, path)
            outcomes[self.payload_key(payload)] = WriteOutcome(True, remote_id=str(row["id"]))
        return outcomes, {}

    async def read_progressions(self, pairs: Sequence[Pair]) -> dict[Pair, CourseProgressionRecord | None]:
        found: dict[Pair, CourseProgressionRecord | None] = {}
        for pair in pairs:
            try:
                found[pair] = enrollment_record(
                    await self.connector._get(f"/v1/enrollments/{enrollment_id(pair)}")
                )
            except NotFound:
                found[pair] = None
        return found


class SkelConnector(Connector):
    tool: ClassVar[str] = TOOL
    write_actions_class: ClassVar[type[WriteActions]] = SkelWrites
    streams: ClassVar[tuple[Stream, ...]] = (PEOPLE, TRAININGS, ENROLLMENTS)
    passthrough_apis: ClassVar[tuple[PassthroughApi, ...]] = (
        PassthroughApi(TOOL, "v1", "/v1/", "Skel LMS API v1"),
    )
    # one API key; no named hosts: the user types the tenant's base URL
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField("api_key", "API key", secret=True),
    )
    coverage: ClassVar[ToolCoverage] = ToolCoverage(
        id=TOOL,
        label="Skel LMS",
        logo_url="about:blank",
        icon_url="about:blank",
        beta=True,
        read_models={
            "lms_users": frozenset({"id", "remote_id", "first_name", "last_name", "work_email", "status"}),
            "lms_courses": frozenset({"id", "remote_id"}),
            "lms_course_revisions": frozenset({"id", "remote_id", "course_id", "title", "status"}),
            "lms_course_progressions": frozenset(
                {"id", "remote_id", "user_id", "course_revision_id", "status"}
            ),
        },
        write_actions=frozenset({"lms_deactivate_course", "lms_enroll_user", "lms_complete_course"}),
    )
    scopes: ClassVar[ScopeRequirements] = ScopeRequirements(
        models={
            "lms_users": ("people:read",),
            "lms_courses": ("trainings:read",),
            "lms_course_revisions": ("trainings:read",),
            "lms_course_progressions": ("enrollments:read",),
        },
        actions={
            "lms_deactivate_course": ("trainings:write",),
            "lms_enroll_user": ("enrollments:write",),
            "lms_complete_course": ("enrollments:write",),
        },
    )

    def __init__(self, base_url: str, api_key: str) -> None:
        self._base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, headers={"X-Api-Key": api_key}, timeout=10)
        self.calls = 0
        self._writes = SkelWrites(self)

    @classmethod
    def connection_from_input(
        cls, *, host: str, credentials: Mapping[str, Any], settings: Mapping[str, Any] | None = None
    ) -> StoredConnection:
        if not str(credentials.get("api_key") or ""):
            raise ValueError("Skel LMS needs an api_key")
        return StoredConnection(
            host.rstrip("/"), {"api_key": str(credentials["api_key"])}, dict(settings or {})
        )

    @classmethod
    def from_connection(
        cls,
        connection: StoredConnection,
        *,
        app_settings: Settings | None = None,
        reads_per_second: float | None = None,
        writes_per_second: float | None = None,
    ) -> Self:
        return cls(connection.base_url, str(connection.credentials["api_key"]))

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        self.calls += 1
        response = await self.http.get(path, params=params)
        return self._answer(response, path)

    def _answer(self, response: httpx.Response, path: str) -> Any:
        if response.status_code == 401:
            raise InvalidCredentials("Skel LMS refused the API key")
        if response.status_code == 403:
            raise PermissionMissing(response.json()["detail"]["missing_scope"])
        if response.status_code == 404:
            raise NotFound(404, None, response.text, response.request.method, path)
        if response.is_error:
            raise RemoteError(response.status_code, None, response.text, response.request.method, path)
        return response.json()

    async def verify_credentials(self) -> None:
        await self._get("/v1/people", {"limit": 1})

    @property
    def api_calls(self) -> int:
        return self.calls

    async def aclose(self) -> None:
        await self.http.aclose()

    def plan(self, stream: Stream, given: PlanInput) -> list[Chain]:
        if stream is TRAININGS and given.mode is SyncMode.DELTA and given.since is not None:
            since = given.since.isoformat().replace("+00:00", "Z")
            return [Chain(stream.name, "trainings:updated", {"updated_since": since}, full=False)]
        return [Chain(stream.name, stream.name)]

    async def fetch(self, chain: Chain, checkpoint: Json | None) -> AsyncGenerator[Page, None]:
        path = PATHS[chain.stream]
        if chain.stream == "trainings":  # page numbers
            page = int(checkpoint["page"]) if checkpoint else 1
            while True:
                body = await self._get(path, {"page": page, "per_page": PAGE_SIZE // 2, **chain.request})
                more = body["page"] < body["pages"]
                yield Page(body["items"], {"page": page + 1} if more else None)
                if not more:
                    return
                page += 1
        offset = int(checkpoint["offset"]) if checkpoint else 0  # offsets
        while True:
            body = await self._get(path, {"offset": offset, "limit": PAGE_SIZE})
            offset += len(body["data"])
            more = offset < body["total"] and bool(body["data"])
            yield Page(body["data"], {"offset": offset} if more else None)
            if not more:
                return

    async def fetch_record(self, stream: Stream, remote_id: str) -> Dto:
        item: Dto = await self._get(f"{PATHS[stream.name]}/{remote_id}")
        return item

    @classmethod
    def probed_scopes(cls) -> tuple[str, ...]:
        return (*READ_PROBES, "trainings:write", "enrollments:write")

    async def probe_scopes(self) -> Sequence[ProbeResult]:
        results = []
        for scope, path in READ_PROBES.items():
            try:
                await self._get(path, {"limit": 1} if path != "/v1/trainings" else {"per_page": 1})
                results.append(ProbeResult(scope, "granted", f"GET {path} answered"))
            except PermissionMissing:
                results.append(ProbeResult(scope, "missing", f"GET {path} answered 403", 403))
        # archiving a training that cannot exist: 403 before the lookup means the scope is missing
        self.calls += 1
        response = await self.http.post("/v1/trainings/-/archive")
        status = "missing" if response.status_code == 403 else "granted"
        results.append(ProbeResult("trainings:write", status, f"POST answered {response.status_code}"))
        # an enrollment id that names nobody: 403 before the 400 means the scope is missing
        self.calls += 1
        response = await self.http.put("/v1/enrollments/-", json={})
        status = "missing" if response.status_code == 403 else "granted"
        results.append(ProbeResult("enrollments:write", status, f"PUT answered {response.status_code}"))
        return results

    def write_actions(self) -> SkelWrites:
        return self._writes

    async def deactivate_course(self, remote_id: str) -> Dto:
        self.calls += 1
        response = await self.http.post(f"/v1/trainings/{remote_id}/archive")
        item: Dto = self._answer(response, "/v1/trainings/{id}/archive")
        return item

    @property
    def base_url(self) -> str:
        return self._base_url
