"""What the real-time tests share: lmsbridge served over loopback with its job system working and a public
URL the sandbox delivers 360Learning webhooks to; helpers to read the store and the sandbox's Webhook API."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, select

from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.incoming.store import INCOMING_PATH
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.settings import Settings
from lmsbridge.store import sync_runs
from lmsbridge.store.api_keys import create_api_key
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration
from lmsbridge.store.schema import IncomingEndpoint, IncomingSubscription, SyncRun
from loopback import serve
from waiting import eventually


def socket_on(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def realtime_settings(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "allow_private_hosts": True,  # the sandbox and the receivers are on loopback
            "job_poll_seconds": 0.05,
            "full_sync_interval_hours": 1000.0,  # syncs only when a test asks
            "delta_sync_interval_hours": 1000.0,
        }
    )


@contextmanager
def running_bridge(settings: Settings, db: Engine, port: int) -> Iterator[str]:
    """``lmsbridge serve`` in a thread on ``port``: the API and a working job system."""
    with serve(create_app(settings, engine=db, background=True), socket_on(port)) as url:
        yield url


@dataclass
class Connected:
    integration_id: str
    api_key: str


def connect(db: Engine, box: SecretBox, sandbox: RunningSandbox) -> Connected:
    with session_scope(db) as session:
        integration = create_integration(
            session,
            box,
            tool="360learning",
            base_url=sandbox.base_url,
            credentials={"client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
        )
        _, api_key = create_api_key(session, "realtime test")
        return Connected(integration.id, api_key)


async def synced(db: Engine, api_url: str, conn: Connected, sync_type: str) -> str:
    """Force a sync through the API and wait for it to succeed; its run id."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post(
            "/v1/force-sync",
            json={"type": sync_type},
            headers={"Authorization": f"Bearer {conn.api_key}", "X-Integration-Id": conn.integration_id},
        )
    assert answer.status_code == 200, answer.text
    run_id = str(answer.json()["data"]["sync_id"])

    def finished() -> str | None:
        with session_scope(db, readonly=True) as session:
            run = session.get(SyncRun, run_id)
            return run.state if run is not None and run.state in sync_runs.TERMINAL_STATES else None

    state = await eventually(finished, within=60, what=f"the {sync_type} sync to finish")
    assert state == "SUCCEEDED", state
    return run_id


def stored_subscriptions(db: Engine, integration_id: str) -> dict[str, str]:
    """event type → subscription id, as lmsbridge stored them."""
    with session_scope(db, readonly=True) as session:
        rows = session.execute(
            select(IncomingSubscription.event_type, IncomingSubscription.id).where(
                IncomingSubscription.integration_id == integration_id
            )
        )
        return {event_type: sub_id for event_type, sub_id in rows}


def has_endpoint(db: Engine, integration_id: str) -> bool:
    with session_scope(db, readonly=True) as session:
        return session.get(IncomingEndpoint, integration_id) is not None


class VendorApi:
    """The sandbox's 360Learning API with the tenant's credential (what an admin's script would do)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.http = httpx.Client(base_url=sandbox.base_url, timeout=10)
        token = self.http.post(
            "/api/v2/oauth2/token",
            json={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
            },
        ).json()["access_token"]
        self.http.headers.update({"Authorization": f"Bearer {token}", "360-api-version": "v2.0"})

    def close(self) -> None:
        self.http.close()

    def subscriptions(self) -> list[dict[str, Any]]:
        answer = self.http.get("/api/v2/webhooks/subscriptions")
        assert answer.status_code == 200, answer.text
        return list(answer.json())

    def events(self, subscription_id: str) -> list[dict[str, Any]]:
        answer = self.http.get(f"/api/v2/webhooks/subscriptions/{subscription_id}/events")
        assert answer.status_code == 200, answer.text
        return list(answer.json())


def incoming_urls(subscriptions: list[dict[str, Any]]) -> set[str]:
    return {s["url"] for s in subscriptions if INCOMING_PATH in s["url"]}
