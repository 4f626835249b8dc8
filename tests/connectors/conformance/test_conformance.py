"""The standard connector suite: every connector, against its simulated tenant over real HTTP, with a
real store (SQLite and PostgreSQL), must pass these. A new connector adds a case to ``cases.py``.

What each test proves: every remote record lands exactly once; a killed run resumes from its
checkpoints to the same store; a second FULL changes nothing; deletions only after a complete scan; a
DELTA sees every change its connector claims to see; each write action round-trips; scope probes match
the credential's scopes; passthrough cannot leave the connector's host.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cases import CASES, Case, SimulatedTenant
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select

from lmsbridge.actions import courses_upsert, progressions, tasks
from lmsbridge.actions.env import ActionOptions
from lmsbridge.actions.runner import ActionRunner
from lmsbridge.clock import utcnow
from lmsbridge.connections import stored_connection
from lmsbridge.connectors import registry
from lmsbridge.connectors.base import Connector, Stream
from lmsbridge.connectors.errors import HostNotAllowed
from lmsbridge.connectors.writes import WriteActions
from lmsbridge.crypto import SecretBox
from lmsbridge.features.passthrough import PassthroughInputError, normalize_path
from lmsbridge.store import sync_runs
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import create_integration, get_integration
from lmsbridge.store.migrate import upgrade_database
from lmsbridge.store.record_specs import spec_for
from lmsbridge.store.schema import ActionTask, SyncRun, User
from lmsbridge.sync.engine import SyncEngine, SyncOptions
from waiting import wait_until

WORKER = Path(__file__).with_name("conformance_worker.py")
MODELS = ("users", "course_providers", "courses", "course_revisions", "course_progressions")


@dataclass
class Setup:
    case: Case
    tenant: SimulatedTenant
    db: Engine
    key: bytes
    box: SecretBox
    engine: SyncEngine

    def integration(self) -> str:
        with session_scope(self.db) as session:
            return create_integration(
                session,
                self.box,
                base_url=self.tenant.base_url,
                credentials=self.tenant.credentials,
                tool=self.case.connector.tool,
            ).id

    async def sync(self, integration_id: str, sync_type: str = "FULL") -> Any:
        outcome = await self.engine.run_new(integration_id, sync_type)
        assert outcome.state in {"SUCCEEDED", "PARTIALLY_FAILED"}, outcome.error
        return outcome

    def stored(self, integration_id: str, model: str) -> dict[str, tuple[Any, bool]]:
        """remote id → (remote_data, marked deleted) of the model's stored records."""
        table = spec_for(model).table
        with session_scope(self.db, readonly=True) as session:
            rows = session.execute(
                select(table.c.remote_id, table.c.remote_data, table.c.remote_deleted_at).where(
                    table.c.integration_id == integration_id
                )
            )
            return {row.remote_id: (row.remote_data, row.remote_deleted_at is not None) for row in rows}

    def fingerprint(self, integration_id: str) -> dict[str, dict[str, tuple[Any, bool]]]:
        return {model: self.stored(integration_id, model) for model in MODELS}

    async def connector(self, integration_id: str) -> Connector:
        with session_scope(self.db, readonly=True) as session:
            integration = get_integration(session, integration_id)
            assert integration is not None
            connection = stored_connection(self.box, integration)
        return self.case.connector.from_connection(connection, **self.case.connector_options)


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Case:
    case: Case = request.param
    monkeypatch.setitem(registry.CONNECTORS, case.connector.tool, case.connector)
    monkeypatch.setitem(registry.COVERAGE, case.connector.tool, case.connector.coverage)
    return case


@pytest.fixture
def setup(case: Case, database_url: str) -> Iterator[Setup]:
    db = make_engine(database_url)
    upgrade_database(db)
    key = Fernet.generate_key()
    box = SecretBox(key)
    engine = SyncEngine(db, box, options=SyncOptions(connector_options=case.connector_options))
    with case.tenant() as tenant:
        yield Setup(case, tenant, db, key, box, engine)
    db.dispose()


def _stream_of(connector: type[Connector], model: str) -> Stream:
    return next(stream for stream in connector.streams if model in stream.models)


async def test_every_remote_record_lands_exactly_once(setup: Setup) -> None:
    integration_id = setup.integration()
    truth = setup.tenant.truth()
    outcome = await setup.sync(integration_id)
    assert outcome.state == "SUCCEEDED"
    for model, remote_ids in truth.items():
        table = spec_for(model).table
        with session_scope(setup.db, readonly=True) as session:
            rows = session.scalar(
                select(func.count()).select_from(table).where(table.c.integration_id == integration_id)
            )
        assert set(setup.stored(integration_id, model)) == remote_ids, model
        assert rows == len(remote_ids), model


async def test_a_killed_run_resumes_from_its_checkpoints_to_the_same_store(
    setup: Setup, database_url: str
) -> None:
    clean = setup.integration()
    clean_run = (await setup.sync(clean)).run_id
    killed = setup.integration()
    with session_scope(setup.db) as session:
        run_id = sync_runs.enqueue(session, killed, "FULL", setup.engine.clock())[0].id

    def pages_done(of: str = run_id) -> int:
        """Pages the run committed (a page fetched again after a restart would count twice)."""
        with session_scope(setup.db, readonly=True) as session:
            run = session.get(SyncRun, of)
            assert run is not None
            return sum(c["pages"] for c in (run.streams or {}).get("chains", {}).values())

    setup.tenant.set_latency(0.02)  # slow enough to stop it between pages
    args = [str(WORKER), database_url, setup.key.decode(), run_id, json.dumps(setup.case.connector_options)]
    if setup.case.register:
        args.append(setup.case.register)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    try:
        await asyncio.to_thread(wait_until, lambda: pages_done() >= 3, what="pages to be checkpointed")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        await asyncio.wait_for(worker.wait(), timeout=30)
    setup.tenant.set_latency(0)
    checkpointed = pages_done()
    assert checkpointed >= 3

    resumer = SyncEngine(
        setup.db,
        setup.box,
        options=SyncOptions(connector_options=setup.case.connector_options, stale_after=timedelta(0)),
    )
    calls_before = setup.tenant.calls()
    outcome = await resumer.execute(run_id)
    assert outcome.state == "SUCCEEDED", outcome.error
    assert setup.fingerprint(killed) == setup.fingerprint(clean)
    # resumed, not restarted: every page was committed once, as in the clean run, and the pages
    # committed before the kill were not fetched again (a token and no more are the resume's extra)
    assert pages_done() == pages_done(clean_run)
    assert setup.tenant.calls() - calls_before <= pages_done(clean_run) - checkpointed + 1


async def test_a_second_full_changes_nothing(setup: Setup) -> None:
    integration_id = setup.integration()
    await setup.sync(integration_id)
    before = setup.fingerprint(integration_id)
    again = await setup.sync(integration_id)
    assert again.changed_models == []
    assert setup.fingerprint(integration_id) == before


async def test_deletions_only_after_a_complete_scan(setup: Setup) -> None:
    integration_id = setup.integration()
    await setup.sync(integration_id)
    model, gone = setup.tenant.delete_remotely()
    assert setup.stored(integration_id, model)[gone][1] is False

    scope = _stream_of(setup.case.connector, model).scope
    assert scope is not None
    setup.tenant.set_scopes(s for s in setup.case.connector.probed_scopes() if s != scope)
    partial = await setup.engine.run_new(integration_id, "FULL")
    assert partial.state == "PARTIALLY_FAILED"
    assert setup.stored(integration_id, model)[gone][1] is False  # an incomplete scan proves nothing

    setup.tenant.set_scopes(setup.case.connector.probed_scopes())
    complete = await setup.sync(integration_id)
    assert complete.state == "SUCCEEDED"
    assert setup.stored(integration_id, model)[gone][1] is True
    assert model in complete.changed_models


async def test_a_delta_sees_every_change_its_connector_claims(setup: Setup) -> None:
    integration_id = setup.integration()
    await setup.sync(integration_id)
    before = setup.fingerprint(integration_id)
    changed = setup.tenant.change_for_delta()
    delta = await setup.sync(integration_id, "DELTA")
    assert delta.state == "SUCCEEDED"
    after = setup.fingerprint(integration_id)
    for model, remote_ids in changed.items():
        for remote_id in remote_ids:
            assert after[model][remote_id] != before[model][remote_id], (model, remote_id)
    assert set(delta.changed_models) >= set(changed)


async def test_each_write_action_round_trips(setup: Setup) -> None:
    actions = setup.case.connector.coverage.write_actions
    assert "lms_deactivate_course" in actions  # the one write action every connector offers
    integration_id = setup.integration()
    await setup.sync(integration_id)
    remote_id = setup.tenant.active_course()
    connector = await setup.connector(integration_id)
    async with connector:
        item = await connector.deactivate_course(remote_id)
    stream = _stream_of(setup.case.connector, "course_revisions")
    assert str(item.get("_id") or item.get("id")) == remote_id
    await setup.sync(integration_id, "DELTA")
    revisions = setup.stored(integration_id, "course_revisions")
    table = spec_for("course_revisions").table
    with session_scope(setup.db, readonly=True) as session:
        status = session.scalar(
            select(table.c.status).where(
                table.c.integration_id == integration_id, table.c.remote_id == remote_id
            )
        )
    assert status == "INACTIVE", stream.name
    assert revisions[remote_id][1] is False  # deactivated, not deleted


def _task(setup: Setup, task_id: str) -> ActionTask:
    with session_scope(setup.db, readonly=True) as session:
        task = session.get(ActionTask, task_id)
        assert task is not None
        session.expunge(task)
        return task


def _progression_status(setup: Setup, integration_id: str, remote_id: str) -> str | None:
    table = spec_for("course_progressions").table
    with session_scope(setup.db, readonly=True) as session:
        status: str | None = session.scalar(
            select(table.c.status).where(
                table.c.integration_id == integration_id,
                table.c.remote_id == remote_id,
                table.c.remote_deleted_at.is_(None),
            )
        )
        return status


async def _writable_course(
    setup: Setup, runner: ActionRunner, writer: WriteActions, integration_id: str
) -> str:
    """A course the connector can enroll users in: one it upserts (checked to round-trip), when it
    upserts courses, else an active course of the tenant."""
    if "lms_upsert_courses" not in setup.case.connector.coverage.write_actions:
        return setup.tenant.active_course()
    body = {
        "items": [
            {
                "origin_id": "conformance-1",
                "course": {
                    "type": "EXTERNAL",
                    "title": "Upserted by the conformance suite",
                    "course_url": "https://courses.example/conformance-1",
                },
            }
        ]
    }
    settings: dict[str, Any] = {}
    request = courses_upsert.prepare_request(body, lambda o, c: writer.upsert_payload(o, c, settings))
    with session_scope(setup.db) as session:
        task_id = courses_upsert.submit(session, integration_id, request, utcnow(), None).id
    await runner.run_upsert(task_id)
    task = _task(setup, task_id)
    assert task.state == tasks.COMPLETED, task.error
    [item] = task.result or []
    assert item["status"] == "SUCCEEDED", item
    table = spec_for("courses").table
    with session_scope(setup.db, readonly=True) as session:
        stored = session.execute(
            select(table.c.remote_id, table.c.origin_id).where(table.c.id == item["data"]["id"])
        ).one()
    assert stored.origin_id == "conformance-1"
    assert stored.remote_id in setup.tenant.truth()["courses"]  # the tenant has it
    return str(stored.remote_id)


def _active_users(setup: Setup, integration_id: str, count: int) -> list[str]:
    with session_scope(setup.db, readonly=True) as session:
        users = list(
            session.scalars(
                select(User.remote_id)
                .where(User.integration_id == integration_id, User.status == "ACTIVE")
                .order_by(User.remote_id)
                .limit(count)
            )
        )
    assert len(users) == count
    return users


def _enroll(
    setup: Setup, integration_id: str, writer: WriteActions, user_remote: str, course_remote: str
) -> progressions.Outcome:
    with session_scope(setup.db) as session:
        outcome = progressions.enroll(
            session,
            integration_id,
            user_ref=f"remote:{user_remote}",
            revision_ref=f"remote:{course_remote}",
            writer=writer,
            now=utcnow(),
        )
    assert outcome.queued and outcome.task_id
    return outcome


async def test_upsert_enroll_and_complete_round_trip(setup: Setup) -> None:
    """Each of these write actions the connector declares goes through the action machinery (tasks,
    the connector's batching policy, the store writes): the tenant shows the write, the store has it
    once the write is confirmed, and a sync afterwards reads the same back."""
    actions = setup.case.connector.coverage.write_actions
    declared = {"lms_upsert_courses", "lms_enroll_user", "lms_complete_course"} & actions
    assert setup.case.connector.write_actions_class is not None or not declared
    if not declared:
        pytest.skip(f"{setup.case.name} declares none of these write actions")
    integration_id = setup.integration()
    await setup.sync(integration_id)
    options = ActionOptions(batch_window_s=0, poll_initial_s=0.02, poll_max_s=0.2, operation_timeout_s=60)
    runner = ActionRunner(
        setup.db, setup.box, options=options, connector_options=setup.case.connector_options
    )
    try:
        writer = await runner.env.remote.writer(integration_id)
        course_remote = await _writable_course(setup, runner, writer, integration_id)
        if "lms_enroll_user" in actions:
            [user_remote] = _active_users(setup, integration_id, 1)
            outcome = _enroll(setup, integration_id, writer, user_remote, course_remote)
            progression_remote = writer.progression_remote_id((user_remote, course_remote))
            assert progression_remote not in setup.tenant.truth()["course_progressions"]  # not sent yet
            await runner.run_stats(integration_id)
            assert _task(setup, outcome.task_id).state == tasks.COMPLETED
            assert progression_remote in setup.tenant.truth()["course_progressions"]
            assert _progression_status(setup, integration_id, progression_remote) == "ENROLLED"
            if "lms_complete_course" in actions:
                with session_scope(setup.db) as session:
                    done = progressions.complete(
                        session,
                        integration_id,
                        progression_ref=outcome.progression_id,
                        completed_at=None,
                        score=None,
                        writer=writer,
                        now=utcnow(),
                    )
                assert done.queued and done.task_id
                await runner.run_stats(integration_id)
                assert _task(setup, done.task_id).state == tasks.COMPLETED
                assert _progression_status(setup, integration_id, progression_remote) == "COMPLETED"
            # the tenant holds what the store says: a FULL sync reads the same status back
            expected = _progression_status(setup, integration_id, progression_remote)
            await setup.sync(integration_id)
            assert _progression_status(setup, integration_id, progression_remote) == expected
    finally:
        await runner.aclose()


async def test_enrollments_go_out_as_the_batching_policy_says(setup: Setup) -> None:
    """With a long coalescing window, a connector that coalesces holds two enrollments back and then
    sends them in one call; one that does not sends them at once, as many per call as it allows."""
    if "lms_enroll_user" not in setup.case.connector.coverage.write_actions:
        pytest.skip(f"{setup.case.name} does not enroll users")
    integration_id = setup.integration()
    await setup.sync(integration_id)
    options = ActionOptions(batch_window_s=3600, batch_max_wait_s=3600, poll_initial_s=0.02, poll_max_s=0.2)
    runner = ActionRunner(
        setup.db, setup.box, options=options, connector_options=setup.case.connector_options
    )
    try:
        writer = await runner.env.remote.writer(integration_id)
        policy = writer.batching
        course_remote = await _writable_course(setup, runner, writer, integration_id)
        queued = [
            _enroll(setup, integration_id, writer, user, course_remote).task_id
            for user in _active_users(setup, integration_id, 2)
        ]
        with session_scope(setup.db, readonly=True) as session:
            ready = runner.ready_integrations(session, utcnow())
        assert (integration_id in ready) is (not policy.coalesce_progressions)
        await runner.run_stats(integration_id)
        done = [t for t in queued if t and _task(setup, t).state == tasks.COMPLETED]
        assert len(done) == min(2, policy.progressions_per_call)
    finally:
        await runner.aclose()


async def test_scope_probes_match_the_credentials_scopes(setup: Setup) -> None:
    integration_id = setup.integration()
    scopes = setup.case.connector.probed_scopes()
    assert scopes
    for withheld in scopes:
        setup.tenant.set_scopes(s for s in scopes if s != withheld)
        connector = await setup.connector(integration_id)
        async with connector:
            results = {r.scope: r.status for r in await connector.probe_scopes()}
        assert set(results) == set(scopes)
        assert results[withheld] == "missing", withheld
        assert [s for s, status in results.items() if status == "missing"] == [withheld]
    needed = {s for group in setup.case.connector.scopes.models.values() for s in group}
    needed |= {s for group in setup.case.connector.scopes.actions.values() for s in group}
    assert needed <= set(scopes)  # every scope a model or action needs is probed


HOSTILE_PATHS = [
    "//evil.example/x",
    "https://evil.example/x",
    "../../admin",
    "%2e%2e/%2e%2e/admin",
    "%252e%252e/admin",
    "a/../../b",
    "\\\\evil.example\\x",
    "@evil.example/x",
    "users?next=https://evil.example",
]


async def test_passthrough_cannot_leave_the_host(setup: Setup) -> None:
    integration_id = setup.integration()
    connector = await setup.connector(integration_id)
    apis = setup.case.connector.passthrough_apis
    assert apis
    origin = setup.tenant.base_url
    async with connector:
        for api in apis:
            for path in HOSTILE_PATHS:
                try:
                    url = connector.passthrough_url(api, normalize_path(api, path))
                except (PassthroughInputError, HostNotAllowed):
                    continue
                assert url.startswith(origin + api.prefix), (path, url)
            for resolved in ("//evil.example/x", "/../x", api.prefix + "../../x"):
                with pytest.raises(HostNotAllowed):
                    connector.passthrough_url(api, resolved)
