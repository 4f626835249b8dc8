"""Per-model tests against the sandbox: a clean tenant passes; injected defects (users without email,
orphaned attempts, a stream failing mid-scan, a stale sync) fail the right model with a useful message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from feature_support import FeatureEnv, KomboContract
from typer.testing import CliRunner

from lmsbridge.cli import app as cli_app
from lmsbridge.clock import utcnow
from lmsbridge.features.model_tests import run_model_tests
from lmsbridge.features.sync_hooks import feature_hooks
from lmsbridge.sandbox.learning360.config import SandboxConfig
from lmsbridge.sandbox.learning360.generator import generate_tenant
from lmsbridge.sandbox.learning360.tenant import Tenant
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import Integration
from lmsbridge.sync.engine import SyncEngine, SyncOptions

MODELS = (
    "lms_users",
    "lms_course_providers",
    "lms_courses",
    "lms_course_revisions",
    "lms_course_progressions",
)
Defect = Callable[[Tenant], None]


@pytest.fixture
def defect() -> Defect | None:
    """Overridden by tests (``parametrize("defect", …)``): a change to the tenant before it is served."""
    return None


@pytest.fixture
def sandbox(defect: Defect | None) -> Iterator[RunningSandbox]:
    tenant = generate_tenant(
        seed=31, users=40, courses=16, attempts=300, integrations=2, config=SandboxConfig()
    )
    if defect is not None:
        defect(tenant)  # before serving: no request is in flight
    with running_sandbox(tenant=tenant) as sb:
        yield sb


def _engine(env: FeatureEnv) -> SyncEngine:
    return SyncEngine(
        env.engine,
        env.box,
        options=SyncOptions(connector_options={"ids_per_partition": 7}, **feature_hooks()),
    )


def _stored(env: FeatureEnv) -> tuple[str, dict[str, Any]]:
    with session_scope(env.engine, readonly=True) as session:
        integration = session.get(Integration, env.integration_id)
        assert integration is not None
        return integration.qa_status, dict(integration.model_tests or {})


def _statuses(tests: dict[str, Any]) -> dict[str, str]:
    return {model: result["status"] for model, result in tests["models"].items()}


def _check(tests: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    return next(c for c in tests["models"][model]["checks"] if c["name"] == name)


def drop_mail(tenant: Tenant) -> None:
    """A third of the users become username-only accounts (no e-mail)."""
    for user in tenant.users.items[::3]:
        user.pop("mail", None)
        user.setdefault("username", f"user-{user['_id'][-6:]}")


def orphan_attempts(tenant: Tenant) -> None:
    """The users list shows another id for a learner with attempts: the attempts point to nobody."""
    row = tenant.attempts.user[0]
    tenant.users.items[row]["_id"] = "fffffffffffffffffffff001"


async def test_clean_tenant_passes_and_details_show_it(env: FeatureEnv, kombo: KomboContract) -> None:
    outcome = await _engine(env).run_new(env.integration_id, "FULL")
    assert outcome.state == "SUCCEEDED", outcome.error

    qa, tests = _stored(env)
    assert qa == "PASSED", tests
    assert _statuses(tests) == dict.fromkeys(MODELS, "PASSED")
    for model in MODELS:
        names = {c["name"]: c["status"] for c in tests["models"][model]["checks"]}
        assert set(names) == {"readable", "counts", "coverage", "references", "freshness"}
        assert "FAILED" not in names.values()
    counts = _check(tests, "lms_users", "counts")["details"]
    assert counts["stored"] == counts["seen_by_last_full_scan"] - _deleted_users(env.sandbox)
    assert tests["sync_id"] == outcome.run_id

    response = env.client.get(f"/v1/integrations/{env.integration_id}")
    data = kombo.check("GetIntegrationsIntegrationId", response)["data"]
    assert data["qa_status"] == "PASSED"
    per_model = {m["id"]: m["model_test"] for m in data["read_models"]}
    assert per_model["lms_users"]["status"] == "PASSED"
    assert per_model["lms_skills"] is None  # not covered by 360Learning, never tested


def _deleted_users(sb: RunningSandbox) -> int:
    return sum(1 for u in sb.tenant.users.items if u["status"] == "deleted")


@pytest.mark.parametrize("defect", [drop_mail])
async def test_users_without_email_fail_the_users_model(env: FeatureEnv, kombo: KomboContract) -> None:
    outcome = await _engine(env).run_new(env.integration_id, "FULL")
    assert outcome.state == "SUCCEEDED", outcome.error
    qa, tests = _stored(env)
    assert qa == "FAILED"
    assert _statuses(tests) == {**dict.fromkeys(MODELS, "PASSED"), "lms_users": "FAILED"}
    coverage = _check(tests, "lms_users", "coverage")
    assert coverage["status"] == "FAILED"
    assert "of users have an email" in coverage["message"] and "threshold 80.0%" in coverage["message"]
    assert "coverage:" in tests["models"]["lms_users"]["message"]
    # QA failed on the first full sync: the setup is not completed and the data is held back
    blocked = env.client.get("/v1/lms/users", headers=env.headers())
    assert kombo.check("GetLmsUsers", blocked)["error"]["code"] == "INTEGRATION.QA_FAILED"
    # once set up, a later failed check is reported but the data stays served
    env.update(setup_status="COMPLETED")
    served = env.client.get("/v1/lms/users", headers=env.headers())
    assert kombo.check("GetLmsUsers", served)["status"] == "success"


@pytest.mark.parametrize("defect", [orphan_attempts])
async def test_orphaned_attempts_fail_the_progressions_model(env: FeatureEnv) -> None:
    outcome = await _engine(env).run_new(env.integration_id, "FULL")
    assert outcome.state == "SUCCEEDED", outcome.error
    qa, tests = _stored(env)
    assert qa == "FAILED"
    assert _statuses(tests)["lms_course_progressions"] == "FAILED"
    assert _statuses(tests)["lms_users"] == "PASSED"
    references = _check(tests, "lms_course_progressions", "references")
    assert references["status"] == "FAILED"
    assert "reference a user that is not stored" in references["message"]
    assert references["details"]["user"]["missing"] >= 1
    assert references["details"]["course revision"]["missing"] == 0


async def test_stream_failing_mid_scan_fails_its_model(env: FeatureEnv) -> None:
    env.sandbox.control.configure(page_sizes={"stats": 20})
    env.sandbox.control.set_faults(
        [{"kind": "status", "status": 400, "route": "GET /api/v2/courses/stats", "after": 3}]
    )
    outcome = await _engine(env).run_new(env.integration_id, "FULL")
    assert outcome.state == "PARTIALLY_FAILED"
    qa, tests = _stored(env)
    assert qa == "FAILED"
    assert _statuses(tests) == {**dict.fromkeys(MODELS, "PASSED"), "lms_course_progressions": "FAILED"}
    assert _check(tests, "lms_course_progressions", "readable")["status"] == "PASSED"  # pages came
    counts = _check(tests, "lms_course_progressions", "counts")
    assert counts["status"] == "FAILED"
    assert "the last full scan of stats did not complete" in counts["message"]

    # the next clean full sync repairs it
    env.sandbox.control.clear_faults()
    again = await _engine(env).run_new(env.integration_id, "FULL")
    assert again.state == "SUCCEEDED", again.error
    assert _stored(env)[0] == "PASSED"


async def test_stale_sync_fails_freshness(env: FeatureEnv) -> None:
    await _engine(env).run_new(env.integration_id, "FULL")
    later = utcnow() + timedelta(hours=7)  # the default schedule tolerates 2 × the 3 h delta interval
    result = await run_model_tests(env.engine, env.integration_id, None, later)
    assert result.qa_status == "FAILED"
    for model in MODELS:
        freshness = next(c for c in result.models[model].checks if c.name == "freshness")
        assert freshness.status == "FAILED" and "schedule allows 6 h 0 min" in freshness.message


async def test_on_demand_endpoint(env: FeatureEnv) -> None:
    before = env.client.post(f"/v1/integrations/{env.integration_id}/model-tests")
    assert before.status_code == 200, before.text
    data = before.json()["data"]
    assert data["qa_status"] == "PENDING"
    assert {m["status"] for m in data["models"].values()} == {"SKIPPED"}

    await SyncEngine(env.engine, env.box).run_new(env.integration_id, "FULL")  # no hooks: nothing tested yet
    assert _stored(env)[0] == "PENDING"
    env.sandbox.control.reset_counters()
    after = env.client.post(f"/v1/integrations/{env.integration_id}/model-tests").json()["data"]
    assert after["qa_status"] == "PASSED"
    readable = next(c for c in after["models"]["lms_users"]["checks"] if c["name"] == "readable")
    assert readable["message"].startswith("first page of the users stream fetched")
    # live readability costs one call per stream (+ the token)
    assert env.sandbox.control.counters()["total_calls"] == 5


def test_cli_integrations_test(env: FeatureEnv, database_url: str, tmp_path: Path) -> None:
    assert env.settings.encryption_key is not None
    result = CliRunner().invoke(
        cli_app,
        [
            "--database-url",
            database_url,
            "--data-dir",
            str(tmp_path / "cli"),
            "integrations",
            "test",
            env.integration_id,
            "--models",
        ],
        env={"LMSBRIDGE_ENCRYPTION_KEY": env.settings.encryption_key},
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "users:read" in result.stdout and "granted" in result.stdout
    assert "lms_users" in result.stdout and "qa status: PENDING" in result.stdout
    unknown = CliRunner().invoke(
        cli_app,
        [
            "--database-url",
            database_url,
            "--data-dir",
            str(tmp_path / "cli"),
            "integrations",
            "test",
            "360learning:nope",
        ],
        env={"LMSBRIDGE_ENCRYPTION_KEY": env.settings.encryption_key},
    )
    assert unknown.exit_code == 1 and "no integration" in unknown.stderr


def test_durations_read_like_durations() -> None:
    from datetime import timedelta

    from lmsbridge.features.model_tests import readable_duration

    assert readable_duration(timedelta(seconds=10.722960)) == "10.7 s"
    assert readable_duration(timedelta(minutes=3, seconds=5)) == "3 min 5 s"
    assert readable_duration(timedelta(hours=10)) == "10 h 0 min"
    assert readable_duration(timedelta(days=1, hours=3)) == "1 d 3 h"
