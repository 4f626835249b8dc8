"""Run a sandbox for tests: uvicorn on 127.0.0.1 (free port) in a background thread, plus a typed client
for its `/_sandbox` control API.

    with running_sandbox(users=50, courses=10, attempts=200) as sb:
        sb.base_url, sb.client_id, sb.client_secret   # what a 360Learning connector needs
        sb.control.advance_clock(3600)                  # steer the tenant
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from lmsbridge.sandbox.learning360.app import KEEP_ALIVE_SECONDS, build_app
from lmsbridge.sandbox.learning360.config import SandboxConfig
from lmsbridge.sandbox.learning360.generator import generate_tenant
from lmsbridge.sandbox.learning360.tenant import Tenant


class SandboxControl:
    """Typed wrapper over `/_sandbox/...` (synchronous httpx; safe to call from async tests too,
    since the sandbox serves from its own thread)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=f"{base_url}/_sandbox", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox control {method} {path} → {response.status_code}: {response.text}")
        return response.json()

    # state and settings
    def info(self) -> dict[str, Any]:
        return dict(self._call("GET", "/info"))

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change SandboxConfig fields, e.g. `configure(rate_limit_enabled=True, bulk_run_s=2)`."""
        return dict(self._call("PATCH", "/config", settings))

    def now(self) -> str:
        return str(self._call("GET", "/clock")["now"])

    def advance_clock(self, seconds: float) -> str:
        return str(self._call("POST", "/clock/advance", {"seconds": seconds})["now"])

    # credentials
    def create_credential(self, scopes: list[str] | None = None) -> dict[str, Any]:
        return dict(self._call("POST", "/credentials", {} if scopes is None else {"scopes": scopes}))

    def set_scopes(self, client_id: str, scopes: list[str] | str) -> list[str]:
        """Replace a credential's scopes (takes effect on existing tokens too); "all" restores all."""
        return list(self._call("PUT", f"/credentials/{client_id}/scopes", {"scopes": scopes})["scopes"])

    def revoke_tokens(self) -> int:
        return int(self._call("POST", "/tokens/revoke")["revoked"])

    # traffic
    def set_rate_limits(
        self, enabled: bool = True, reads_per_second: int = 50, writes_per_second: int = 10
    ) -> None:
        self.configure(
            rate_limit_enabled=enabled, reads_per_second=reads_per_second, writes_per_second=writes_per_second
        )

    def set_latency(self, fixed_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
        self.configure(latency_ms=fixed_ms, jitter_ms=jitter_ms)

    def set_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        """Fault rules, e.g. `{"kind": "status", "route": "GET /api/v2/courses/stats", "status": 503,
        "count": 2}`; kinds: status, hang, drop, truncate, burst429, revoke_tokens."""
        body: dict[str, Any] = {"rules": rules}
        if seed is not None:
            body["seed"] = seed
        return list(self._call("PUT", "/faults", body)["rules"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def counters(self) -> dict[str, Any]:
        return dict(self._call("GET", "/counters"))

    def reset_counters(self) -> None:
        self._call("DELETE", "/counters")

    # tenant mutations
    def create_user(self, **fields: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/users", fields))

    def get_user(self, user_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/users/{user_id}"))

    def update_user(self, user_id: str, **changes: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/users/{user_id}", changes))

    def delete_user(self, user_id: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/users/{user_id}"))

    def reactivate_user(self, user_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/users/{user_id}/reactivate"))

    def create_course(self, **fields: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/courses", fields))

    def get_course(self, course_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/courses/{course_id}"))

    def edit_course(self, course_id: str, **changes: Any) -> dict[str, Any]:
        """A content edit: `modifiedAt` moves."""
        return dict(self._call("PATCH", f"/courses/{course_id}", changes))

    def set_course_status(self, course_id: str, status: str) -> dict[str, Any]:
        """archived / published / deleted; `modifiedAt` does not move."""
        return dict(self._call("PUT", f"/courses/{course_id}/status", {"status": status}))

    def create_attempt(self, user_id: str, course_id: str, **fields: Any) -> dict[str, Any]:
        """A new attempt (a retake if one exists); fields: progress, timeSpent, score, firstActivityAt,
        lastActivityAt, lang. progress=100 completes it (fires course.attempt.closed)."""
        return dict(self._call("POST", "/attempts", {"userId": user_id, "courseId": course_id, **fields}))

    def get_attempt(self, attempt_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/attempts/{attempt_id}"))

    def update_attempt(self, attempt_id: str, **fields: Any) -> dict[str, Any]:
        """Advance an attempt: progress, timeSpent, score, lastActivityAt (default now)."""
        return dict(self._call("PATCH", f"/attempts/{attempt_id}", fields))

    def set_integration_inactive(self, integration_id: str, inactive: bool = True) -> None:
        self._call("PUT", f"/integrations/{integration_id}/inactive", {"inactive": inactive})


@dataclass
class RunningSandbox:
    base_url: str  # e.g. http://127.0.0.1:53127 (API at {base_url}/api/v2/...)
    client_id: str
    client_secret: str
    control: SandboxControl
    tenant: Tenant  # in-process view: read it freely; mutate through `control` (thread safety)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_tenant(tenant: Tenant, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve an existing tenant on 127.0.0.1:<free port> in a daemon thread; yields the base URL."""
    with serve_app(build_app(tenant), startup_timeout) as url:
        yield url


@contextmanager
def serve_app(app: Any, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve any ASGI app with uvicorn on 127.0.0.1:<free port> in a daemon thread; yields the base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="sandbox")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_sandbox(
    *,
    seed: int = 1,
    users: int = 50,
    courses: int = 20,
    attempts: int = 200,
    integrations: int = 2,
    tenant: Tenant | None = None,
    **settings: Any,
) -> Iterator[RunningSandbox]:
    """Generate a tenant (or use `tenant`) and serve it; `settings` are SandboxConfig fields
    (rate limits are off unless `rate_limit_enabled=True`)."""
    if tenant is None:
        tenant = generate_tenant(
            seed=seed,
            users=users,
            courses=courses,
            attempts=attempts,
            integrations=integrations,
            config=SandboxConfig(**settings),
        )
    elif settings:
        tenant.config.update(settings)
    cred = next(iter(tenant.credentials.values()))
    with serve_tenant(tenant) as url:
        ctl = SandboxControl(url)
        try:
            yield RunningSandbox(url, cred.client_id, cred.client_secret, ctl, tenant)
        finally:
            ctl.close()
