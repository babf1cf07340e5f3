"""history queries

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:35:00

Counting a list's students and grades (``resultat status``, the overview ``status.xlsx``) from
one covering index on (list_id, removed, grade): the counts of the lists shown are read from
the index alone, without visiting each entry's row (issue 19, item 4).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_list_entries_list_counts", "list_entries", ["list_id", "removed", "grade"])


def downgrade() -> None:
    op.drop_index("ix_list_entries_list_counts", table_name="list_entries")
