"""360Learning's webhooks in, against the sandbox's real deliveries over HTTP: lmsbridge subscribes when it
has a public URL, a change in the LMS reaches the store and a real receiver's data-changed in seconds
(no sync), our own confirmed writes announce themselves at once, forged/stale/replayed deliveries are
refused or applied once, events sent while lmsbridge was down are recovered by the next DELTA, and the
subscriptions go when the integration does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from realtime_support import (
    VendorApi,
    connect,
    has_endpoint,
    incoming_urls,
    realtime_settings,
    running_bridge,
    socket_on,
    stored_subscriptions,
    synced,
)
from sqlalchemy import Engine, func, select, update
from standardwebhooks.webhooks import Webhook
from webhook_support import Receiver

from lmsbridge.actions.env import ActionOptions
from lmsbridge.connectors.learning360 import writes
from lmsbridge.connectors.learning360.events import SUBSCRIBED_EVENTS
from lmsbridge.connectors.learning360.mapping import progression_remote_id
from lmsbridge.connectors.learning360.write_mapping import enroll_stat_item
from lmsbridge.crypto import SecretBox
from lmsbridge.ids import record_id
from lmsbridge.incoming.store import INCOMING_PATH, prune_events, store_event
from lmsbridge.runtime import Runtime
from lmsbridge.sandbox.learning360.testing import RunningSandbox, running_sandbox
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.schema import (
    CourseProgression,
    IncomingEndpoint,
    IncomingEvent,
    IncomingSubscription,
    Integration,
    SyncRun,
    User,
)
from lmsbridge.webhooks.endpoints import create_endpoint
from waiting import eventually

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=9, users=20, courses=8, attempts=120, integrations=1) as sb:
        yield sb


@pytest.fixture
def port() -> int:
    with socket_on() as sock:
        return int(sock.getsockname()[1])


def _user(db: Engine, integration_id: str, remote_id: str) -> User | None:
    with session_scope(db, readonly=True) as session:
        return session.get(User, record_id(integration_id, "users", remote_id))


def _progression(db: Engine, integration_id: str, user: str, course: str) -> CourseProgression | None:
    with session_scope(db, readonly=True) as session:
        remote_id = progression_remote_id(user, course)
        return session.get(CourseProgression, record_id(integration_id, "course_progressions", remote_id))


def _changed_models(receiver: Receiver, after: int) -> set[str]:
    """Models named by the data-changed events the receiver got after its first ``after`` ones."""
    bodies = receiver.bodies("data-changed")[after:]
    return {m["name"] for body in bodies for m in body["data"]["changed_models"]}


def _count(db: Engine, model: Any, *conditions: Any) -> int:
    with session_scope(db, readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _live_user(sandbox: RunningSandbox, index: int) -> str:
    users = [u for u in sandbox.tenant.users.items if u.get("status") == "active"]
    return str(users[index]["_id"])


async def test_changes_in_the_lms_reach_the_store_and_a_receiver_without_a_sync(
    sandbox: RunningSandbox, db: Engine, box: SecretBox, settings: Settings, receiver: Receiver, port: int
) -> None:
    settings = realtime_settings(settings, port)
    with session_scope(db) as session:
        create_endpoint(session, box, receiver.url, ["data-changed"])
    conn = connect(db, box, sandbox)
    vendor = VendorApi(sandbox)
    try:
        with running_bridge(settings, db, port) as api_url:
            await synced(db, api_url, conn, "FULL")
            # one subscription per event type, active, delivering to this integration's address
            subscriptions = vendor.subscriptions()
            assert sorted(s["eventType"] for s in subscriptions) == sorted(SUBSCRIBED_EVENTS)
            assert all(s["status"] == "active" for s in subscriptions)
            [url] = incoming_urls(subscriptions)
            assert url.startswith(f"{settings.public_url}{INCOMING_PATH}")
            assert sorted(stored_subscriptions(db, conn.integration_id)) == sorted(SUBSCRIBED_EVENTS)
            await eventually(lambda: receiver.bodies("data-changed"), what="the FULL sync's data-changed")
            seen = len(receiver.bodies("data-changed"))

            # a user's profile changes in 360Learning
            user_id = _live_user(sandbox, 0)
            sandbox.control.update_user(user_id, firstName="Realtime")
            await eventually(
                lambda: (u := _user(db, conn.integration_id, user_id)) and u.first_name == "Realtime",
                within=10,
                what="the user's new name in the store",
            )
            await eventually(lambda: "lms_users" in _changed_models(receiver, seen), within=10)

            # a learner finishes a course
            seen = len(receiver.bodies("data-changed"))
            learner = _live_user(sandbox, 1)
            course_id = str(sandbox.tenant.courses.items[0]["_id"])
            sandbox.control.create_attempt(learner, course_id, progress=100)
            await eventually(
                lambda: (
                    (p := _progression(db, conn.integration_id, learner, course_id))
                    and p.status == "COMPLETED"
                ),
                within=10,
                what="the completed progression in the store",
            )
            await eventually(lambda: "lms_course_progressions" in _changed_models(receiver, seen), within=10)

            # a user is deleted
            seen = len(receiver.bodies("data-changed"))
            gone = _live_user(sandbox, 2)
            sandbox.control.delete_user(gone)
            await eventually(
                lambda: (u := _user(db, conn.integration_id, gone)) and u.remote_deleted_at is not None,
                within=10,
                what="the user marked deleted",
            )
            await eventually(lambda: "lms_users" in _changed_models(receiver, seen), within=10)

            # our own write: deactivating (archiving) a course answers, and data-changed follows at once
            seen = len(receiver.bodies("data-changed"))
            kombo_course = record_id(
                conn.integration_id, "courses", str(sandbox.tenant.courses.items[1]["_id"])
            )
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                answer = await client.post(
                    f"/v1/lms/courses/{kombo_course}/deactivate",
                    json={},
                    headers={
                        "Authorization": f"Bearer {conn.api_key}",
                        "X-Integration-Id": conn.integration_id,
                    },
                )
            assert answer.status_code == 200, answer.text
            await eventually(lambda: "lms_courses" in _changed_models(receiver, seen), within=5)

            # every change came by webhook or by our own write: the FULL sync is the only run
            assert _count(db, SyncRun, SyncRun.integration_id == conn.integration_id) == 1
            applied = _count(db, IncomingEvent, IncomingEvent.state == "APPLIED")
            assert applied >= 3
    finally:
        vendor.close()


def _signed(secret: str, body: bytes, msg_id: str, at: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


async def test_forged_stale_and_replayed_deliveries(
    sandbox: RunningSandbox,
    db: Engine,
    box: SecretBox,
    settings: Settings,
    port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = realtime_settings(settings, port)
    conn = connect(db, box, sandbox)
    with running_bridge(settings, db, port) as api_url:
        await synced(db, api_url, conn, "FULL")
        with session_scope(db, readonly=True) as session:
            endpoint = session.get(IncomingEndpoint, conn.integration_id)
            assert endpoint is not None
            token = box.decrypt(endpoint.token_encrypted)
            sub = session.scalars(
                select(IncomingSubscription).where(IncomingSubscription.event_type == "user.updated")
            ).one()
            secret = box.decrypt(sub.secret_encrypted)
        user_id = _live_user(sandbox, 3)
        data = {"userId": user_id, "updatedAt": "2026-01-01T00:00:00.000Z"}
        body = json.dumps(
            {"type": "user.updated", "timestamp": int(time.time() * 1000), "data": data}
        ).encode()
        now = datetime.now(UTC)
        url = f"{api_url}{INCOMING_PATH}{token}"
        async with httpx.AsyncClient(timeout=10) as client:
            forged = await client.post(
                url, content=body, headers=_signed("whsec_" + "A" * 32, body, "msg_f", now)
            )
            stale = await client.post(
                url, content=body, headers=_signed(secret, body, "msg_s", now - timedelta(minutes=10))
            )
            unsigned = await client.post(url, content=body, headers={"content-type": "application/json"})
            unknown = await client.post(
                f"{api_url}{INCOMING_PATH}not-a-token",
                content=body,
                headers=_signed(secret, body, "msg_u", now),
            )
            assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
            assert unknown.status_code == 404
            assert _count(db, IncomingEvent) == 0, "a refused delivery stored something"
            refusals = [r for r in caplog.records if "incoming webhook refused" in r.getMessage()]
            assert len(refusals) == 4
            assert not any(token in r.getMessage() for r in caplog.records), "the token reached a log line"

            good = _signed(secret, body, "msg_replayed", now)
            first = await client.post(url, content=body, headers=good)
            second = await client.post(url, content=body, headers=good)
        assert (first.status_code, second.status_code) == (204, 204)
        await eventually(
            lambda: _count(db, IncomingEvent, IncomingEvent.state == "APPLIED") == 1, what="the event applied"
        )
        with session_scope(db, readonly=True) as session:
            [event] = session.scalars(select(IncomingEvent)).all()
            assert (event.webhook_id, event.attempts) == ("msg_replayed", 1)


async def test_events_sent_while_lmsbridge_was_down_are_recovered_by_the_next_delta(
    db: Engine, box: SecretBox, settings: Settings, port: int
) -> None:
    # one delivery attempt only: what fails while lmsbridge is down stays failed at 360Learning
    with running_sandbox(
        seed=9, users=20, courses=8, attempts=120, integrations=1, webhook_retry_delays_s=[0]
    ) as sandbox:
        settings = realtime_settings(settings, port)
        conn = connect(db, box, sandbox)
        vendor = VendorApi(sandbox)
        try:
            with running_bridge(settings, db, port) as api_url:
                await synced(db, api_url, conn, "FULL")
            # lmsbridge is stopped: the deliveries of these changes fail
            user_id = _live_user(sandbox, 4)
            sandbox.control.update_user(user_id, lastName="WhileDown")
            learner, course_id = _live_user(sandbox, 5), str(sandbox.tenant.courses.items[2]["_id"])
            sandbox.control.create_attempt(learner, course_id, progress=100)
            subs = stored_subscriptions(db, conn.integration_id)

            def failed_ids() -> set[str]:
                return {
                    e["_id"]
                    for t in ("user.updated", "course.attempt.closed")
                    for e in vendor.events(subs[t])
                    if e["status"] == "failed"
                }

            missed = await eventually(
                lambda: len(failed_ids()) == 2 and failed_ids(), what="failed deliveries"
            )
            assert _count(db, IncomingEvent) == 0
            with running_bridge(settings, db, port) as api_url:
                await synced(db, api_url, conn, "DELTA")
                await eventually(
                    lambda: (
                        _count(
                            db,
                            IncomingEvent,
                            IncomingEvent.webhook_id.in_(missed),
                            IncomingEvent.state == "APPLIED",
                        )
                        == 2
                    ),
                    what="the missed events read back and applied",
                )
            user = _user(db, conn.integration_id, user_id)
            assert user is not None and user.last_name == "WhileDown"
            progression = _progression(db, conn.integration_id, learner, course_id)
            assert progression is not None and progression.status == "COMPLETED"
        finally:
            vendor.close()


async def test_deleting_the_integration_removes_its_subscriptions(
    sandbox: RunningSandbox, db: Engine, box: SecretBox, settings: Settings, port: int
) -> None:
    settings = realtime_settings(settings, port)
    conn = connect(db, box, sandbox)
    vendor = VendorApi(sandbox)
    try:
        with running_bridge(settings, db, port) as api_url:
            await synced(db, api_url, conn, "FULL")
            assert incoming_urls(vendor.subscriptions())
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                answer = await client.delete(
                    f"/v1/integrations/{conn.integration_id}",
                    headers={"Authorization": f"Bearer {conn.api_key}"},
                )
            assert answer.status_code == 200, answer.text
            await eventually(
                lambda: not vendor.subscriptions(), what="the subscriptions removed at 360Learning"
            )
            await eventually(lambda: not has_endpoint(db, conn.integration_id), what="the endpoint forgotten")
            assert not stored_subscriptions(db, conn.integration_id)
    finally:
        vendor.close()


async def test_rotated_secret_is_followed_with_the_old_one_valid_during_the_overlap(
    sandbox: RunningSandbox, db: Engine, box: SecretBox, settings: Settings, port: int
) -> None:
    settings = realtime_settings(settings, port)
    conn = connect(db, box, sandbox)
    vendor = VendorApi(sandbox)
    try:
        with running_bridge(settings, db, port) as api_url:
            await synced(db, api_url, conn, "FULL")
            sub_id = stored_subscriptions(db, conn.integration_id)["user.updated"]
            rotated = vendor.http.post(f"/api/v2/webhooks/subscriptions/{sub_id}/secrets/rotate")
            assert rotated.status_code == 201, rotated.text
            new_secret = rotated.json()["secret"]
            # deliveries now carry two signatures; the stored (now legacy) secret still verifies them
            user_id = _live_user(sandbox, 6)
            sandbox.control.update_user(user_id, firstName="AfterRotation")
            await eventually(
                lambda: (u := _user(db, conn.integration_id, user_id)) and u.first_name == "AfterRotation",
                within=10,
            )
            # the next sync follows the rotation: new secret current, the old one kept for 24 h
            await synced(db, api_url, conn, "DELTA")
            with session_scope(db, readonly=True) as session:
                row = session.get(IncomingSubscription, sub_id)
                assert row is not None and row.legacy_until is not None
                assert box.decrypt(row.secret_encrypted) == new_secret
                assert row.legacy_secret_encrypted is not None
                overlap = row.legacy_until - datetime.now(UTC)
                assert timedelta(hours=23) < overlap <= timedelta(hours=24)
    finally:
        vendor.close()


async def test_without_a_public_url_or_webhook_scopes_it_says_so_and_syncs_only(
    db: Engine, box: SecretBox, settings: Settings, port: int
) -> None:
    with running_sandbox(seed=9, users=20, courses=8, attempts=120, integrations=1) as sandbox:
        no_url = realtime_settings(settings, port).model_copy(update={"public_url": None})
        conn = connect(db, box, sandbox)
        vendor = VendorApi(sandbox)
        try:
            with running_bridge(no_url, db, port) as api_url:
                await synced(db, api_url, conn, "FULL")
                assert _incoming_state(db, conn.integration_id) == "NO_PUBLIC_URL"
                assert vendor.subscriptions() == []
            # a credential without the webhooks scopes
            granted = sandbox.tenant.credentials[sandbox.client_id].scopes
            scopes = sorted(s for s in granted if not s.startswith("webhook"))
            sandbox.control.set_scopes(sandbox.client_id, scopes)
            with running_bridge(realtime_settings(settings, port), db, port) as api_url:
                await synced(db, api_url, conn, "DELTA")
                assert _incoming_state(db, conn.integration_id) == "MISSING_SCOPES"
                async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                    auth = {"Authorization": f"Bearer {conn.api_key}"}
                    details = (
                        await client.get(f"/v1/integrations/{conn.integration_id}", headers=auth)
                    ).json()
            realtime = details["data"]["realtime"]
            assert realtime["state"] == "MISSING_SCOPES" and "webhooks:" in realtime["detail"]
            # the scope test, run before the sync, names the missing webhook scopes
            scope_test = details["data"]["scope_test"]
            assert {"webhooks:read", "webhooks:write", "webhookSecrets:read"} <= set(scope_test["missing"])
        finally:
            vendor.close()


def _incoming_state(db: Engine, integration_id: str) -> str | None:
    with session_scope(db, readonly=True) as session:
        integration = session.get(Integration, integration_id)
        assert integration is not None
        return (integration.connector_state or {}).get("incoming_webhooks", {}).get("state")


def _essence(db: Engine, integration_id: str) -> dict[str, dict[str, tuple[Any, bool]]]:
    """Per table, remote id → (the 360Learning payload stored, deleted?): what a FULL sync decides."""
    out: dict[str, dict[str, tuple[Any, bool]]] = {}
    with session_scope(db, readonly=True) as session:
        for model in (User, CourseProgression):
            rows = session.execute(
                select(model.remote_id, model.remote_data, model.remote_deleted_at).where(
                    model.integration_id == integration_id
                )
            )
            out[model.__tablename__] = {r: (data, deleted is not None) for r, data, deleted in rows}
    return out


async def test_events_and_syncs_in_any_order_leave_the_store_as_a_full_sync_would(
    db: Engine, box: SecretBox, settings: Settings, port: int
) -> None:
    with running_sandbox(seed=9, users=60, courses=10, attempts=600, integrations=1) as sandbox:
        settings = realtime_settings(settings, port)
        conn = connect(db, box, sandbox)
        users = [str(u["_id"]) for u in sandbox.tenant.users.items if u.get("status") == "active"]
        courses = [str(c["_id"]) for c in sandbox.tenant.courses.items]
        with running_bridge(settings, db, port) as api_url:
            await synced(db, api_url, conn, "FULL")
        # lmsbridge down: this delivery fails and 360Learning retries it 5 s later (sandbox clock), so it
        # arrives after the newer change below — out of order
        sandbox.control.update_user(users[0], firstName="Older")
        with running_bridge(settings, db, port) as api_url:
            sandbox.control.update_user(users[0], firstName="Newer")
            await eventually(
                lambda: (u := _user(db, conn.integration_id, users[0])) and u.first_name == "Newer", within=10
            )
            # a FULL sync reads slowly (latency per call) while changes happen and their events apply
            sandbox.control.set_latency(fixed_ms=150)
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                answer = await client.post(
                    "/v1/force-sync",
                    json={"type": "FULL"},
                    headers={
                        "Authorization": f"Bearer {conn.api_key}",
                        "X-Integration-Id": conn.integration_id,
                    },
                )
            run_id = answer.json()["data"]["sync_id"]

            def running() -> bool:
                with session_scope(db, readonly=True) as session:
                    run = session.get(SyncRun, run_id)
                    return run is not None and run.state == "RUNNING"

            await eventually(running, within=30, what="the FULL sync running")
            for index in range(1, 6):
                sandbox.control.update_user(users[index], firstName=f"During{index}")
                sandbox.control.create_attempt(users[index], courses[index % len(courses)], progress=100)
            sandbox.control.delete_user(users[7])
            sandbox.control.create_user(firstName="Brand", lastName="New", mail="brand.new@example.com")
            sandbox.control.advance_clock(6)  # the older delivery's retry is due now

            def finished() -> bool:
                with session_scope(db, readonly=True) as session:
                    run = session.get(SyncRun, run_id)
                    return run is not None and run.state == "SUCCEEDED"

            await eventually(finished, within=90, what="the FULL sync")
            sandbox.control.set_latency(fixed_ms=0)
            await eventually(
                lambda: _count(db, IncomingEvent, IncomingEvent.state == "PENDING") == 0,
                within=20,
                what="every event applied",
            )
            older = await eventually(
                lambda: _count(db, IncomingEvent, IncomingEvent.type == "user.updated") >= 7,
                what="the late delivery of the older change",
            )
            assert older
            await eventually(
                lambda: _count(db, IncomingEvent, IncomingEvent.state == "PENDING") == 0, within=20
            )
        # the events really interleaved with the sync: some were applied while it ran
        with session_scope(db, readonly=True) as session:
            run = session.get(SyncRun, run_id)
            assert run is not None and run.started_at is not None and run.ended_at is not None
            during = session.scalar(
                select(func.count())
                .select_from(IncomingEvent)
                .where(IncomingEvent.received_at.between(run.started_at, run.ended_at))
            )
        assert during, "no event arrived while the FULL sync ran"
        # the reference: a fresh integration of the same tenant, filled by one FULL sync and nothing else
        reference = connect(db, box, sandbox)
        with running_bridge(settings.model_copy(update={"public_url": None}), db, port) as api_url:
            await synced(db, api_url, reference, "FULL")
        assert _essence(db, conn.integration_id) == _essence(db, reference.integration_id)
        assert _user(db, conn.integration_id, users[0]).first_name == "Newer"  # type: ignore[union-attr]


async def test_bulk_operation_ended_ends_the_wait_of_the_action_polling_it(
    db: Engine, box: SecretBox, settings: Settings
) -> None:
    """An action task polls its bulk operation with a long interval here (60 s): the applied
    ``bulk.operation.ended`` event ends the wait at once, in the process that polls."""
    with running_sandbox(
        seed=9, users=20, courses=8, attempts=120, integrations=1, bulk_run_s=1.0
    ) as sandbox:
        conn = connect(db, box, sandbox)
        runtime = Runtime(
            settings,
            db,
            work=False,
            action_options=ActionOptions(poll_initial_s=60.0, poll_max_s=60.0),
        )
        client = await runtime.actions.env.remote.client(conn.integration_id)
        provider = str(sandbox.tenant.integrations.items[0]["_id"])  # type: ignore[index]
        user, course = _live_user(sandbox, 0), str(sandbox.tenant.courses.items[0]["_id"])
        item = enroll_stat_item(user, course, datetime.now(UTC))
        operation_id = await writes.submit_stats_import(client, provider, [item])
        started = time.monotonic()
        writer = await runtime.actions.env.remote.writer(conn.integration_id, prepare=False)
        host = runtime.actions.env.remote.host(conn.integration_id)
        waiting = asyncio.create_task(writer.poll(operation_id, host))  # type: ignore[attr-defined]

        def ended() -> dict[str, Any] | None:
            operation = sandbox_get(sandbox, f"/api/v2/bulk/operations/{operation_id}")
            return operation if operation["status"] in ("completed", "error") else None

        finished = await eventually(ended, within=10, what="the bulk operation's end at 360Learning")
        assert not waiting.done(), "the poll returned before the operation ended"
        body = {
            "type": "bulk.operation.ended",
            "timestamp": int(time.time() * 1000),
            "data": {
                "bulkOperationId": operation_id,
                "type": "importExternalStatistics",
                "createdAt": finished["createdAt"],
                "endedAt": finished.get("endedAt") or finished["createdAt"],
                "status": finished["status"],
            },
        }
        with session_scope(db) as session:
            store_event(session, conn.integration_id, "msg_bulk_ended", body["type"], body, datetime.now(UTC))
        await runtime.apply_incoming(conn.integration_id)
        operation = await asyncio.wait_for(waiting, timeout=5)
        assert operation["status"] == finished["status"]
        assert time.monotonic() - started < 30, "the poll waited for its interval, not for the webhook"
        await runtime.actions.aclose()
        with session_scope(db, readonly=True) as session:
            [event] = session.scalars(select(IncomingEvent)).all()
            assert event.state == "APPLIED"


def sandbox_get(sandbox: RunningSandbox, path: str) -> dict[str, Any]:
    vendor = VendorApi(sandbox)
    try:
        answer = vendor.http.get(path)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())
    finally:
        vendor.close()


def test_handled_events_are_pruned_after_the_retention_pending_ones_stay(db: Engine) -> None:
    now = datetime.now(UTC)
    with session_scope(db) as session:
        for webhook_id, state, age in (
            ("old-applied", "APPLIED", 40),
            ("old-pending", "PENDING", 40),
            ("new-applied", "APPLIED", 1),
        ):
            store_event(session, "360learning:x", webhook_id, "user.updated", {}, now - timedelta(days=age))
            session.execute(
                update(IncomingEvent).where(IncomingEvent.webhook_id == webhook_id).values(state=state)
            )
    with session_scope(db) as session:
        assert prune_events(session, now - timedelta(days=30)) == 1
    with session_scope(db, readonly=True) as session:
        left = set(session.scalars(select(IncomingEvent.webhook_id)))
    assert left == {"old-pending", "new-applied"}


async def test_subscriptions_are_healed_by_the_next_sync_and_go_when_disabled(
    sandbox: RunningSandbox, db: Engine, box: SecretBox, settings: Settings, port: int
) -> None:
    settings = realtime_settings(settings, port)
    conn = connect(db, box, sandbox)
    vendor = VendorApi(sandbox)
    auth = {"Authorization": f"Bearer {conn.api_key}"}
    try:
        with running_bridge(settings, db, port) as api_url:
            await synced(db, api_url, conn, "FULL")
            stored = stored_subscriptions(db, conn.integration_id)
            [url] = incoming_urls(vendor.subscriptions())
            # an admin deletes one subscription and deactivates another in 360Learning
            assert (
                vendor.http.delete(f"/api/v2/webhooks/subscriptions/{stored['user.created']}").status_code
                == 204
            )
            patched = vendor.http.patch(
                f"/api/v2/webhooks/subscriptions/{stored['user.deleted']}", json={"status": "inactive"}
            )
            assert patched.status_code == 200, patched.text
            await synced(db, api_url, conn, "DELTA")
            healed = {s["eventType"]: s for s in vendor.subscriptions()}
            assert sorted(healed) == sorted(SUBSCRIBED_EVENTS)
            assert all(s["status"] == "active" and s["url"] == url for s in healed.values())
            now_stored = stored_subscriptions(db, conn.integration_id)
            assert now_stored["user.created"] == healed["user.created"]["_id"] != stored["user.created"]
            assert now_stored["user.deleted"] == stored["user.deleted"]
            # a re-created subscription delivers and verifies: its new secret was stored
            created = sandbox.control.create_user(
                firstName="Healed", lastName="User", mail="healed@example.com"
            )
            await eventually(lambda: _user(db, conn.integration_id, str(created["_id"])), within=10)
            # disabling removes them at 360Learning; enabling and syncing brings them back
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                answer = await client.put(
                    f"/v1/integrations/{conn.integration_id}/enabled", json={"value": False}, headers=auth
                )
                assert answer.status_code == 200, answer.text
                await eventually(lambda: not vendor.subscriptions(), what="the subscriptions removed")
                answer = await client.put(
                    f"/v1/integrations/{conn.integration_id}/enabled", json={"value": True}, headers=auth
                )
                assert answer.status_code == 200, answer.text
            await synced(db, api_url, conn, "DELTA")
            assert sorted(s["eventType"] for s in vendor.subscriptions()) == sorted(SUBSCRIBED_EVENTS)
    finally:
        vendor.close()
