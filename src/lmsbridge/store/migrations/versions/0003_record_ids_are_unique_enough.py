"""Record tables lose their UNIQUE (integration_id, remote_id): the primary key says the same thing.

A record's id is ``record_id(integration_id, model, remote_id)`` (lmsbridge/ids.py), so one row per id is
one row per remote id; the extra index cost every insert of a sync a B-tree write at a random place.
On SQLite the tables are rebuilt (batch mode): a large store takes a while, once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 18:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_TABLES = (
    "lms_users",
    "lms_course_providers",
    "lms_courses",
    "lms_course_revisions",
    "lms_course_progressions",
    "lms_skills",
)


def upgrade() -> None:
    for table in RECORD_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_remote", type_="unique")


def downgrade() -> None:
    for table in RECORD_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_unique_constraint(f"uq_{table}_remote", ["integration_id", "remote_id"])
