"""inbox stored path index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 21:50:00

Every file the inbox takes is looked up by the path it will be kept under (to finish one a
crash left committed but not moved); without an index that lookup read the whole table, once
per file, so a term's thousands of files cost quadratic time.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_inbox_files_stored_path"), "inbox_files", ["stored_path"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_files_stored_path"), table_name="inbox_files")
