"""On-demand testing of one integration (CLI ``lmsbridge integrations test``): scope test, then
optionally the per-model tests, with one live connector."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lmsbridge.clock import utcnow
from lmsbridge.connections import open_connector
from lmsbridge.crypto import SecretBox
from lmsbridge.features.model_tests import ModelTestsResult, run_model_tests
from lmsbridge.features.scope_test import ScopeTestResult, scope_test_integration
from lmsbridge.settings import Settings
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.schema import Integration
from lmsbridge.store.transact import transact_async


async def check_integration(
    db: Engine, box: SecretBox, integration_id: str, *, settings: Settings | None = None, models: bool = False
) -> tuple[ScopeTestResult, ModelTestsResult | None]:
    """Run (and store) the scope test and, with ``models``, the model tests. LookupError: no such id."""

    def load(session: Session) -> Integration:
        integration = get_integration(session, integration_id)
        if integration is None:
            raise LookupError(f"no integration with id {integration_id!r}")
        session.expunge(integration)
        return integration

    integration = await transact_async(db, load)
    async with open_connector(box, integration, settings) as connector:
        scopes = await scope_test_integration(db, box, integration_id, settings=settings, connector=connector)
        tested = None
        if models and scopes.credentials_valid:
            tested = await run_model_tests(db, integration_id, connector, utcnow(), settings=settings)
    return scopes, tested
