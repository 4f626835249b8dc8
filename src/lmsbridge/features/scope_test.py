"""Scope testing: run the connector's side-effect-free probes and store, per scope, granted / missing /
unknown (with why) in ``Integration.scope_test``. Runs on creation, before every sync and on demand.

Stored shape (JSON)::

    {"checked_at": "…Z", "credentials_valid": true,
     "scopes": {"users:read": {"status": "granted", "why": "…", "checked_at": "…Z"}, …},
     "missing": ["courses:write"], "unknown": [], "unavailable": ["lms_deactivate_course"]}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.clock import utcnow
from lmsbridge.connections import open_connector
from lmsbridge.connectors.base import Connector, ProbeResult
from lmsbridge.connectors.errors import InvalidCredentials
from lmsbridge.crypto import SecretBox
from lmsbridge.features.availability import unavailable
from lmsbridge.settings import Settings
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.schema import Integration
from lmsbridge.store.transact import transact_async
from lmsbridge.unified.wire import format_timestamp
from lmsbridge.webhooks.outbox import record_state_change_since, state_snapshot


@dataclass
class ScopeCheck:
    status: str  # granted | missing | unknown
    why: str
    checked_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "why": self.why, "checked_at": format_timestamp(self.checked_at)}


@dataclass
class ScopeTestResult:
    tool: str
    checked_at: datetime
    scopes: dict[str, ScopeCheck] = field(default_factory=dict)
    credentials_valid: bool = True

    @property
    def missing(self) -> list[str]:
        return sorted(s for s, c in self.scopes.items() if c.status == "missing")

    @property
    def unknown(self) -> list[str]:
        return sorted(s for s, c in self.scopes.items() if c.status == "unknown")

    def to_json(self) -> dict[str, Any]:
        scopes = {name: check.to_json() for name, check in sorted(self.scopes.items())}
        data: dict[str, Any] = {
            "checked_at": format_timestamp(self.checked_at),
            "credentials_valid": self.credentials_valid,
            "scopes": scopes,
            "missing": self.missing,
            "unknown": self.unknown,
        }
        # kept for readers of the stored JSON (unified.coverage reads "unavailable")
        data["unavailable"] = sorted(unavailable(self.tool, data))
        return data


def _result(tool: str, outcomes: Sequence[ProbeResult], now: datetime) -> ScopeTestResult:
    return ScopeTestResult(
        tool=tool,
        checked_at=now,
        scopes={o.scope: ScopeCheck(o.status, o.why, now) for o in outcomes},
    )


async def run_scope_test(connector: Connector, now: datetime | None = None) -> ScopeTestResult:
    """Probe every scope the connector uses. Refused credentials give every scope ``unknown``."""
    now = now or utcnow()
    try:
        outcomes = await connector.probe_scopes()
    except InvalidCredentials:
        result = _result(
            connector.tool,
            [
                ProbeResult(scope, "unknown", "the credentials were refused: no token")
                for scope in connector.probed_scopes()
            ],
            now,
        )
        result.credentials_valid = False
        return result
    return _result(connector.tool, outcomes, now)


def store_scope_test(
    session: Session, integration_id: str, result: ScopeTestResult, now: datetime
) -> Integration:
    """Save the result on the integration; credential validity moves ``status`` (ACTIVE ↔ INVALID) and a
    change of state is announced in the same transaction."""
    integration = get_integration(session, integration_id)
    if integration is None:
        raise LookupError(f"integration {integration_id} does not exist")
    before = state_snapshot(integration)
    integration.scope_test = result.to_json()
    if not result.credentials_valid:
        integration.status = "INVALID"
    elif integration.status == "INVALID":
        integration.status = "ACTIVE"
    integration.updated_at = now
    session.flush()
    record_state_change_since(session, integration, before, now)  # webhooks: integration-state-changed
    return integration


async def scope_test_integration(
    db: Engine,
    box: SecretBox,
    integration_id: str,
    *,
    settings: Settings | None = None,
    connector: Connector | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> ScopeTestResult:
    """Run the scope test of a stored integration and store its result (opens a connector if not given)."""

    def load(session: Session) -> Integration:
        integration = get_integration(session, integration_id)
        if integration is None:
            raise LookupError(f"integration {integration_id} does not exist")
        session.expunge(integration)
        return integration

    if connector is None:
        integration = await transact_async(db, load)
        async with open_connector(box, integration, settings) as owned:
            result = await run_scope_test(owned, clock())
    else:
        result = await run_scope_test(connector, clock())
    now = clock()
    await transact_async(db, lambda s: store_scope_test(s, integration_id, result, now))
    return result
