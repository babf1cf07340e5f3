"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 17:42:10.189773
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("listnr", sa.Integer(), nullable=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_events_prev_hash")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_listnr"), ["listnr"], unique=False)

    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name_sv", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("credits", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("scale", sa.String(length=8), nullable=False),
        sa.Column("ects_scale", sa.String(length=8), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("code", name=op.f("uq_courses_code")),
    )
    op.create_table(
        "inbox_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(length=500), nullable=False),
        sa.Column("stored_path", sa.String(length=1000), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("listnr", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "processing",
                "accepted",
                "rejected",
                "duplicate",
                name="fileoutcome",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("receipt_path", sa.String(length=1000), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_files")),
    )
    with op.batch_alter_table("inbox_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_files_listnr"), ["listnr"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbox_files_outcome"), ["outcome"], unique=False)
        batch_op.create_index("ix_inbox_files_sha256_outcome", ["sha256", "outcome"], unique=False)

    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_username")),
    )
    op.create_table(
        "students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pnr", sa.String(length=12), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("lms_username", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_students")),
        sa.UniqueConstraint("pnr", name=op.f("uq_students_pnr")),
    )
    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_students_lms_username"), ["lms_username"], unique=False
        )

    op.create_table(
        "examiners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("from_term", sa.String(length=6), nullable=False),
        sa.Column("to_term", sa.String(length=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_examiners_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_examiners_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_examiners")),
        sa.UniqueConstraint(
            "course_id", "staff_id", "from_term", name=op.f("uq_examiners_course_id")
        ),
    )
    op.create_table(
        "modules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("name_sv", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("credits", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("scale", sa.String(length=8), nullable=False),
        sa.Column("ects_scale", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_modules_course_id_courses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modules")),
        sa.UniqueConstraint("course_id", "code", name=op.f("uq_modules_course_id")),
    )
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_registrations_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_registrations_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint(
            "student_id", "course_id", "term", name=op.f("uq_registrations_student_id")
        ),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registrations_course_id"), ["course_id"], unique=False)

    op.create_table(
        "exam_signups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("exam_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["module_id"], ["modules.id"], name=op.f("fk_exam_signups_module_id_modules")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_exam_signups_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_signups")),
        sa.UniqueConstraint(
            "student_id", "module_id", "exam_date", name=op.f("uq_exam_signups_student_id")
        ),
    )
    with op.batch_alter_table("exam_signups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exam_signups_module_id"), ["module_id"], unique=False)

    op.create_table(
        "prior_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("grade_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["module_id"], ["modules.id"], name=op.f("fk_prior_results_module_id_modules")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_prior_results_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prior_results")),
        sa.UniqueConstraint(
            "student_id", "module_id", "grade_date", name=op.f("uq_prior_results_student_id")
        ),
    )
    with op.batch_alter_table("prior_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prior_results_module_id"), ["module_id"], unique=False)

    op.create_table(
        "result_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listnr", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("t33", "t34", name="listkind", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("module_id", sa.Integer(), nullable=True),
        sa.Column("term", sa.String(length=6), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "submitted",
                "awaiting_approval",
                "approved",
                "registered",
                "archived",
                name="liststate",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reporter", sa.String(length=100), nullable=False),
        sa.Column("examiner", sa.String(length=100), nullable=True),
        sa.Column("exam_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_result_lists_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["module_id"], ["modules.id"], name=op.f("fk_result_lists_module_id_modules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_lists")),
        sa.UniqueConstraint("listnr", name=op.f("uq_result_lists_listnr")),
    )
    with op.batch_alter_table("result_lists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_result_lists_state"), ["state"], unique=False)

    op.create_table(
        "list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=True),
        sa.Column("ects_grade", sa.String(length=4), nullable=True),
        sa.Column("grade_date", sa.Date(), nullable=True),
        sa.Column("points", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["result_lists.id"], name=op.f("fk_list_entries_list_id_result_lists")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_list_entries_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint("list_id", "student_id", name=op.f("uq_list_entries_list_id")),
    )
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_entries_list_id"), ["list_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_entries_list_id"))

    op.drop_table("list_entries")
    with op.batch_alter_table("result_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_lists_state"))

    op.drop_table("result_lists")
    with op.batch_alter_table("prior_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prior_results_module_id"))

    op.drop_table("prior_results")
    with op.batch_alter_table("exam_signups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exam_signups_module_id"))

    op.drop_table("exam_signups")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registrations_course_id"))

    op.drop_table("registrations")
    op.drop_table("modules")
    op.drop_table("examiners")
    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_students_lms_username"))

    op.drop_table("students")
    op.drop_table("staff")
    with op.batch_alter_table("inbox_files", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_files_sha256_outcome")
        batch_op.drop_index(batch_op.f("ix_inbox_files_outcome"))
        batch_op.drop_index(batch_op.f("ix_inbox_files_listnr"))

    op.drop_table("inbox_files")
    op.drop_table("courses")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_listnr"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
