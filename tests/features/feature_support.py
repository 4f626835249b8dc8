"""What the features tests share: an API on loopback over a migrated store, a sandbox tenant, and an
integration of that tenant stored with the API's own encryption key."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

# the API tests' helpers (uvicorn on a loopback socket, Kombo contract validator) are reused as is
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_support import KomboContract, make_settings, new_api_key

from lmsbridge.crypto import SecretBox
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import create_integration, update_integration
from loopback import bound_socket, serve

__all__ = ["FeatureEnv", "KomboContract", "bound_socket", "make_settings", "new_api_key", "serve"]


@dataclass
class FeatureEnv:
    """A running API whose store holds one integration of the running sandbox tenant."""

    base_url: str
    settings: Settings
    engine: Engine
    box: SecretBox
    client: httpx.Client
    sandbox: RunningSandbox
    integration_id: str

    def headers(self, integration_id: str | None = None) -> dict[str, str]:
        return {"X-Integration-Id": integration_id or self.integration_id}

    def passthrough(
        self, body: dict[str, Any], *, tool: str = "360learning", api: str = "v2"
    ) -> httpx.Response:
        return self.client.post(f"/v1/passthrough/{tool}/{api}", json=body, headers=self.headers())

    def update(self, **changes: Any) -> None:
        with session_scope(self.engine) as session:
            update_integration(session, self.integration_id, **changes)


def add_sandbox_integration(
    engine: Engine, box: SecretBox, sandbox: RunningSandbox, **credentials: str
) -> str:
    """An integration of the sandbox tenant (its default all-scopes credential unless given another)."""
    creds = credentials or {"client_id": sandbox.client_id, "client_secret": sandbox.client_secret}
    with session_scope(engine) as session:
        return create_integration(
            session, box, tool="360learning", base_url=sandbox.base_url, credentials=creds
        ).id
