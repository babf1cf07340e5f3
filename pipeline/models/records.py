"""The records: registry data (students, courses, modules, staff, roles, registrations),
result lists and their entries, the audit log and the files taken from the inboxes.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.domain.lists import ListKind, ListState
from pipeline.models.base import Base, utcnow, values_of


class FileOutcome(enum.StrEnum):
    PROCESSING = "processing"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class Student(Base):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    pnr: Mapped[str] = mapped_column(String(12), unique=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    lms_username: Mapped[str | None] = mapped_column(String(200), index=True)


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    name_sv: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    credits: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    scale: Mapped[str] = mapped_column(String(8))
    ects_scale: Mapped[str | None] = mapped_column(String(8))
    start_date: Mapped[dt.date] = mapped_column(Date)
    department: Mapped[str | None] = mapped_column(String(40))

    modules: Mapped[list[Module]] = relationship(back_populates="course", order_by="Module.code")


class Module(Base):
    """A course component reported with its own module code (provkod)."""

    __tablename__ = "modules"
    __table_args__ = (UniqueConstraint("course_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    code: Mapped[str] = mapped_column(String(10))
    name_sv: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    credits: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    scale: Mapped[str] = mapped_column(String(8))
    ects_scale: Mapped[str | None] = mapped_column(String(8))

    course: Mapped[Course] = relationship(back_populates="modules")


class Staff(Base):
    """A person from the staff directory (BARD)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str] = mapped_column(String(320))
    mobile: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2), default="sv")
    #: The person's login on the file server (``[inbox] check_owner``, the CLI's acting user);
    #: the username when blank.
    os_login: Mapped[str | None] = mapped_column(String(100), index=True)
    #: Member of the student office (Utbildningsstöd): confirms registration and signing.
    office: Mapped[bool] = mapped_column(Boolean, default=False)
    # Personal settings ("Dina inställningar"): where notices go, mail copies, reminders.
    notify_email: Mapped[str | None] = mapped_column(String(320))
    #: Everything delivered to the person's outbox folder is mailed as well (opt-out).
    mail_copies: Mapped[bool] = mapped_column(Boolean, default=True)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)


class Examiner(Base):
    """Who examines a course from one term (and until a term, when set)."""

    __tablename__ = "examiners"
    __table_args__ = (UniqueConstraint("course_id", "staff_id", "from_term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    from_term: Mapped[str] = mapped_column(String(6))
    to_term: Mapped[str | None] = mapped_column(String(6))

    course: Mapped[Course] = relationship()
    staff: Mapped[Staff] = relationship()


class Teacher(Base):
    """Who reports results on a course (rapportör) from one term (and until a term, when set):
    a teacher may order lists for it without being its examiner."""

    __tablename__ = "teachers"
    __table_args__ = (UniqueConstraint("course_id", "staff_id", "from_term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    from_term: Mapped[str] = mapped_column(String(6))
    to_term: Mapped[str | None] = mapped_column(String(6))


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("student_id", "course_id", "term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    term: Mapped[str] = mapped_column(String(6))


class ExamSignup(Base):
    """A student signed up for an exam sitting (anmäld på tentamen)."""

    __tablename__ = "exam_signups"
    __table_args__ = (UniqueConstraint("student_id", "module_id", "exam_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    exam_date: Mapped[dt.date] = mapped_column(Date)


class PriorResult(Base):
    """A module result already in LADOK before this system (imported from the registry)."""

    __tablename__ = "prior_results"
    __table_args__ = (UniqueConstraint("student_id", "module_id", "grade_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    module_id: Mapped[int] = mapped_column(ForeignKey("modules.id"), index=True)
    grade: Mapped[str] = mapped_column(String(4))
    grade_date: Mapped[dt.date] = mapped_column(Date)


class ResultList(Base):
    """A result list, known to everyone by its ``listnr``."""

    __tablename__ = "result_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    listnr: Mapped[int] = mapped_column(Integer, unique=True)
    kind: Mapped[ListKind] = mapped_column(
        Enum(ListKind, native_enum=False, length=8, values_callable=values_of)
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id"))
    term: Mapped[str] = mapped_column(String(6), index=True)
    state: Mapped[ListState] = mapped_column(
        Enum(ListState, native_enum=False, length=20, values_callable=values_of),
        index=True,
        default=ListState.DRAFT,
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    reporter: Mapped[str] = mapped_column(String(100))
    examiner: Mapped[str | None] = mapped_column(String(100))
    exam_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    corrects_listnr: Mapped[int | None] = mapped_column(Integer, index=True)
    due_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    #: Per-list options set by the teacher (e.g. the LMS column and grade thresholds).
    options: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)

    course: Mapped[Course] = relationship()
    module: Mapped[Module | None] = relationship()
    entries: Mapped[list[ListEntry]] = relationship(
        back_populates="result_list", order_by="ListEntry.position"
    )


class ListEntry(Base):
    """One student on a list, with the result entered so far (blank = no result)."""

    __tablename__ = "list_entries"
    __table_args__ = (
        UniqueConstraint("list_id", "student_id"),
        # A list's entries in list order without a sort (verify, the overview): migration 0008.
        Index("ix_list_entries_list_position", "list_id", "position", "id"),
        # A list's students and grades counted from the index alone (status, the overview):
        # migration 0009.
        Index("ix_list_entries_list_counts", "list_id", "removed", "grade"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("result_lists.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    position: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(String(4))
    ects_grade: Mapped[str | None] = mapped_column(String(4))
    grade_date: Mapped[dt.date | None] = mapped_column(Date)
    points: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    comment: Mapped[str | None] = mapped_column(Text)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)

    result_list: Mapped[ResultList] = relationship(back_populates="entries")
    student: Mapped[Student] = relationship()


class AuditEvent(Base):
    """Append-only log; each event carries the hash of the one before it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    listnr: Mapped[int | None] = mapped_column(Integer, index=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # Unique: two writers that read the same last event cannot both append (no forks).
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class InboxFile(Base):
    """Every file taken from ``inbox/``; the SHA-256 of its bytes is the idempotency key."""

    __tablename__ = "inbox_files"
    __table_args__ = (Index("ix_inbox_files_sha256_outcome", "sha256", "outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(500))
    stored_path: Mapped[str | None] = mapped_column(String(1000), index=True)
    kind: Mapped[str | None] = mapped_column(String(40))
    listnr: Mapped[int | None] = mapped_column(Integer, index=True)
    outcome: Mapped[FileOutcome] = mapped_column(
        Enum(FileOutcome, native_enum=False, length=20, values_callable=values_of), index=True
    )
    receipt_path: Mapped[str | None] = mapped_column(String(1000))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
