"""approval hardened: wrong tries per list, SMS requests seen

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 11:10:00

Wrong approval codes are counted per list across its codes (``approval_tries``), so a new code
no longer starts again at zero tries; a list whose latest code was locked stays locked. Each
incoming SMS request's ``MessageSid`` is kept (``sms_received``): a replay is refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_tries",
        sa.Column("listnr", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrong", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("listnr", name=op.f("pk_approval_tries")),
    )
    op.create_table(
        "sms_received",
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_sid", name=op.f("pk_sms_received")),
    )
    # A list whose latest code was locked stays locked (its code becomes usable again once an
    # administrator unlocks the list); its tries so far are carried over.
    op.execute(
        sa.text(
            "INSERT INTO approval_tries (listnr, wrong, locked_at) "
            "SELECT c.listnr, c.attempts, CURRENT_TIMESTAMP "
            "FROM approval_challenges c WHERE c.status = 'locked' AND c.id = "
            "(SELECT max(d.id) FROM approval_challenges d WHERE d.listnr = c.listnr)"
        )
    )
    op.execute(
        sa.text(
            "UPDATE approval_challenges SET status = 'active' WHERE status = 'locked' "
            "AND listnr IN (SELECT listnr FROM approval_tries)"
        )
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE approval_challenges SET status = 'locked' WHERE status = 'active' "
            "AND listnr IN (SELECT listnr FROM approval_tries WHERE locked_at IS NOT NULL)"
        )
    )
    op.drop_table("sms_received")
    op.drop_table("approval_tries")
