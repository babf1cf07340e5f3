"""mailin: mails read from the IMAP mailbox, reply headers of queued mail

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07 11:00:00

Drop by mail: each mail read from the ``[mailin]`` mailbox is one ``mailin_mails`` row (taken
once, by UID and Message-ID); a queued mail that answers one carries ``reply_headers``
(``In-Reply-To``, ``References``) so it arrives in the sender's thread.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reply_headers", sa.JSON(), nullable=True))
    op.create_table(
        "mailin_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid_key", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.String(length=500), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailin_mails")),
        sa.UniqueConstraint("uid_key", name=op.f("uq_mailin_mails_uid_key")),
    )
    with op.batch_alter_table("mailin_mails") as batch:
        batch.create_index(batch.f("ix_mailin_mails_message_id"), ["message_id"], unique=False)
        batch.create_index(batch.f("ix_mailin_mails_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mailin_mails") as batch:
        batch.drop_index(batch.f("ix_mailin_mails_status"))
        batch.drop_index(batch.f("ix_mailin_mails_message_id"))
    op.drop_table("mailin_mails")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reply_headers")
