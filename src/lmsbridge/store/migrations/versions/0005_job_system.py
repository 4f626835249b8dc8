"""The job system: the schedule's failure policy on integrations, cancel requests on sync runs, at most one
active sync run per integration, shared rate budgets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("integrations") as batch_op:
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("last_sync_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("next_sync_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("sync_runs") as batch_op:
        batch_op.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
    active = sa.text("state IN ('QUEUED', 'RUNNING')")
    op.create_index(
        "ux_sync_runs_one_active",
        "sync_runs",
        ["integration_id"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_table(
        "rate_budgets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("slowdown", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("rate_budgets")
    op.drop_index("ux_sync_runs_one_active", table_name="sync_runs")
    with op.batch_alter_table("sync_runs") as batch_op:
        batch_op.drop_column("cancel_requested_at")
    with op.batch_alter_table("integrations") as batch_op:
        dropped = ("pause_reason", "paused_at", "next_sync_at", "last_sync_error", "consecutive_failures")
        for column in dropped:
            batch_op.drop_column(column)
