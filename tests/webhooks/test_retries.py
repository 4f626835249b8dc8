"""Durable delivery: retries with backoff on an injectable clock, restarts between attempts, a crash in the
middle of an attempt, giving up after the schedule, and several deliverers sharing one database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from webhook_support import ManualClock, Receiver, running_receiver

from factories import make_integration
from lmsbridge.crypto import SecretBox
from lmsbridge.settings import Settings
from lmsbridge.store.engine import make_engine, session_scope
from lmsbridge.store.integrations import get_integration
from lmsbridge.store.schema import WebhookDelivery
from lmsbridge.webhooks import outbox
from lmsbridge.webhooks.delivery import RetrySchedule, WebhookDeliverer, claim_due
from lmsbridge.webhooks.endpoints import create_endpoint


def _add_endpoint(db: Engine, box: SecretBox, url: str) -> str:
    with session_scope(db) as session:
        _, secret = create_endpoint(session, box, url)
    return secret


def _emit_created(
    db: Engine, box: SecretBox, integration_id: str | None = None, now: datetime | None = None
) -> str:
    integration_id = integration_id or make_integration(db, box)
    with session_scope(db) as session:
        integration = get_integration(session, integration_id)
        assert integration is not None
        return outbox.record_integration_created(session, integration, now or datetime.now(UTC))


def _delivery(db: Engine) -> WebhookDelivery:
    with session_scope(db, readonly=True) as session:
        rows = list(session.scalars(select(WebhookDelivery)))
    assert len(rows) == 1
    return rows[0]


async def _pass(settings: Settings, clock: ManualClock, **options: object) -> int:
    """One deliverer "process": its own engine and key, one pass over what is due, then shut down."""
    engine = make_engine(settings.resolved_database_url)
    deliverer = WebhookDeliverer(engine, SecretBox.from_settings(settings), settings, clock=clock, **options)  # type: ignore[arg-type]
    try:
        return await deliverer.deliver_due()
    finally:
        await deliverer.aclose()
        engine.dispose()


def test_default_schedule_is_at_least_8_attempts_over_24_hours() -> None:
    schedule = RetrySchedule()
    assert schedule.max_attempts >= 8
    assert schedule.minimum_span() >= timedelta(hours=24)
    delays = [schedule.nominal_delay(n) for n in range(1, schedule.max_attempts)]
    assert delays == sorted(delays) and delays[1] > delays[0]  # exponential, then capped
    for attempt in range(1, schedule.max_attempts):
        delay = schedule.delay(attempt)
        assert schedule.nominal_delay(attempt) <= delay <= schedule.nominal_delay(attempt) * 1.2


async def test_three_failures_then_success_across_restarts(
    db: Engine, box: SecretBox, settings: Settings
) -> None:
    clock = ManualClock()
    with running_receiver(script=[500, 503, 404]) as receiver:
        secret = _add_endpoint(db, box, receiver.url)
        event_id = _emit_created(db, box, now=clock())
        for attempt in range(1, 5):
            # every attempt is made by a freshly started deliverer: a restart between attempts
            assert await _pass(settings, clock) == 1
            row = _delivery(db)
            assert row.attempts == attempt
            if attempt < 4:
                assert row.state == "PENDING" and row.next_attempt_at is not None
                assert row.last_status == receiver.received[-1].status
                assert row.next_attempt_at > clock()
                assert await _pass(settings, clock) == 0  # nothing is due before the backoff elapsed
                clock.advance(row.next_attempt_at - clock())
        assert row.state == "SUCCEEDED" and row.delivered_at == clock() and row.last_status == 200
        clock.advance(timedelta(days=3))
        assert await _pass(settings, clock) == 0  # never sent again once acknowledged
    assert [r.status for r in receiver.received] == [500, 503, 404, 200]
    assert len(receiver.successes()) == 1
    assert {r.json()["id"] for r in receiver.received} == {event_id}
    assert len({r.body for r in receiver.received}) == 1  # the same bytes every time
    assert all(r.signature_valid(secret) for r in receiver.received)


async def test_a_crash_during_an_attempt_loses_nothing(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver
) -> None:
    clock = ManualClock()
    _add_endpoint(db, box, receiver.url)
    event_id = _emit_created(db, box, now=clock())
    lease = timedelta(minutes=2)
    with session_scope(db) as session:  # a process claims the delivery, then dies before sending
        assert len(claim_due(session, clock(), 10, lease)) == 1
    assert await _pass(settings, clock, lease=lease) == 0  # claimed: another process keeps off it
    clock.advance(lease)
    assert await _pass(settings, clock, lease=lease) == 1  # the claim expired: sent
    assert [r.json()["id"] for r in receiver.received] == [event_id]
    row = _delivery(db)
    assert row.state == "SUCCEEDED" and row.attempts == 2


async def test_gives_up_after_the_schedule(db: Engine, box: SecretBox, settings: Settings) -> None:
    clock = ManualClock()
    schedule = RetrySchedule()
    with running_receiver(default_status=500) as receiver:
        _add_endpoint(db, box, receiver.url)
        _emit_created(db, box, now=clock())
        first = clock()
        last = first
        while True:
            assert await _pass(settings, clock) == 1
            last = clock()
            row = _delivery(db)
            if row.state != "PENDING":
                break
            assert row.next_attempt_at is not None
            clock.advance(row.next_attempt_at - clock())
        clock.advance(timedelta(days=30))
        assert await _pass(settings, clock) == 0
    assert row.state == "FAILED" and row.attempts == schedule.max_attempts >= 8
    assert row.last_status == 500 and row.next_attempt_at is None
    assert len(receiver.received) == schedule.max_attempts
    assert last - first >= timedelta(hours=24)


async def test_unreachable_receiver_is_retried(db: Engine, box: SecretBox, settings: Settings) -> None:
    clock = ManualClock()
    with running_receiver() as closed:
        url = closed.url  # the port is closed once the receiver is gone
    _add_endpoint(db, box, url)
    _emit_created(db, box, now=clock())
    assert await _pass(settings, clock, http_timeout=2.0) == 1
    row = _delivery(db)
    assert row.state == "PENDING" and row.attempts == 1 and row.last_status is None
    assert row.last_error and "ConnectError" in row.last_error


async def test_several_deliverers_send_each_event_once(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver
) -> None:
    clock = ManualClock()
    _add_endpoint(db, box, receiver.url)
    integration_id = make_integration(db, box)
    events = {_emit_created(db, box, integration_id, now=clock()) for _ in range(24)}
    counts = await asyncio.gather(*(_pass(settings, clock, concurrency=3) for _ in range(3)))
    assert sum(counts) == 24
    ids = [r.json()["id"] for r in receiver.received]
    assert sorted(ids) == sorted(events)  # each exactly once


async def test_a_delivery_whose_last_attempt_never_finished_fails(
    db: Engine, box: SecretBox, settings: Settings, receiver: Receiver
) -> None:
    clock = ManualClock()
    schedule = RetrySchedule(max_attempts=2)
    _add_endpoint(db, box, receiver.url)
    _emit_created(db, box, now=clock())
    lease = timedelta(minutes=2)
    for _ in range(schedule.max_attempts):  # every attempt's process dies before recording it
        with session_scope(db) as session:
            assert len(claim_due(session, clock(), 10, lease, schedule.max_attempts)) == 1
        clock.advance(lease)
    assert await _pass(settings, clock, lease=lease, schedule=schedule) == 0
    row = _delivery(db)
    assert row.state == "FAILED" and row.attempts == 2 and row.last_error
    assert receiver.received == []
