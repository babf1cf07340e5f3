"""history indexes

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-07 11:40:00

Queries that must not grow with history (issue 19): a list's entries in list order
(``verify``'s content hashes, the overview's counts) walked through one index on (list_id,
position, id) instead of a sort of every entry; the overview's lists of the current and the
last term found by term.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_list_entries_list_position", "list_entries", ["list_id", "position", "id"])
    op.create_index(op.f("ix_result_lists_term"), "result_lists", ["term"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_result_lists_term"), table_name="result_lists")
    op.drop_index("ix_list_entries_list_position", table_name="list_entries")
