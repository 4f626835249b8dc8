"""The bulk engine: 202 + Location, pending → queued → running → completed|error on the sandbox clock,
per-item results, at most N non-terminal operations per company, and the bulk read endpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmsbridge.sandbox.learning360 import validate, writes
from lmsbridge.sandbox.learning360.errors import ApiError, json_response, not_found
from lmsbridge.sandbox.learning360.http import base_url, endpoint, json_body, paginate, path_id, tenant_of
from lmsbridge.sandbox.learning360.query import spec
from lmsbridge.sandbox.learning360.tenant import Collection, Tenant
from lmsbridge.sandbox.learning360.timefmt import iso
from lmsbridge.sandbox.learning360.traffic import Traffic
from lmsbridge.sandbox.learning360.vocab import BULK_STATUSES, BULK_TYPES

TERMINAL = ("completed", "error")
LIMITS = {
    "importExternalCourses": 10_000,
    "importExternalStatistics": 10_000,
    "archiveExternalCourses": 1_000,
}
ItemFn = Callable[[Tenant, dict[str, Any], Any], tuple[str | None, str | None]]


@dataclass
class BulkOperation:
    id: str
    type: str
    integration_id: str
    items: list[Any]
    created_ms: int
    status: str = "pending"
    queued_ms: int | None = None
    started_ms: int | None = None
    ended_ms: int | None = None
    progress_index: int = 0
    progress_ms: int | None = None
    error_message: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_id": self.id,
            "type": self.type,
            "createdAt": iso(self.created_ms),
            "status": self.status,
        }
        if self.queued_ms is not None:
            out["queuedAt"] = iso(self.queued_ms)
        if self.started_ms is not None:
            out["startedAt"] = iso(self.started_ms)
            out["progress"] = {
                "index": self.progress_index,
                "updatedAt": iso(self.progress_ms or self.started_ms),
            }
        if self.ended_ms is not None:
            out["endedAt"] = iso(self.ended_ms)
        if self.error_message is not None:
            out["errorMessage"] = self.error_message
        return out


class BulkEngine:
    def __init__(self, tenant: Tenant, traffic: Traffic) -> None:
        self.tenant = tenant
        self.traffic = traffic
        self.operations: Collection[BulkOperation] = Collection()

    def active(self) -> int:
        return sum(1 for op in self.operations.items if op.status not in TERMINAL)

    def submit(self, op_type: str, integration_id: str, items: list[Any]) -> BulkOperation:
        self.tick()
        config = self.tenant.config
        if self.active() >= config.max_concurrent_bulk:
            self.traffic.counters.bulk_concurrency_rejections += 1
            raise ApiError(
                429,
                "bulkOperationsConcurrencyLimitReached",
                f"At most {config.max_concurrent_bulk} bulk operations may run at the same time.",
            )
        now = self.tenant.now_ms()
        op = BulkOperation(self.tenant.misc_ids.next(now // 1000), op_type, integration_id, items, now)
        self.operations.add(op.id, op)
        self.tenant.emit(
            "bulk.operation.created", {"bulkOperationId": op.id, "type": op.type, "createdAt": iso(now)}
        )
        self.tick()
        return op

    def tick(self) -> None:
        """Move every operation along its timeline as far as the sandbox clock allows."""
        config, now = self.tenant.config, self.tenant.now_ms()
        for op in self.operations.items:
            if op.status in TERMINAL:
                continue
            if op.status == "pending" and now >= op.created_ms + config.bulk_queue_s * 1000:
                op.status, op.queued_ms = "queued", op.created_ms + int(config.bulk_queue_s * 1000)
            if (
                op.status == "queued"
                and op.queued_ms is not None
                and now >= op.queued_ms + config.bulk_start_s * 1000
            ):
                op.status, op.started_ms = "running", op.queued_ms + int(config.bulk_start_s * 1000)
                op.progress_ms = op.started_ms
            if op.status == "running" and op.started_ms is not None:
                ends = op.started_ms + int(config.bulk_run_s * 1000)
                if now >= ends:
                    self._run(op, ends)
                elif config.bulk_run_s:
                    done = (now - op.started_ms) / (config.bulk_run_s * 1000)
                    op.progress_index, op.progress_ms = int(done * max(len(op.items) - 1, 0)), now

    def _run(self, op: BulkOperation, ended_ms: int) -> None:
        fn: ItemFn = {
            "importExternalCourses": _upsert,
            "archiveExternalCourses": writes.archive_external_course,
            "importExternalStatistics": _stats,
        }[op.type]
        integration = self.tenant.integrations.get(op.integration_id)
        if integration is None:
            op.status, op.error_message = "error", "The integration no longer exists."
        else:
            for item in op.items:
                resource, problem = fn(self.tenant, integration, item)
                if problem is None:
                    op.results.append({"input": item, "status": "success", "resourceId": resource})
                else:
                    op.results.append({"input": item, "status": "error", "errorMessage": problem})
            op.status = "completed"
        op.ended_ms = ended_ms
        op.progress_index, op.progress_ms = max(len(op.items) - 1, 0), ended_ms
        op.items = []  # results keep the inputs; free the queue copy
        self.traffic.counters.bulk_operations_run += 1
        self.tenant.emit(
            "bulk.operation.ended",
            {
                "bulkOperationId": op.id,
                "type": op.type,
                "createdAt": iso(op.created_ms),
                "endedAt": iso(ended_ms),
                "status": op.status,
            },
        )


def _upsert(tenant: Tenant, integration: dict[str, Any], item: Any) -> tuple[str | None, str | None]:
    problem = validate.external_course_problem(item)
    return (None, problem) if problem else writes.upsert_external_course(tenant, integration, item)


def _stats(tenant: Tenant, integration: dict[str, Any], item: Any) -> tuple[str | None, str | None]:
    problem = validate.stats_problem(item)
    return (None, problem) if problem else writes.import_statistic(tenant, integration, item)


def engine_of(request: Request) -> BulkEngine:
    engine: BulkEngine = request.app.state.bulk
    return engine


def _submitter(op_type: str) -> Callable[[Request], Any]:
    async def submit(request: Request) -> Response:
        tenant, engine = tenant_of(request), engine_of(request)
        if not tenant.config.bulk_enabled:
            raise ApiError(503, "bulkAPIDisabled", "The bulk API is disabled for this company.")
        integration_id = path_id(request, "integrationId")
        if tenant.integrations.get(integration_id) is None:
            raise not_found(
                "integrationNotFound", "The given `integrationId` does not correspond to any integration."
            )
        body = await json_body(request)
        items = body.get("input") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ApiError(400, "invalidInput", "The input of a bulk operation must be an array.")
        limit = LIMITS[op_type]
        if len(items) > limit:
            raise ApiError(
                400, "inputTooLong", f"The input array size exceeds the maximum limit of {limit:,} objects."
            )
        op = engine.submit(op_type, integration_id, items)
        return Response(
            status_code=202, headers={"Location": f"{base_url(request)}/api/v2/bulk/operations/{op.id}"}
        )

    return endpoint("integrations:bulk")(submit)


OPERATION_FILTERS = {
    "createdAt": spec("date", "lt", "gte"),
    "status": spec("string", "eq", enum=BULK_STATUSES),
    "type": spec("string", "eq", enum=BULK_TYPES),
}


def _operation_value(op: BulkOperation, name: str) -> Any:
    return {"createdAt": op.created_ms, "status": op.status, "type": op.type}[name]


@endpoint("bulkOperations:read")
async def list_operations(request: Request) -> Response:
    engine = engine_of(request)
    engine.tick()

    def source(filters: Any, after: str | None, size: int) -> tuple[list[dict[str, Any]], str | None]:
        from lmsbridge.sandbox.learning360.pages import take

        checks = list(filters.items())
        from lmsbridge.sandbox.learning360.query import match_value

        ops, more = take(
            engine.operations.items[engine.operations.start_after(after) :],
            lambda op: all(match_value(_operation_value(op, n), o) for n, o in checks),
            size,
        )
        return [op.render() for op in ops], (ops[-1].id if more and ops else None)

    return paginate(request, "bulk_operations", "bulk_operations", OPERATION_FILTERS, source)


def _operation(request: Request) -> BulkOperation:
    engine = engine_of(request)
    engine.tick()
    op = engine.operations.get(path_id(request, "bulkOperationId"))
    if op is None:
        raise not_found(
            "bulkOperationNotFound", "The given `bulkOperationId` does not correspond to any operation."
        )
    return op


@endpoint("bulkOperations:read")
async def get_operation(request: Request) -> Response:
    return json_response(_operation(request).render())


@endpoint("bulkOperations:read")
async def get_results(request: Request) -> Response:
    op = _operation(request)
    if op.status not in TERMINAL:
        raise ApiError(400, "bulkOperationNotRun", "The bulk operation has not run yet.")
    return json_response(op.results)


ROUTES = [
    Route(
        "/api/v2/bulk/integrations/{integrationId}/courses",
        _submitter("importExternalCourses"),
        methods=["PUT"],
    ),
    Route(
        "/api/v2/bulk/integrations/{integrationId}/courses",
        _submitter("archiveExternalCourses"),
        methods=["DELETE"],
    ),
    Route(
        "/api/v2/bulk/integrations/{integrationId}/stats",
        _submitter("importExternalStatistics"),
        methods=["POST"],
    ),
    Route("/api/v2/bulk/operations", list_operations, methods=["GET"]),
    Route("/api/v2/bulk/operations/{bulkOperationId}", get_operation, methods=["GET"]),
    Route("/api/v2/bulk/operations/{bulkOperationId}/results", get_results, methods=["GET"]),
]


def install(app: Starlette) -> BulkEngine:
    engine = BulkEngine(app.state.tenant, app.state.traffic)
    app.state.bulk = engine
    app.state.tenant.tickers.append(engine.tick)
    return engine
