"""The progressions' user and course indexes lose their leading integration_id.

User and course ids are derived from the integration (``record_id``, lmsbridge/ids.py), so ``user_id``
alone already finds one integration's rows; the 36-character prefix made every entry of these two
random-keyed B-trees larger, and a sync writes one entry in each per progression. Measured with
``benchmarks/insert_cost.py`` (``narrow-reference-indexes``): SQLite's work for L's 1.8 M progressions
140.6 instead of 159.0 CPU s. A large store rebuilds the two indexes once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "lms_course_progressions"
# index → the reference column it leads with
INDEXES = {f"ix_{TABLE}_user": "user_id", f"ix_{TABLE}_course": "course_id"}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, [column, "id"])


def downgrade() -> None:
    for name, column in INDEXES.items():
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, ["integration_id", column, "id"])
