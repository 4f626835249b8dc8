"""Scope testing against the sandbox: each probe tells granted / missing / unknown, writes nothing, and
its outcome decides availability (integration details, read API, actions) and what a sync skips."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from feature_support import FeatureEnv, KomboContract, add_sandbox_integration

from lmsbridge.api.errors import ApiError
from lmsbridge.connectors.learning360.config import ClientOptions, Learning360Config, RetryPolicy
from lmsbridge.connectors.learning360.connector import Learning360Connector
from lmsbridge.connectors.learning360.probes import PROBES
from lmsbridge.connectors.learning360.scopes import required_scope
from lmsbridge.connectors.learning360.streams import ENDPOINTS, STREAMS
from lmsbridge.features.availability import require_action, require_model
from lmsbridge.features.scope_test import run_scope_test
from lmsbridge.features.sync_hooks import feature_hooks
from lmsbridge.sandbox.learning360.testing import RunningSandbox
from lmsbridge.store.engine import session_scope
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.schema import Integration, SyncRun
from lmsbridge.sync.engine import SyncEngine, SyncOptions

FAST = ClientOptions.with_timeout(5.0, RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.02))
SCOPES = [probe.scope for probe in PROBES]


def _connector(
    sb: RunningSandbox, client_id: str | None = None, secret: str | None = None
) -> Learning360Connector:
    config = Learning360Config(
        client_id=client_id or sb.client_id, client_secret=secret or sb.client_secret, host=sb.base_url
    )
    return Learning360Connector(config, options=FAST)


@pytest.fixture
async def connector(sandbox: RunningSandbox) -> AsyncIterator[Learning360Connector]:
    async with _connector(sandbox) as c:
        yield c


def tenant_state(sb: RunningSandbox) -> Any:
    """Everything a write probe could have touched: courses, integrations, bulk operations, users."""
    t = sb.tenant
    return copy.deepcopy(
        (t.courses.items, t.integrations.items, t.users.items, [m.integration_id for m in t.course_meta])
    )


def test_every_probe_targets_the_scope_it_names() -> None:
    for probe in PROBES:
        assert required_scope(probe.method, probe.path) == probe.scope, probe
    # every scope the sync streams need is probed
    assert {stream.scope for stream in STREAMS} <= set(SCOPES)


async def test_full_credential_grants_every_scope_and_writes_nothing(
    sandbox: RunningSandbox, connector: Learning360Connector
) -> None:
    before = tenant_state(sandbox)
    sandbox.control.reset_counters()
    result = await run_scope_test(connector)
    assert {s: c.status for s, c in result.scopes.items()} == dict.fromkeys(SCOPES, "granted")
    assert result.missing == [] and result.unknown == [] and result.credentials_valid
    assert tenant_state(sandbox) == before
    counters = sandbox.control.counters()
    assert counters["bulk_operations_run"] == 0
    # one call per probe (plus the token): the smallest possible footprint
    assert counters["total_calls"] == len(PROBES) + 1


async def test_each_missing_scope_is_reported_missing(
    sandbox: RunningSandbox, connector: Learning360Connector
) -> None:
    before = tenant_state(sandbox)
    for scope in SCOPES:
        sandbox.control.set_scopes(sandbox.client_id, [s for s in SCOPES if s != scope])
        result = await run_scope_test(connector)
        statuses = {s: c.status for s, c in result.scopes.items()}
        assert statuses == {s: ("missing" if s == scope else "granted") for s in SCOPES}, scope
        assert "invalid_scope" in result.scopes[scope].why
    assert tenant_state(sandbox) == before
    assert sandbox.control.counters()["bulk_operations_run"] == 0


async def test_answers_that_cannot_tell_are_unknown_with_why(
    sandbox: RunningSandbox, connector: Learning360Connector
) -> None:
    sandbox.control.set_faults([{"kind": "status", "route": "GET /api/v2/users", "status": 503}])
    sandbox.control.configure(bulk_enabled=False)
    result = await run_scope_test(connector)
    assert result.scopes["users:read"].status == "unknown"
    assert "503" in result.scopes["users:read"].why
    assert result.scopes["integrations:bulk"].status == "unknown"
    assert "bulkAPIDisabled" in result.scopes["integrations:bulk"].why
    assert result.scopes["courses:read"].status == "granted"


async def test_refused_credentials_make_every_scope_unknown(sandbox: RunningSandbox) -> None:
    async with _connector(sandbox, secret="0" * 32) as bad:
        result = await run_scope_test(bad)
    assert not result.credentials_valid
    assert {c.status for c in result.scopes.values()} == {"unknown"}


def _details(env: FeatureEnv, kombo: KomboContract) -> dict[str, Any]:
    response = env.client.get(f"/v1/integrations/{env.integration_id}")
    return dict(kombo.check("GetIntegrationsIntegrationId", response)["data"])


def test_missing_scopes_make_models_and_actions_unavailable(env: FeatureEnv, kombo: KomboContract) -> None:
    env.update(setup_status="COMPLETED", qa_status="PASSED")
    env.sandbox.control.set_scopes(
        env.sandbox.client_id, [s for s in SCOPES if s not in {"courseStats:read", "courses:write"}]
    )

    response = env.client.post(f"/v1/integrations/{env.integration_id}/scope-test")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["missing"] == ["courseStats:read", "courses:write"]
    assert data["scopes"]["users:read"]["status"] == "granted"

    details = _details(env, kombo)
    models = {m["id"]: m["is_available"] for m in details["read_models"]}
    actions = {a["id"]: a["is_available"] for a in details["write_actions"]}
    assert models["lms_course_progressions"] is False
    assert models["lms_users"] is True and models["lms_courses"] is True
    assert actions == {
        "lms_upsert_courses": True,
        "lms_deactivate_course": False,
        "lms_enroll_user": False,
        "lms_complete_course": False,
    }

    # reading the model answers Kombo's error naming the scope
    blocked = env.client.get("/v1/lms/course-progressions", headers=env.headers())
    body = kombo.check("GetLmsCourseProgressions", blocked)
    assert body["error"]["code"] == "INTEGRATION.MODEL_NOT_AVAILABLE"
    assert "courseStats:read" in body["error"]["message"]
    assert env.client.get("/v1/lms/users", headers=env.headers()).status_code == 200

    # and the actions guard answers PERMISSION_MISSING naming the scope
    with session_scope(env.engine, readonly=True) as session:
        integration = get_integration(session, env.integration_id)
        assert integration is not None
        with pytest.raises(ApiError) as denied:
            require_action(integration, "lms_deactivate_course")
        assert denied.value.code == "INTEGRATION.PERMISSION_MISSING"
        assert "courses:write" in denied.value.message
        require_action(integration, "lms_upsert_courses")
        require_model(integration, "users")

    # granting the scope again and re-testing restores availability
    env.sandbox.control.set_scopes(env.sandbox.client_id, "all")
    assert (
        env.client.post(f"/v1/integrations/{env.integration_id}/scope-test").json()["data"]["missing"] == []
    )
    assert all(
        m["is_available"] for m in _details(env, kombo)["read_models"] if m["coverage_status"] == "SUPPORTED"
    )


def test_scope_test_endpoint_unknown_integration(env: FeatureEnv) -> None:
    response = env.client.post("/v1/integrations/360learning:nope/scope-test")
    assert response.json()["error"]["code"] == "PLATFORM.INTEGRATION_NOT_FOUND"


STREAM_SCOPES = {stream.scope: stream for stream in STREAMS}


@pytest.mark.parametrize("scope", sorted(STREAM_SCOPES))
async def test_sync_skips_streams_whose_scope_is_missing(env: FeatureEnv, scope: str) -> None:
    stream = STREAM_SCOPES[scope]
    cred = env.sandbox.control.create_credential(scopes=[s for s in SCOPES if s != scope])
    integration_id = add_sandbox_integration(
        env.engine, env.box, env.sandbox, client_id=cred["client_id"], client_secret=cred["client_secret"]
    )
    engine = SyncEngine(
        env.engine,
        env.box,
        options=SyncOptions(connector_options={"ids_per_partition": 7}, **feature_hooks()),
    )
    env.sandbox.control.reset_counters()
    before = tenant_state(env.sandbox)

    outcome = await engine.run_new(integration_id, "FULL")

    assert outcome.state == "PARTIALLY_FAILED", outcome.error
    assert outcome.warnings == [f"missing scope {scope!r}: {stream.name} skipped"]
    calls = env.sandbox.control.counters()["calls"]
    # the skipped stream was called once: by its probe (a filtered, empty page), never by the sync
    assert calls.get(f"GET {ENDPOINTS[stream.name].path}", 0) == 1
    assert tenant_state(env.sandbox) == before
    with session_scope(env.engine, readonly=True) as session:
        integration = session.get(Integration, integration_id)
        assert integration is not None and integration.scope_test is not None
        assert integration.scope_test["missing"] == [scope]
        tests = integration.model_tests or {}
        for model in stream.models:
            kombo_id = f"lms_{model}"
            assert tests["models"][kombo_id]["status"] == "SKIPPED"
            assert scope in tests["models"][kombo_id]["message"]
        # skipped models do not fail QA
        assert integration.qa_status == "PASSED", {m: t["message"] for m, t in tests["models"].items()}
        run = session.get(SyncRun, outcome.run_id)
        assert run is not None and stream.name in run.streams["failed"]


# What the connector page and the write flows imply (docs/features.md), written out independently of
# features.availability so that a wrong table there fails here.
UPSERT_FLOW = {"lms_upsert_courses", "lms_enroll_user", "lms_complete_course"}
EXPECTED_UNAVAILABLE: dict[str, set[str]] = {
    "users:read": {"lms_users"},
    "courses:read": {"lms_courses", "lms_course_revisions"},
    "courseStats:read": {"lms_course_progressions", "lms_enroll_user", "lms_complete_course"},
    "integrations:read": {"lms_course_providers"} | UPSERT_FLOW,
    "integrations:write": UPSERT_FLOW,
    "integrations:bulk": UPSERT_FLOW,
    "bulkOperations:read": UPSERT_FLOW,
    "courses:write": {"lms_deactivate_course"},
    "groups:read": set(),
    # real-time updates only (the integration's details say so): no model or action depends on them
    "webhooks:read": set(),
    "webhooks:write": set(),
    "webhookSecrets:read": set(),
}
READ_ENDPOINTS = {
    "lms_users": ("/v1/lms/users", "GetLmsUsers"),
    "lms_courses": ("/v1/lms/courses", "GetLmsCourses"),
    "lms_course_progressions": ("/v1/lms/course-progressions", "GetLmsCourseProgressions"),
}


def test_each_missing_scope_disables_exactly_its_models_and_actions(
    env: FeatureEnv, kombo: KomboContract
) -> None:
    assert set(EXPECTED_UNAVAILABLE) == set(SCOPES)
    env.update(setup_status="COMPLETED", qa_status="PASSED")
    for scope, expected in EXPECTED_UNAVAILABLE.items():
        env.sandbox.control.set_scopes(env.sandbox.client_id, [s for s in SCOPES if s != scope])
        tested = env.client.post(f"/v1/integrations/{env.integration_id}/scope-test").json()["data"]
        assert tested["missing"] == [scope]
        details = _details(env, kombo)
        unavailable = {
            item["id"]
            for item in details["read_models"] + details["write_actions"]
            if item["coverage_status"] == "SUPPORTED" and not item["is_available"]
        }
        assert unavailable == expected, scope
        for model, (path, operation_id) in READ_ENDPOINTS.items():
            response = env.client.get(path, headers=env.headers())
            if model in expected:
                body = kombo.check(operation_id, response)
                assert body["error"]["code"] == "INTEGRATION.MODEL_NOT_AVAILABLE"
                assert scope in body["error"]["message"]
            else:
                assert response.status_code == 200, (scope, path, response.text)
