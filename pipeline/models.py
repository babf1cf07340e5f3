"""The database schema: SQLAlchemy 2 models for registry data, result lists and the audit log.

Owns table definitions only. Migrations live in ``pipeline/migrations`` (Alembic) and must
match these models (a test compares them). The same models run on SQLite and PostgreSQL.

Domain words: ``listnr`` is the public number of a result list; ``provkod`` is a module code;
T33 is a result list per module, T34 a final-grade list for a whole course.
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
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_cls]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class ListState(enum.StrEnum):
    """``draft → submitted → awaiting_approval → approved → registered → archived``;
    an examiner's rejection sends a list back to ``draft``."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REGISTERED = "registered"
    ARCHIVED = "archived"


class ListKind(enum.StrEnum):
    T33 = "t33"
    T34 = "t34"


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
        Enum(ListKind, native_enum=False, length=8, values_callable=_values)
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    module_id: Mapped[int | None] = mapped_column(ForeignKey("modules.id"))
    term: Mapped[str] = mapped_column(String(6), index=True)
    state: Mapped[ListState] = mapped_column(
        Enum(ListState, native_enum=False, length=20, values_callable=_values),
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
        Enum(FileOutcome, native_enum=False, length=20, values_callable=_values), index=True
    )
    receipt_path: Mapped[str | None] = mapped_column(String(1000))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"


class Message(Base):
    """An email or SMS, queued in the transaction of the change that causes it (outbox)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # "email" | "sms"
    kind: Mapped[str] = mapped_column(String(40))  # template name, e.g. "examiner_review"
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    listnr: Mapped[int | None] = mapped_column(Integer, index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[MessageStatus] = mapped_column(
        Enum(MessageStatus, native_enum=False, length=12, values_callable=_values),
        default=MessageStatus.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reply_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)  # a reply's threading


class ChallengeStatus(enum.StrEnum):
    ACTIVE = "active"
    USED = "used"
    LOCKED = "locked"
    VOIDED = "voided"


class ApprovalChallenge(Base):
    """A one-time approval code for one version of one list, stored only as a keyed hash."""

    __tablename__ = "approval_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    listnr: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    examiner: Mapped[str] = mapped_column(String(100))
    status: Mapped[ChallengeStatus] = mapped_column(
        Enum(ChallengeStatus, native_enum=False, length=12, values_callable=_values),
        default=ChallengeStatus.ACTIVE,
        index=True,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    used_via: Mapped[str | None] = mapped_column(String(20))


# A list's wrong approval codes across all its codes; locked at [approval] max_attempts.
class ApprovalTries(Base):
    __tablename__ = "approval_tries"
    listnr: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrong: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# An SMS webhook request by Twilio's MessageSid: one seen is never handled again.
class SmsReceived(Base):
    __tablename__ = "sms_received"
    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Reminder(Base):
    """A reminder sent: at most one per list, kind, recipient and day."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("listnr", "kind", "recipient", "sent_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    listnr: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    sent_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MailinMail(Base):
    """A mail read from ``[mailin]``, taken once by UID and Message-ID (pipeline.mailin.take)."""

    __tablename__ = "mailin_mails"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid_key: Mapped[str] = mapped_column(String(300), unique=True)  # folder:UIDVALIDITY:UID
    message_id: Mapped[str | None] = mapped_column(String(500), index=True)
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    references: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)  # "taken" until concluded
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
