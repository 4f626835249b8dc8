"""Tables. One per unified model plus integrations, API keys, sync runs and interaction logs.

This module is the contract between sync (writes), api (reads) and the migrations: change it only
together with a new Alembic revision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from lmsbridge.store.datetimes import stored_datetime

ID = String(64)  # record ids are 24 chars; integration ids carry a tool prefix


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite's DATETIME text made by one C call instead of the decorator's conversion plus
        # SQLAlchemy's %-formatting
        def process(value: datetime | None) -> str | None:
            return None if value is None else stored_datetime(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tool: Mapped[str] = mapped_column(String(32))
    # ACTIVE | INVALID | INACTIVE (Kombo's integration state)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    base_url: Mapped[str] = mapped_column(Text)
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    end_user: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # INCOMPLETE | FINAL_SYNC_PENDING | COMPLETED
    setup_status: Mapped[str] = mapped_column(String(24), default="FINAL_SYNC_PENDING")
    # PENDING | FAILED | PASSED
    qa_status: Mapped[str] = mapped_column(String(16), default="PENDING")
    scope_test: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    model_tests: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # connector-owned state that must survive restarts (e.g. the LMS-side id of lmsbridge's own course
    # provider)
    connector_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    # the schedule's failure policy: failed syncs back off, and after too many the schedule pauses
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_sync_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the earliest time the schedule queues this integration's next sync (a failed one backs off)
    next_sync_at: Mapped[datetime | None] = mapped_column(nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # first characters of the key, shown in listings so a user can tell keys apart
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class KeyValue(Base):
    """Installation-wide values, e.g. the environment id returned by check-api-key."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RecordColumns:
    """Columns every unified-model table has (DESIGN §4)."""

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    integration_id: Mapped[str] = mapped_column(ID, ForeignKey("integrations.id", ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(255))
    remote_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # hash of the mapped fields (not of remote_data noise); changed_at moves only when it differs
    content_hash: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column()
    remote_created_at: Mapped[datetime | None] = mapped_column(nullable=True)
    remote_deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    anonymized_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_sync_id: Mapped[str | None] = mapped_column(ID, nullable=True)


def _record_indexes(table: str) -> tuple[Any, ...]:
    # no UNIQUE (integration_id, remote_id): the id is derived from both (lmsbridge/ids.py), so the primary
    # key enforces it, and a sync would pay one more index write per record for nothing
    return (
        # keyset pagination and updated_after both walk (integration, changed_at, id)
        Index(f"ix_{table}_changed", "integration_id", "changed_at", "id"),
        Index(f"ix_{table}_page", "integration_id", "id"),
    )


class User(RecordColumns, Base):
    __tablename__ = "lms_users"
    __table_args__ = (
        *_record_indexes("lms_users"),
        Index("ix_lms_users_email", "integration_id", "work_email_lower"),
    )

    first_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    work_email: Mapped[str | None] = mapped_column(Text, nullable=True)
    work_email_lower: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)


class CourseProvider(RecordColumns, Base):
    __tablename__ = "lms_course_providers"
    __table_args__ = _record_indexes("lms_course_providers")

    name: Mapped[str | None] = mapped_column(Text, nullable=True)


class Course(RecordColumns, Base):
    __tablename__ = "lms_courses"
    __table_args__ = (
        *_record_indexes("lms_courses"),
        Index("ix_lms_courses_tree_changed", "integration_id", "tree_changed_at", "id"),
        Index("ix_lms_courses_origin", "integration_id", "origin_id"),
    )

    provider_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    origin_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # max(changed_at of the course and of its revisions): updated_after on /lms/courses follows nested
    # revisions (added, removed or changed), per the reference spec.
    tree_changed_at: Mapped[datetime] = mapped_column()


class CourseRevision(RecordColumns, Base):
    __tablename__ = "lms_course_revisions"
    __table_args__ = (
        *_record_indexes("lms_course_revisions"),
        Index("ix_lms_course_revisions_course", "course_id"),
    )

    course_id: Mapped[str] = mapped_column(ID)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)


class CourseProgression(RecordColumns, Base):
    __tablename__ = "lms_course_progressions"
    __table_args__ = (
        *_record_indexes("lms_course_progressions"),
        # no leading integration_id: user and course ids are unique across integrations (lmsbridge/ids.py),
        # and every sync pays these two random-keyed B-trees per record (36 bytes less an entry: migration
        # 0004). The query still checks integration_id, on the row.
        Index("ix_lms_course_progressions_user", "user_id", "id"),
        Index("ix_lms_course_progressions_course", "course_id", "id"),
    )

    user_id: Mapped[str] = mapped_column(ID)
    course_revision_id: Mapped[str] = mapped_column(ID)
    # denormalised from the revision so the course_ids filter needs no join
    course_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    enrolled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Skill(RecordColumns, Base):
    __tablename__ = "lms_skills"
    __table_args__ = _record_indexes("lms_skills")

    name: Mapped[str | None] = mapped_column(Text, nullable=True)


# at most one queued or running sync per integration, whoever queues it (API, schedule, CLI, any process)
_ACTIVE_RUN = text("state IN ('QUEUED', 'RUNNING')")


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_integration", "integration_id", "created_at"),
        Index(
            "ux_sync_runs_one_active",
            "integration_id",
            unique=True,
            sqlite_where=_ACTIVE_RUN,
            postgresql_where=_ACTIVE_RUN,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    integration_id: Mapped[str] = mapped_column(ID, ForeignKey("integrations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(8))  # FULL | DELTA
    # QUEUED | RUNNING | SUCCEEDED | FAILED | PARTIALLY_FAILED | AUTHENTICATION_FAILED | CANCELLED | TIMED_OUT
    state: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # liveness: a RUNNING run whose heartbeat is stale belongs to a dead process and is resumed
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # per stream: {"cursor": …, "done": bool, "seen": n, "created": n, "changed": n, "deleted": n}
    streams: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    log_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    # set to stop a queued or running run; the engine ends it as CANCELLED at its next page
    cancel_requested_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RateBudget(Base):
    """One shared request budget (an LMS company's reads or writes) as a GCRA schedule, so every
    process and machine on one PostgreSQL database spends the same budget."""

    __tablename__ = "rate_budgets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # theoretical arrival time of the next request, seconds since the epoch (database clock)
    tat: Mapped[float] = mapped_column(Float)
    # > 1 while the LMS answers 429: the budget's interval is stretched by this factor
    slowdown: Mapped[float] = mapped_column(Float, default=1.0)


class InteractionLog(Base):
    """One logged interaction (API error, sync, action, passthrough, webhook delivery); secrets redacted."""

    __tablename__ = "interaction_logs"
    __table_args__ = (Index("ix_interaction_logs_integration", "integration_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    integration_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    kind: Mapped[str] = mapped_column(String(24))  # api | sync | action | passthrough | webhook
    method: Mapped[str | None] = mapped_column(String(10), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column()


RECORD_TABLES: dict[str, type[RecordColumns]] = {
    "users": User,
    "course_providers": CourseProvider,
    "courses": Course,
    "course_revisions": CourseRevision,
    "course_progressions": CourseProgression,
    "skills": Skill,
}


class ActionTask(Base):
    """A write action processed in the background (course upserts, enrollments, completions,
    deactivations): stored so a restart resumes it and nothing is lost or stuck."""

    __tablename__ = "action_tasks"
    __table_args__ = (
        Index("ix_action_tasks_integration", "integration_id", "created_at"),
        Index("ix_action_tasks_due", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    integration_id: Mapped[str] = mapped_column(ID, ForeignKey("integrations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # courses_upsert | enroll | complete | deactivate
    state: Mapped[str] = mapped_column(String(16))  # PENDING | RUNNING | COMPLETED | FAILED
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    # where the remote side is (e.g. the LMS's bulk operation ids), so a restart resumes polling
    remote_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | list[Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    log_id: Mapped[str | None] = mapped_column(ID, nullable=True)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # event types this endpoint receives; null = all
    event_types: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookEvent(Base):
    """The outbox: an event is written in the same transaction as the change that caused it."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_created", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the event id receivers see, stable on retries
    type: Mapped[str] = mapped_column(String(40))
    integration_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the whole body: {"id", "type", "data"}
    created_at: Mapped[datetime] = mapped_column()


class WebhookDelivery(Base):
    """One event to one endpoint: attempts, backoff, outcome."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_delivery"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        # the newest deliveries first (the dashboard, `lmsbridge webhooks deliveries`) without a sort
        Index("ix_webhook_deliveries_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    event_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))  # PENDING | SUCCEEDED | FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PendingChange(Base):
    """Models changed since the last data-changed event of an integration (coalesced per model)."""

    __tablename__ = "webhook_pending_changes"

    integration_id: Mapped[str] = mapped_column(ID, primary_key=True)
    model: Mapped[str] = mapped_column(String(40), primary_key=True)
    changed_at: Mapped[datetime] = mapped_column()


class ConnectLink(Base):
    """A Connect link (Kombo's create-link and relink): single use, expiring, known only by its token's
    hash. Credentials a customer entered wait here, encrypted, between the scope test and the confirm."""

    __tablename__ = "connect_links"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    # SHA-256 of the token in the link; the token itself is never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the integration a relink replaces the credentials of; for a new one, set once the flow created it
    integration_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    relink: Mapped[bool] = mapped_column(Boolean, default=False)
    tool: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # organization_name, creator_email, origin_id (Kombo's end_user)
    end_user: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str] = mapped_column(String(8), default="en")
    link_type: Mapped[str] = mapped_column(String(16), default="EMBEDDED")
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # host + credentials that passed the scope test, encrypted, until the customer confirms
    pending_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    pending_scope_test: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class IncomingEndpoint(Base):
    """Where an LMS delivers its webhooks for one integration: ``/v1/incoming/{token}``. The token is
    found by its hash; the encrypted copy rebuilds the URL when a subscription must be registered again."""

    __tablename__ = "incoming_endpoints"

    integration_id: Mapped[str] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    # set when the integration is disabled or deleted: its subscriptions are to be removed at the LMS, with
    # the connection kept here (tool, base_url, settings, still-encrypted credentials) for that job
    retire_at: Mapped[datetime | None] = mapped_column(nullable=True)
    retired_connection: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class IncomingSubscription(Base):
    """One webhook subscription lmsbridge holds at the LMS (one event type), with its signing secrets."""

    __tablename__ = "incoming_subscriptions"
    __table_args__ = (UniqueConstraint("integration_id", "event_type", name="uq_incoming_subscription"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the LMS's subscription id
    integration_id: Mapped[str] = mapped_column(ID, index=True)
    event_type: Mapped[str] = mapped_column(String(80))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # the secret before a rotation: deliveries signed with it stay valid until legacy_until
    legacy_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    legacy_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # the LMS's clock: events created from here on are read back by the next DELTA (missed events)
    events_read_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()


class IncomingEvent(Base):
    """A webhook received from an LMS (or read back from its event list), applied by a job."""

    __tablename__ = "incoming_events"
    __table_args__ = (
        # a redelivered or read-back event is stored once
        UniqueConstraint("integration_id", "webhook_id", name="uq_incoming_event"),
        Index("ix_incoming_events_due", "state", "integration_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    integration_id: Mapped[str] = mapped_column(ID)
    webhook_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column()
    # PENDING | APPLIED | IGNORED | FAILED
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    applied_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
