"""Initial schema: integrations, API keys, kv, the unified-model tables, sync runs, interaction logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 09:06:56.222959
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "integrations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("credentials_encrypted", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("end_user", sa.JSON(), nullable=False),
        sa.Column("setup_status", sa.String(length=24), nullable=False),
        sa.Column("qa_status", sa.String(length=16), nullable=False),
        sa.Column("scope_test", sa.JSON(), nullable=True),
        sa.Column("model_tests", sa.JSON(), nullable=True),
        sa.Column("connector_state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "interaction_logs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_interaction_logs_integration", "interaction_logs", ["integration_id", "created_at"], unique=False
    )

    op.create_table(
        "kv",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "lms_course_progressions",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("course_revision_id", sa.String(length=64), nullable=False),
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("remote_data", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_sync_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "remote_id", name="uq_lms_course_progressions_remote"),
    )
    op.create_index(
        "ix_lms_course_progressions_changed",
        "lms_course_progressions",
        ["integration_id", "changed_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_lms_course_progressions_course",
        "lms_course_progressions",
        ["integration_id", "course_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_lms_course_progressions_page", "lms_course_progressions", ["integration_id", "id"], unique=False
    )
    op.create_index(
        "ix_lms_course_progressions_user",
        "lms_course_progressions",
        ["integration_id", "user_id", "id"],
        unique=False,
    )

    op.create_table(
        "lms_course_providers",
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("remote_data", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_sync_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "remote_id", name="uq_lms_course_providers_remote"),
    )
    op.create_index(
        "ix_lms_course_providers_changed",
        "lms_course_providers",
        ["integration_id", "changed_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_lms_course_providers_page", "lms_course_providers", ["integration_id", "id"], unique=False
    )

    op.create_table(
        "lms_course_revisions",
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("remote_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("remote_data", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_sync_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "remote_id", name="uq_lms_course_revisions_remote"),
    )
    op.create_index(
        "ix_lms_course_revisions_changed",
        "lms_course_revisions",
        ["integration_id", "changed_at", "id"],
        unique=False,
    )
    op.create_index("ix_lms_course_revisions_course", "lms_course_revisions", ["course_id"], unique=False)
    op.create_index(
        "ix_lms_course_revisions_page", "lms_course_revisions", ["integration_id", "id"], unique=False
    )

    op.create_table(
        "lms_courses",
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("origin_id", sa.String(length=255), nullable=True),
        sa.Column("tree_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("remote_data", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_sync_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "remote_id", name="uq_lms_courses_remote"),
    )
    op.create_index(
        "ix_lms_courses_changed", "lms_courses", ["integration_id", "changed_at", "id"], unique=False
    )
    op.create_index("ix_lms_courses_origin", "lms_courses", ["integration_id", "origin_id"], unique=False)
    op.create_index("ix_lms_courses_page", "lms_courses", ["integration_id", "id"], unique=False)
    op.create_index(
        "ix_lms_courses_tree_changed",
        "lms_courses",
        ["integration_id", "tree_changed_at", "id"],
        unique=False,
    )

    op.create_table(
        "lms_skills",
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("remote_data", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_sync_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "remote_id", name="uq_lms_skills_remote"),
    )
    op.create_index(
        "ix_lms_skills_changed", "lms_skills", ["integration_id", "changed_at", "id"], unique=False
    )
    op.create_index("ix_lms_skills_page", "lms_skills", ["integration_id", "id"], unique=False)

    op.create_table(
        "lms_users",
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("work_email", sa.Text(), nullable=True),
        sa.Column("work_email_lower", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=False),
        sa.Column("remote_data", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remote_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_sync_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("integration_id", "remote_id", name="uq_lms_users_remote"),
    )
    op.create_index("ix_lms_users_changed", "lms_users", ["integration_id", "changed_at", "id"], unique=False)
    op.create_index("ix_lms_users_email", "lms_users", ["integration_id", "work_email_lower"], unique=False)
    op.create_index("ix_lms_users_page", "lms_users", ["integration_id", "id"], unique=False)

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("streams", sa.JSON(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("log_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_runs_integration", "sync_runs", ["integration_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_runs_integration", table_name="sync_runs")

    op.drop_table("sync_runs")
    op.drop_index("ix_lms_users_page", table_name="lms_users")
    op.drop_index("ix_lms_users_email", table_name="lms_users")
    op.drop_index("ix_lms_users_changed", table_name="lms_users")

    op.drop_table("lms_users")
    op.drop_index("ix_lms_skills_page", table_name="lms_skills")
    op.drop_index("ix_lms_skills_changed", table_name="lms_skills")

    op.drop_table("lms_skills")
    op.drop_index("ix_lms_courses_tree_changed", table_name="lms_courses")
    op.drop_index("ix_lms_courses_page", table_name="lms_courses")
    op.drop_index("ix_lms_courses_origin", table_name="lms_courses")
    op.drop_index("ix_lms_courses_changed", table_name="lms_courses")

    op.drop_table("lms_courses")
    op.drop_index("ix_lms_course_revisions_page", table_name="lms_course_revisions")
    op.drop_index("ix_lms_course_revisions_course", table_name="lms_course_revisions")
    op.drop_index("ix_lms_course_revisions_changed", table_name="lms_course_revisions")

    op.drop_table("lms_course_revisions")
    op.drop_index("ix_lms_course_providers_page", table_name="lms_course_providers")
    op.drop_index("ix_lms_course_providers_changed", table_name="lms_course_providers")

    op.drop_table("lms_course_providers")
    op.drop_index("ix_lms_course_progressions_user", table_name="lms_course_progressions")
    op.drop_index("ix_lms_course_progressions_page", table_name="lms_course_progressions")
    op.drop_index("ix_lms_course_progressions_course", table_name="lms_course_progressions")
    op.drop_index("ix_lms_course_progressions_changed", table_name="lms_course_progressions")

    op.drop_table("lms_course_progressions")
    op.drop_table("kv")
    op.drop_index("ix_interaction_logs_integration", table_name="interaction_logs")

    op.drop_table("interaction_logs")
    op.drop_table("integrations")
    op.drop_table("api_keys")
