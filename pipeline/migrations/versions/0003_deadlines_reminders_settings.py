"""deadlines reminders settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:14:38.112934
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listnr", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint(
            "listnr", "kind", "recipient", "sent_on", name=op.f("uq_reminders_listnr")
        ),
    )
    op.create_index(op.f("ix_reminders_listnr"), "reminders", ["listnr"], unique=False)

    op.add_column("courses", sa.Column("department", sa.String(length=40), nullable=True))

    op.add_column("result_lists", sa.Column("due_date", sa.Date(), nullable=True))
    op.add_column(
        "result_lists",
        sa.Column("options", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    op.create_index(
        op.f("ix_result_lists_corrects_listnr"), "result_lists", ["corrects_listnr"], unique=False
    )
    op.create_index(op.f("ix_result_lists_due_date"), "result_lists", ["due_date"], unique=False)

    op.add_column("staff", sa.Column("notify_email", sa.String(length=320), nullable=True))
    op.add_column(
        "staff",
        sa.Column("receipt_copies", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:

    op.drop_column("staff", "receipt_copies")
    op.drop_column("staff", "notify_email")

    op.drop_index(op.f("ix_result_lists_due_date"), table_name="result_lists")
    op.drop_index(op.f("ix_result_lists_corrects_listnr"), table_name="result_lists")
    op.drop_column("result_lists", "options")
    op.drop_column("result_lists", "due_date")

    op.drop_column("courses", "department")

    op.drop_index(op.f("ix_reminders_listnr"), table_name="reminders")

    op.drop_table("reminders")
