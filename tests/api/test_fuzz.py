"""Property-based fuzzing of OUR OpenAPI with schemathesis (in-process ASGI): ≥ 1,000 generated requests
across all operations, valid and invalid inputs, with and without valid auth. No 5xx, every error in
Kombo's envelope, every response conforming to the status codes, content types and schemas we declare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from api_support import make_settings, new_api_key
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from factories import make_integration, seed_tenant
from lmsbridge.api.app import create_app
from lmsbridge.crypto import SecretBox
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import update_integration
from lmsbridge.store.migrate import upgrade_database

REQUESTS = 1200
ENVELOPE_KEYS = {"code", "title", "message", "log_url"}


def test_fuzz_our_openapi(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    upgrade_database(database_url)
    engine = make_engine(database_url)
    app_settings = make_settings(tmp_path, database_url, 8000)
    assert app_settings.encryption_key is not None
    box = SecretBox(app_settings.encryption_key.encode())
    key = new_api_key(engine)
    ready = make_integration(engine, box)
    disabled = make_integration(engine, box)
    with session_scope(engine) as session:
        update_integration(session, ready, setup_status="COMPLETED", qa_status="PASSED")
        update_integration(session, disabled, setup_status="COMPLETED", enabled=False)
    seed_tenant(engine, ready, users=30, courses=6)
    app = create_app(app_settings, engine=engine)
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    seen: dict[str, Any] = {"requests": 0, "operations": set(), "statuses": set(), "authorized": 0}

    @settings(
        max_examples=REQUESTS,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=cases,
        auth=st.sampled_from(["valid", "missing", "wrong", "malformed"]),
        integration=st.sampled_from(["ready", "disabled", "generated"]),
    )
    def run(case: Any, auth: str, integration: str) -> None:
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if auth == "valid":
            headers["Authorization"] = f"Bearer {key}"
        elif auth == "wrong":
            headers["Authorization"] = "Bearer lmsb_not_a_real_key"
        elif auth == "malformed":
            headers["Authorization"] = "Token ???"
        chosen = {"ready": ready, "disabled": disabled}.get(integration)
        if chosen is not None and "X-Integration-Id" in headers:
            headers["X-Integration-Id"] = chosen
        if (
            chosen is not None
            and "integration_id" in (case.path_parameters or {})
            and case.method != "DELETE"
        ):
            case.path_parameters["integration_id"] = chosen
        case.headers = headers
        response = case.call()
        seen["requests"] += 1
        seen["operations"].add(case.operation.label)
        seen["statuses"].add(response.status_code)
        seen["authorized"] += auth == "valid" and response.status_code < 400
        assert response.status_code < 500, response.text
        body = response.json()
        if response.status_code >= 400:
            assert body["status"] == "error" and set(body["error"]) == ENVELOPE_KEYS, body
            assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        else:
            assert body["status"] == "success", body
        case.validate_response(response, checks=checks)

    try:
        run()
    finally:
        engine.dispose()
    assert seen["requests"] >= 1000
    assert len(seen["operations"]) == 9, seen["operations"]  # 8 Kombo operations + the logs extension
    assert {200, 400, 401, 404} <= seen["statuses"], seen["statuses"]
    assert seen["authorized"] > 50
