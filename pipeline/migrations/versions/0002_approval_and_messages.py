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
    op.create_index(
        op.f("ix_approval_challenges_listnr"), "approval_challenges", ["listnr"], unique=False
    )
    op.create_index(
        op.f("ix_approval_challenges_status"), "approval_challenges", ["status"], unique=False
    )

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
    op.create_index(op.f("ix_messages_listnr"), "messages", ["listnr"], unique=False)
    op.create_index(
        "ix_messages_status_next", "messages", ["status", "next_attempt_at"], unique=False
    )

    op.add_column("result_lists", sa.Column("approved_at", sa.DateTime(), nullable=True))
    op.add_column("result_lists", sa.Column("approved_by", sa.String(length=100), nullable=True))
    op.add_column("result_lists", sa.Column("content_hash", sa.String(length=64), nullable=True))
    op.add_column("result_lists", sa.Column("registered_at", sa.DateTime(), nullable=True))
    op.add_column("result_lists", sa.Column("archived_at", sa.DateTime(), nullable=True))
    op.add_column("result_lists", sa.Column("corrects_listnr", sa.Integer(), nullable=True))


def downgrade() -> None:

    op.drop_column("result_lists", "corrects_listnr")
    op.drop_column("result_lists", "archived_at")
    op.drop_column("result_lists", "registered_at")
    op.drop_column("result_lists", "content_hash")
    op.drop_column("result_lists", "approved_by")
    op.drop_column("result_lists", "approved_at")

    op.drop_index("ix_messages_status_next", table_name="messages")
    op.drop_index(op.f("ix_messages_listnr"), table_name="messages")

    op.drop_table("messages")
    op.drop_index(op.f("ix_approval_challenges_status"), table_name="approval_challenges")
    op.drop_index(op.f("ix_approval_challenges_listnr"), table_name="approval_challenges")

    op.drop_table("approval_challenges")
