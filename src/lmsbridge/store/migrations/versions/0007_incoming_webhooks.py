"""Incoming webhooks: one receiving endpoint per integration, the LMS subscriptions lmsbridge holds (with
encrypted signing secrets), and the events received, each stored once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incoming_endpoints",
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_connection", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("integration_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "incoming_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("legacy_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("legacy_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events_read_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "event_type", name="uq_incoming_subscription"),
    )
    op.create_index("ix_incoming_subscriptions_integration_id", "incoming_subscriptions", ["integration_id"])
    op.create_table(
        "incoming_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "webhook_id", name="uq_incoming_event"),
    )
    op.create_index("ix_incoming_events_due", "incoming_events", ["state", "integration_id"])


def downgrade() -> None:
    op.drop_index("ix_incoming_events_due", table_name="incoming_events")
    op.drop_table("incoming_events")
    op.drop_index("ix_incoming_subscriptions_integration_id", table_name="incoming_subscriptions")
    op.drop_table("incoming_subscriptions")
    op.drop_table("incoming_endpoints")
