"""Run the sandbox standalone: `lmsbridge sandbox ...` (wired by the lead) or
`python -m lmsbridge.sandbox`."""

from __future__ import annotations

import argparse
import sys
import time

import uvicorn

from lmsbridge.sandbox.learning360.app import KEEP_ALIVE_SECONDS, build_app
from lmsbridge.sandbox.learning360.config import SandboxConfig
from lmsbridge.sandbox.learning360.generator import generate_tenant


def run(
    host: str = "127.0.0.1",
    port: int = 8360,
    seed: int = 1,
    users: int = 1000,
    courses: int = 200,
    attempts: int = 20_000,
    integrations: int = 2,
    rate_limits: bool = True,
    bulk_delay_s: float = 1.0,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> None:
    """Generate a tenant, print its base URL and credential, and serve it until interrupted."""
    started = time.perf_counter()
    config = SandboxConfig(
        rate_limit_enabled=rate_limits,
        bulk_queue_s=bulk_delay_s / 3,
        bulk_start_s=bulk_delay_s / 3,
        bulk_run_s=bulk_delay_s / 3,
    )
    tenant = generate_tenant(
        seed=seed,
        users=users,
        courses=courses,
        attempts=attempts,
        integrations=integrations,
        config=config,
        client_id=client_id,
        client_secret=client_secret,
    )
    cred = next(iter(tenant.credentials.values()))
    elapsed = time.perf_counter() - started
    print(f"sandbox: {users} users, {courses} courses, {attempts} attempts in {elapsed:.1f}s")
    print(f"base_url:      http://{host}:{port}")
    print(f"client_id:     {cred.client_id}")
    print(f"client_secret: {cred.client_secret}", flush=True)
    uvicorn.run(
        build_app(tenant),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lmsbridge sandbox", description="A simulated 360Learning tenant.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8360)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--attempts", type=int, default=20_000)
    parser.add_argument("--integrations", type=int, default=2)
    parser.add_argument("--no-rate-limits", dest="rate_limits", action="store_false")
    parser.add_argument("--bulk-delay", dest="bulk_delay_s", type=float, default=1.0)
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    run(**vars(parser.parse_args(argv if argv is not None else sys.argv[1:])))
