"""Skel LMS, a tiny simulated LMS: people (offset pagination), trainings (page-number pagination, an
``updated_since`` filter) and enrollments (offset pagination), behind an API key whose scopes each
endpoint checks. State lives in a ``SkelTenant`` the tests change directly (one process, one lock)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Query, Request

SCOPES = ("people:read", "trainings:read", "trainings:write", "enrollments:read", "enrollments:write")
MAX_LIMIT = 50


@dataclass
class SkelTenant:
    api_key: str = "skel-key"
    scopes: set[str] = field(default_factory=lambda: set(SCOPES))
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    trainings: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[str, dict[str, Any]] = field(default_factory=dict)
    # every request as "METHOD URL", for tests of where the connector went
    requests: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def tick(self) -> str:
        """The tenant's clock moves one second per change (so ``updated_since`` tells changes apart)."""
        self.clock += timedelta(seconds=1)
        return self.clock.isoformat().replace("+00:00", "Z")


def generate(people: int = 23, trainings: int = 17, enrollments: int = 41) -> SkelTenant:
    tenant = SkelTenant()
    for n in range(people):
        tenant.people[f"p{n:03d}"] = {
            "id": f"p{n:03d}",
            "name": f"Person {n}",
            "email": f"person{n}@skel.example",
            "active": n % 7 != 0,
        }
    for n in range(trainings):
        tenant.trainings[f"t{n:03d}"] = {
            "id": f"t{n:03d}",
            "title": f"Training {n}",
            "archived": False,
            "updated_at": tenant.tick(),
        }
    for n in range(enrollments):
        person, training = f"p{n % people:03d}", f"t{(n * 5) % trainings:03d}"
        tenant.enrollments[f"e{n:03d}"] = {
            "id": f"e{n:03d}",
            "person": person,
            "training": training,
            "done": n % 3 == 0,
        }
    return tenant


def build_app(tenant: SkelTenant) -> FastAPI:
    app = FastAPI()

    def check(key: str | None, scope: str) -> None:
        if key != tenant.api_key:
            raise HTTPException(401, "bad key")
        if scope not in tenant.scopes:
            raise HTTPException(403, {"missing_scope": scope})

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        with tenant.lock:
            tenant.requests.append(f"{request.method} {request.url}")
        if tenant.latency_s:
            await asyncio.sleep(tenant.latency_s)  # a slow LMS: lets a test stop a sync between pages
        return await call_next(request)

    def offset_page(rows: list[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
        return {"data": rows[offset : offset + limit], "total": len(rows)}

    @app.get("/v1/people")
    def people(
        x_api_key: Annotated[str | None, Header()] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    ) -> dict[str, Any]:
        check(x_api_key, "people:read")
        with tenant.lock:
            return offset_page([tenant.people[k] for k in sorted(tenant.people)], offset, limit)

    @app.get("/v1/enrollments")
    def enrollments(
        x_api_key: Annotated[str | None, Header()] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    ) -> dict[str, Any]:
        check(x_api_key, "enrollments:read")
        with tenant.lock:
            return offset_page([tenant.enrollments[k] for k in sorted(tenant.enrollments)], offset, limit)

    @app.get("/v1/enrollments/{enrollment_id}")
    def enrollment(enrollment_id: str, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check(x_api_key, "enrollments:read")
        with tenant.lock:
            if enrollment_id not in tenant.enrollments:
                raise HTTPException(404, "no such enrollment")
            return tenant.enrollments[enrollment_id]

    @app.put("/v1/enrollments/{enrollment_id}")
    def put_enrollment(
        enrollment_id: str, body: dict[str, Any], x_api_key: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Enroll (idempotent, one call per enrollment: Skel LMS has no bulk API); ``done`` completes.
        The id of an enrollment made through the API is ``<person>.<training>``."""
        check(x_api_key, "enrollments:write")
        person, _, training = enrollment_id.partition(".")
        with tenant.lock:
            known = enrollment_id in tenant.enrollments
            if not known and (person not in tenant.people or training not in tenant.trainings):
                raise HTTPException(400, "a new enrollment's id is <person>.<training> of existing ones")
            row = tenant.enrollments.setdefault(
                enrollment_id, {"id": enrollment_id, "person": person, "training": training, "done": False}
            )
            if body.get("done"):
                row["done"] = True
            return row

    @app.get("/v1/trainings")
    def trainings(
        x_api_key: Annotated[str | None, Header()] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 5,
        updated_since: str | None = None,
    ) -> dict[str, Any]:
        check(x_api_key, "trainings:read")
        with tenant.lock:
            rows = [tenant.trainings[k] for k in sorted(tenant.trainings)]
            if updated_since:
                rows = [r for r in rows if r["updated_at"] >= updated_since]
            pages = max(1, -(-len(rows) // per_page))
            return {"items": rows[(page - 1) * per_page : page * per_page], "page": page, "pages": pages}

    @app.get("/v1/trainings/{training_id}")
    def training(training_id: str, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check(x_api_key, "trainings:read")
        with tenant.lock:
            if training_id not in tenant.trainings:
                raise HTTPException(404, "no such training")
            return tenant.trainings[training_id]

    @app.post("/v1/trainings/{training_id}/archive")
    def archive(training_id: str, x_api_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check(x_api_key, "trainings:write")
        with tenant.lock:
            if training_id not in tenant.trainings:
                raise HTTPException(404, "no such training")
            row = tenant.trainings[training_id]
            row.update(archived=True, updated_at=tenant.tick())
            return row

    return app
