"""approval and messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:56:34.621973
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "approval_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listnr", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("examiner", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "used",
                "locked",
                "voided",
                name="challengestatus",
                native_enum=False,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("used_via", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_challenges")),
    )
    with op.batch_alter_table("approval_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approval_challenges_listnr"), ["listnr"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_challenges_status"), ["status"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("listnr", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued", "sending", "sent", name="messagestatus", native_enum=False, length=12
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_messages_dedupe_key")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_listnr"), ["listnr"], unique=False)
        batch_op.create_index(
            "ix_messages_status_next", ["status", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("result_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("registered_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("corrects_listnr", sa.Integer(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("result_lists", schema=None) as batch_op:
        batch_op.drop_column("corrects_listnr")
        batch_op.drop_column("archived_at")
        batch_op.drop_column("registered_at")
        batch_op.drop_column("content_hash")
        batch_op.drop_column("approved_by")
        batch_op.drop_column("approved_at")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_status_next")
        batch_op.drop_index(batch_op.f("ix_messages_listnr"))

    op.drop_table("messages")
    with op.batch_alter_table("approval_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_challenges_status"))
        batch_op.drop_index(batch_op.f("ix_approval_challenges_listnr"))

    op.drop_table("approval_challenges")
