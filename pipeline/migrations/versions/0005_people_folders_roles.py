"""people: folders, roles and mail by default

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 08:30:00

Each person acts through their own folders and gets everything by mail unless they opt out:
``staff.receipt_copies`` (an opt-in) becomes ``staff.mail_copies`` (on for everyone), with a
per-person ``reminders`` switch. The staff directory says who belongs to the student office
(``office``) and each person's login on the file server (``os_login``); ``teachers`` says who
reports on a course (may order lists for it) besides its examiners.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.alter_column(
            "receipt_copies",
            new_column_name="mail_copies",
            existing_type=sa.Boolean(),
            existing_nullable=False,
            server_default=sa.true(),
        )
        batch.add_column(
            sa.Column("reminders", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("office", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("os_login", sa.String(length=100), nullable=True))
        batch.create_index(batch.f("ix_staff_os_login"), ["os_login"], unique=False)
    op.execute(sa.text("UPDATE staff SET mail_copies = :yes").bindparams(yes=True))
    op.create_table(
        "teachers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("from_term", sa.String(length=6), nullable=False),
        sa.Column("to_term", sa.String(length=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_teachers_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_teachers_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teachers")),
        sa.UniqueConstraint(
            "course_id", "staff_id", "from_term", name=op.f("uq_teachers_course_id")
        ),
    )
    op.create_index(op.f("ix_teachers_staff_id"), "teachers", ["staff_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_teachers_staff_id"), table_name="teachers")
    op.drop_table("teachers")
    with op.batch_alter_table("staff") as batch:
        batch.drop_index(batch.f("ix_staff_os_login"))
        batch.drop_column("os_login")
        batch.drop_column("office")
        batch.drop_column("reminders")
        batch.alter_column(
            "mail_copies",
            new_column_name="receipt_copies",
            existing_type=sa.Boolean(),
            existing_nullable=False,
            server_default=sa.false(),
        )
