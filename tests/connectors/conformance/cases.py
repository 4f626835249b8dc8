"""The connectors the standard suite runs against, each with its simulated tenant.

A case is a connector class, options for it, and a factory of ``SimulatedTenant``s: a running fake LMS
(real HTTP on loopback) that can tell the truth about its records and change them the way the suite
needs. A new connector joins the suite by adding one case here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from lmsbridge.connectors.base import Connector
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from loopback import serve
from sandbox_truth import fetch_all, token
from skeleton_lms import api as skel_api
from skeleton_lms.connector import SkelConnector


class SimulatedTenant(Protocol):
    base_url: str
    credentials: dict[str, str]

    def truth(self) -> dict[str, set[str]]:
        """Per unified model, the remote ids the LMS holds now (what a FULL sync must store)."""
        ...

    def change_for_delta(self) -> dict[str, set[str]]:
        """Change records the way the connector says a DELTA sees; per model, the remote ids changed."""
        ...

    def delete_remotely(self) -> tuple[str, str]:
        """Delete one record the way the LMS does; (model, remote id) of what a FULL must mark deleted."""
        ...

    def active_course(self) -> str:
        """The remote id of a course that is active now."""
        ...

    def set_scopes(self, scopes: Iterable[str]) -> None: ...

    def set_latency(self, seconds: float) -> None: ...

    def calls(self) -> int:
        """How many API requests the tenant received so far."""
        ...


@dataclass
class Case:
    name: str
    connector: type[Connector]
    tenant: Callable[[], AbstractContextManager[SimulatedTenant]]
    connector_options: dict[str, Any] = field(default_factory=dict)
    # registers the connector in a fresh process (the killed-run worker); None: shipped, registered
    register: str | None = None


# ---- 360Learning ----------------------------------------------------------------------------------


class Learning360Tenant:
    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.base_url = sandbox.base_url
        self.credentials = {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}

    def truth(self) -> dict[str, set[str]]:
        courses = {c["_id"] for c in fetch_all(self.sandbox, "/api/v2/courses")}
        pairs = {f"{a['userId']}:{a['courseId']}" for a in fetch_all(self.sandbox, "/api/v2/courses/stats")}
        return {
            "users": {u["_id"] for u in fetch_all(self.sandbox, "/api/v2/users")},
            "courses": courses,
            "course_revisions": courses,
            "course_progressions": pairs,
        }

    def change_for_delta(self) -> dict[str, set[str]]:
        control = self.sandbox.control
        courses = fetch_all(self.sandbox, "/api/v2/courses")
        published = [c for c in courses if c["status"] == "published"]
        edited, archived = published[0]["_id"], published[1]["_id"]
        control.advance_clock(5)
        control.edit_course(edited, name="Renamed by the conformance suite")
        control.set_course_status(archived, "archived")  # does not move modifiedAt: seen by its own scan
        users = fetch_all(self.sandbox, "/api/v2/users")
        control.update_user(users[0]["_id"], firstName="Changed")
        changed: dict[str, set[str]] = defaultdict(set)
        changed["courses"] |= {edited, archived}
        changed["course_revisions"] |= {edited, archived}
        changed["users"].add(users[0]["_id"])
        return dict(changed)

    def delete_remotely(self) -> tuple[str, str]:
        """A deleted 360Learning user or course stays listed (with its status); a deleted integration
        is no longer listed: its course provider must go."""
        gone = fetch_all(self.sandbox, "/api/v2/integrations")[-1]["_id"]
        headers = {"Authorization": f"Bearer {token(self.sandbox)}", "360-api-version": "v2.0"}
        httpx.delete(f"{self.base_url}/api/v2/integrations/{gone}", headers=headers).raise_for_status()
        return "course_providers", gone

    def active_course(self) -> str:
        return next(
            c["_id"] for c in fetch_all(self.sandbox, "/api/v2/courses") if c["status"] == "published"
        )

    def set_scopes(self, scopes: Iterable[str]) -> None:
        self.sandbox.control.set_scopes(self.sandbox.client_id, list(scopes))

    def set_latency(self, seconds: float) -> None:
        self.sandbox.control.set_latency(fixed_ms=seconds * 1000)

    def calls(self) -> int:
        return int(self.sandbox.control.counters()["total_calls"])


@contextmanager
def learning360_tenant() -> Iterator[SimulatedTenant]:
    with running_sandbox(seed=5, users=30, courses=12, attempts=150, integrations=2) as sb:
        yield Learning360Tenant(sb)


# ---- Skel LMS (tests/skeleton_lms) -----------------------------------------------------------------


class SkelTenant:
    def __init__(self, tenant: skel_api.SkelTenant, base_url: str) -> None:
        self.tenant = tenant
        self.base_url = base_url
        self.credentials = {"api_key": tenant.api_key}

    def truth(self) -> dict[str, set[str]]:
        with self.tenant.lock:
            return {
                "users": set(self.tenant.people),
                "courses": set(self.tenant.trainings),
                "course_revisions": set(self.tenant.trainings),
                "course_progressions": set(self.tenant.enrollments),
            }

    def change_for_delta(self) -> dict[str, set[str]]:
        with self.tenant.lock:
            training = self.tenant.trainings["t003"]
            training.update(title="Renamed by the conformance suite", updated_at=self.tenant.tick())
            self.tenant.people["p002"]["name"] = "Changed Person"
            self.tenant.enrollments["e004"]["done"] = not self.tenant.enrollments["e004"]["done"]
        return {
            "courses": {"t003"},
            "course_revisions": {"t003"},
            "users": {"p002"},
            "course_progressions": {"e004"},
        }

    def delete_remotely(self) -> tuple[str, str]:
        with self.tenant.lock:
            del self.tenant.people["p005"]
        return "users", "p005"

    def active_course(self) -> str:
        with self.tenant.lock:
            return next(t for t, row in sorted(self.tenant.trainings.items()) if not row["archived"])

    def set_scopes(self, scopes: Iterable[str]) -> None:
        with self.tenant.lock:
            self.tenant.scopes = set(scopes)

    def set_latency(self, seconds: float) -> None:
        self.tenant.latency_s = seconds

    def calls(self) -> int:
        with self.tenant.lock:
            return len(self.tenant.requests)


@contextmanager
def skel_tenant() -> Iterator[SimulatedTenant]:
    tenant = skel_api.generate()
    with serve(skel_api.build_app(tenant)) as url:
        yield SkelTenant(tenant, url)


def register_skel() -> None:
    """What a process running Skel LMS syncs does first: name the connector in the registry."""
    from lmsbridge.connectors import registry

    registry.CONNECTORS[SkelConnector.tool] = SkelConnector


CASES = [
    Case("360learning", Learning360Connector, learning360_tenant, {"ids_per_partition": 5}),
    Case("skel", SkelConnector, skel_tenant, register="cases:register_skel"),
]
