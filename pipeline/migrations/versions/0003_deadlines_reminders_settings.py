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
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_listnr"), ["listnr"], unique=False)

    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department", sa.String(length=40), nullable=True))

    with op.batch_alter_table("result_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("options", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_index(
            batch_op.f("ix_result_lists_corrects_listnr"), ["corrects_listnr"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_result_lists_due_date"), ["due_date"], unique=False)

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notify_email", sa.String(length=320), nullable=True))
        batch_op.add_column(
            sa.Column("receipt_copies", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("receipt_copies")
        batch_op.drop_column("notify_email")

    with op.batch_alter_table("result_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_lists_due_date"))
        batch_op.drop_index(batch_op.f("ix_result_lists_corrects_listnr"))
        batch_op.drop_column("options")
        batch_op.drop_column("due_date")

    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_column("department")

    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_listnr"))

    op.drop_table("reminders")
