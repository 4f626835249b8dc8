"""Old history goes, recent history and what is still needed stays: interaction logs, sync runs,
webhook events (prune_history, which the job system runs periodically)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from factories import BASE_TIME
from lmsbridge.ids import random_id
from lmsbridge.settings import Settings
from lmsbridge.store.engine import session_scope
from lmsbridge.store.logs import write_log
from lmsbridge.store.retention import KEEP_RUNS_PER_INTEGRATION, HistoryRetention, prune_history
from lmsbridge.store.schema import InteractionLog, SyncRun, WebhookDelivery, WebhookEndpoint, WebhookEvent

NOW = BASE_TIME + timedelta(days=400)


def _run(integration_id: str, age: timedelta, state: str = "SUCCEEDED") -> SyncRun:
    at = NOW - age
    ended = at if state not in ("QUEUED", "RUNNING") else None
    return SyncRun(
        id=random_id(),
        integration_id=integration_id,
        type="DELTA",
        state=state,
        created_at=at,
        ended_at=ended,
    )


def _ids(engine: Engine, model: type[InteractionLog] | type[SyncRun] | type[WebhookEvent]) -> set[str]:
    with session_scope(engine, readonly=True) as session:
        return set(session.scalars(select(model.id)))


def test_prune_history_deletes_only_what_is_old_and_done(engine: Engine, integration_id: str) -> None:
    retention = HistoryRetention.from_settings(Settings())  # the defaults: 30, 90 and 30 days
    assert retention == HistoryRetention(timedelta(days=30), timedelta(days=90), timedelta(days=30))
    with session_scope(engine) as session:
        old_log = write_log(session, "api", now=NOW - timedelta(days=31)).id
        new_log = write_log(session, "api", now=NOW - timedelta(days=29)).id
        # the latest KEEP_RUNS_PER_INTEGRATION runs stay however old; older ones go after 90 days
        kept_old = [
            _run(integration_id, timedelta(days=200 + i)) for i in range(KEEP_RUNS_PER_INTEGRATION - 2)
        ]
        recent = [_run(integration_id, timedelta(days=1)), _run(integration_id, timedelta(days=2))]
        expired = [_run(integration_id, timedelta(days=300 + i)) for i in range(5)]
        running = _run(integration_id, timedelta(days=365), state="RUNNING")
        session.add_all([*kept_old, *recent, *expired, running])
        endpoint = WebhookEndpoint(
            id=random_id(), url="https://receiver.example/", secret_encrypted="x", created_at=NOW
        )
        events = {
            name: WebhookEvent(id=random_id(), type="sync-finished", payload={}, created_at=NOW - age)
            for name, age in (
                ("old", timedelta(days=40)),
                ("new", timedelta(days=3)),
                ("pending", timedelta(days=40)),
            )
        }
        session.add_all([endpoint, *events.values()])
        session.flush()
        for name, event in events.items():
            state = "PENDING" if name == "pending" else "SUCCEEDED"
            session.add(
                WebhookDelivery(
                    id=random_id(),
                    event_id=event.id,
                    endpoint_id=endpoint.id,
                    state=state,
                    created_at=event.created_at,
                )
            )
    with session_scope(engine) as session:
        counts = prune_history(session, NOW, retention)
    assert counts == {"interaction_logs": 1, "sync_runs": 5, "webhook_events": 1}
    assert _ids(engine, InteractionLog) == {new_log} and old_log not in _ids(engine, InteractionLog)
    assert _ids(engine, SyncRun) == {r.id for r in [*kept_old, *recent, running]}
    assert _ids(engine, WebhookEvent) == {events["new"].id, events["pending"].id}
    with session_scope(engine, readonly=True) as session:
        assert set(session.scalars(select(WebhookDelivery.event_id))) == {
            events["new"].id,
            events["pending"].id,
        }
    # a second pass finds nothing more; 0 days keeps everything
    with session_scope(engine) as session:
        assert prune_history(session, NOW, retention) == dict.fromkeys(counts, 0)
        forever = HistoryRetention(timedelta(0), timedelta(0), timedelta(0))
        assert prune_history(session, NOW + timedelta(days=10_000), forever) == dict.fromkeys(counts, 0)
