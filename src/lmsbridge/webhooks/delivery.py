"""The deliverer: claims a due webhook delivery, POSTs the signed event body, records the outcome.

Each attempt is a job of the job system (never inside a sync or a request). The claim is a conditional
UPDATE that pushes the next attempt out by a lease, so a delivery is attempted by one job at a time and a
crashed job's claim comes due again: delivery is at least once, with the event ``id`` stable so
receivers can drop repeats.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, Select, func, select, update
from sqlalchemy.orm import Session

from lmsbridge import __version__, logs
from lmsbridge.clock import utcnow
from lmsbridge.crypto import SecretBox, SecretBoxError
from lmsbridge.redaction import redact_text
from lmsbridge.settings import Settings
from lmsbridge.store.logs import write_log
from lmsbridge.store.schema import WebhookDelivery, WebhookEndpoint, WebhookEvent
from lmsbridge.store.transact import transact_async
from lmsbridge.webhooks import payloads
from lmsbridge.webhooks.signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

PENDING, SUCCEEDED, FAILED = "PENDING", "SUCCEEDED", "FAILED"
# how much of a receiver's answer is kept in the log (receivers are not expected to say much)
RESPONSE_SNIPPET_BYTES = 1024


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Exponential backoff: after failed attempt n the next comes ``base * factor**(n-1)`` later (at most
    ``cap``), stretched by up to ``jitter`` so many failed deliveries do not retry in lockstep.

    Jitter only lengthens a delay, so the nominal span is a guaranteed minimum. The default gives 10
    attempts over at least ~26.8 h (30 s, 2 min, 8 min, 32 min, 2 h 8 min, then every 6 h).
    """

    max_attempts: int = 10
    base: timedelta = timedelta(seconds=30)
    factor: float = 4.0
    cap: timedelta = timedelta(hours=6)
    jitter: float = 0.2

    def nominal_delay(self, attempt: int) -> timedelta:
        seconds = self.base.total_seconds() * self.factor ** max(0, attempt - 1)
        return timedelta(seconds=min(seconds, self.cap.total_seconds()))

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """The wait after failed attempt ``attempt`` (1-based)."""
        spread = (rng or random).uniform(0.0, self.jitter)
        return self.nominal_delay(attempt) * (1.0 + spread)

    def minimum_span(self) -> timedelta:
        """The shortest time from the first to the last attempt."""
        return sum((self.nominal_delay(n) for n in range(1, self.max_attempts)), timedelta())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this process has claimed for one attempt, with what it needs to send it."""

    delivery_id: str
    attempt: int  # 1-based; also the claim token (the row's attempts value after claiming)
    event_id: str
    event_type: str
    integration_id: str | None
    payload: dict[str, Any]
    endpoint_id: str
    url: str
    secret_encrypted: str


@dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None
    error: str | None
    response_snippet: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDeliverer:
    """Sends the outbox: ``deliver(id)`` is one job's attempt; ``deliver_due()`` does one complete pass
    (the CLI's ``webhooks deliver``, tests)."""

    def __init__(
        self,
        db: Engine,
        box: SecretBox,
        settings: Settings,
        *,
        http_timeout: float = 10.0,
        schedule: RetrySchedule | None = None,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 8,
        lease: timedelta | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.settings = settings
        self.http_timeout = http_timeout
        self.schedule = schedule or RetrySchedule()
        self.clock = clock
        self.concurrency = max(1, concurrency)
        # a claim older than this belongs to a dead (or hung) process and may be taken again
        self.lease = lease or timedelta(seconds=2 * http_timeout + 30)
        self._transport = transport
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.http_timeout,
                follow_redirects=False,  # a redirect is not an acknowledgement
                transport=self._transport,
                limits=httpx.Limits(max_connections=self.concurrency),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(self, delivery_id: str) -> bool:
        """One attempt of one delivery, if it is due; returns whether an attempt was made."""
        now = self.clock()
        max_attempts = self.schedule.max_attempts
        claimed = await transact_async(
            self.db, lambda s: claim_due(s, now, 1, self.lease, max_attempts, delivery_id=delivery_id)
        )
        for job in claimed:
            await self._attempt(job)
        return bool(claimed)

    async def deliver_due(self) -> int:
        """Attempt every delivery due now (at most ``concurrency`` at once); returns how many were tried."""
        total = 0
        while claimed := await self._claim(self.concurrency):
            await asyncio.gather(*(self._attempt(job) for job in claimed))
            total += len(claimed)
        return total

    # ---- claim, send, record --------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[Claimed]:
        now = self.clock()
        max_attempts = self.schedule.max_attempts
        return await transact_async(self.db, lambda s: claim_due(s, now, limit, self.lease, max_attempts))

    async def _attempt(self, job: Claimed) -> None:
        outcome = await self._send(job)
        now = self.clock()
        next_at = await transact_async(self.db, lambda s: self._record(s, job, outcome, now))
        if outcome.succeeded:
            # a delivery that failed before and now went through: the receiver is back
            result: logs.DeliveryOutcome = "recovered" if job.attempt > 1 else "delivered"
        else:
            result = "failed" if next_at is not None else "gave_up"
        logs.log_delivery_outcome(
            result,
            endpoint_id=job.endpoint_id,
            delivery_id=job.delivery_id,
            event_type=job.event_type,
            integration_id=job.integration_id,
            attempt=job.attempt,
            status_code=outcome.status,
            duration_s=outcome.duration_ms / 1000,
            reason=redact_text(outcome.error) if outcome.error else None,
            next_attempt_at=next_at,
        )

    async def _send(self, job: Claimed) -> Attempt:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            secret = self.box.decrypt(job.secret_encrypted)
        except SecretBoxError as exc:
            return Attempt(None, str(exc), None, took())
        body = payloads.encode(job.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"lmsbridge/{__version__}",
            SIGNATURE_HEADER: sign(secret, body),
        }
        try:
            # httpx's timeout is per phase; this bounds the whole exchange (a slow drip included)
            async with asyncio.timeout(self.http_timeout):
                request = self._http().build_request("POST", job.url, content=body, headers=headers)
                response = await self._http().send(request, stream=True)
                try:
                    snippet = await _read_some(response, RESPONSE_SNIPPET_BYTES)
                finally:
                    await response.aclose()
        except TimeoutError:
            return Attempt(None, f"no answer within {self.http_timeout:g} s", None, took())
        except Exception as exc:  # any failure to talk to the receiver is a failed attempt, never a crash
            return Attempt(
                None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None, took()
            )
        error = (
            None if 200 <= response.status_code < 300 else f"receiver answered HTTP {response.status_code}"
        )
        return Attempt(response.status_code, error, snippet, took())

    def _record(self, session: Session, job: Claimed, outcome: Attempt, now: datetime) -> datetime | None:
        """Store the attempt's outcome; returns when the next attempt is due (None: no more)."""
        # an error text may quote the URL: its query string could hold a token of the receiver's
        error = redact_text(outcome.error) if outcome.error else None
        values: dict[str, Any] = {"last_status": outcome.status, "last_error": error}
        if outcome.succeeded:
            values.update(state=SUCCEEDED, delivered_at=now, next_attempt_at=None)
        elif job.attempt >= self.schedule.max_attempts:
            values.update(state=FAILED, next_attempt_at=None)
        else:
            values.update(state=PENDING, next_attempt_at=now + self.schedule.delay(job.attempt, self._rng))
        # only while the claim is still ours: a process that took it over after our lease expired wins
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == job.delivery_id,
                WebhookDelivery.state == PENDING,
                WebhookDelivery.attempts == job.attempt,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        write_log(
            session,
            "webhook",
            integration_id=job.integration_id,
            method="POST",
            url=job.url,
            status_code=outcome.status,
            request={
                "delivery_id": job.delivery_id,
                "event_id": job.event_id,
                "event_type": job.event_type,
                "endpoint_id": job.endpoint_id,
                "attempt": job.attempt,
                "body": job.payload,
            },
            response={"state": values["state"], "body": outcome.response_snippet},
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            now=now,
        )
        next_at: datetime | None = values.get("next_attempt_at")
        return next_at


async def _read_some(response: httpx.Response, limit: int) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit].decode("utf-8", errors="replace")


def _due(now: datetime, *columns: Any) -> Select[Any]:
    """``columns`` of the deliveries due for an attempt at ``now``, the longest waiting first."""
    return (
        select(*columns)
        .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    )


def due_ids(session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Deliveries due for an attempt (the job system defers one job each)."""
    return list(session.scalars(_due(now, WebhookDelivery.id).limit(limit)))


def oldest_pending_age(session: Session, now: datetime) -> float:
    """Seconds since the oldest delivery still to be made was created (0 when none waits)."""
    oldest = session.scalar(
        select(func.min(WebhookDelivery.created_at)).where(WebhookDelivery.state == PENDING)
    )
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    lease: timedelta,
    max_attempts: int | None = None,
    *,
    delivery_id: str | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due PENDING deliveries: each is taken by a conditional UPDATE (attempts
    +1, next attempt pushed out by ``lease``), so of several processes exactly one wins it.

    A due delivery that already used ``max_attempts`` (its process died during the last one) is FAILED
    instead of being tried again: a crash loop cannot retry forever.
    """
    if max_attempts is not None:
        session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.state == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookDelivery.attempts >= max_attempts,
            )
            .values(state=FAILED, next_attempt_at=None, last_error="gave up: the last attempt never finished")
            .execution_options(synchronize_session=False)
        )
    query = _due(now, WebhookDelivery.id, WebhookDelivery.attempts)
    if delivery_id is not None:
        query = query.where(WebhookDelivery.id == delivery_id)
    candidates = session.execute(query.limit(limit)).all()
    won: dict[str, int] = {}
    for delivery_id, attempts in candidates:
        result = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == PENDING,
                WebhookDelivery.attempts == attempts,
            )
            .values(attempts=attempts + 1, next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            won[delivery_id] = attempts + 1
    if not won:
        return []
    rows = session.execute(
        select(WebhookDelivery.id, WebhookEvent, WebhookEndpoint)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(won))
    ).all()
    return [
        Claimed(
            delivery_id=delivery_id,
            attempt=won[delivery_id],
            event_id=event.id,
            event_type=event.type,
            integration_id=event.integration_id,
            payload=dict(event.payload),
            endpoint_id=endpoint.id,
            url=endpoint.url,
            secret_encrypted=endpoint.secret_encrypted,
        )
        for delivery_id, event, endpoint in rows
    ]
