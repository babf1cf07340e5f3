"""The database schema: SQLAlchemy 2 models for registry data, result lists and the audit log.

Owns table definitions only. Migrations live in ``pipeline/migrations`` (Alembic) and must
match these models (a test compares them). The same models run on SQLite and PostgreSQL.

Domain words: ``listnr`` is the public number of a result list; ``provkod`` is a module code;
T33 is a result list per module, T34 a final-grade list for a whole course.

The tables are in :mod:`~pipeline.models.records` and :mod:`~pipeline.models.messages`,
sharing :mod:`~pipeline.models.base`; everything is importable from here.
"""

from __future__ import annotations

from pipeline.domain.lists import ListKind, ListState
from pipeline.models.base import NAMING, Base, utcnow, values_of
from pipeline.models.messages import (
    ApprovalChallenge,
    ApprovalTries,
    ChallengeStatus,
    MailinMail,
    Message,
    MessageStatus,
    Reminder,
    SmsReceived,
)
from pipeline.models.records import (
    AuditEvent,
    Course,
    Examiner,
    ExamSignup,
    FileOutcome,
    InboxFile,
    ListEntry,
    Module,
    PriorResult,
    Registration,
    ResultList,
    Staff,
    Student,
    Teacher,
)

__all__ = [
    "NAMING",
    "ApprovalChallenge",
    "ApprovalTries",
    "AuditEvent",
    "Base",
    "ChallengeStatus",
    "Course",
    "ExamSignup",
    "Examiner",
    "FileOutcome",
    "InboxFile",
    "ListEntry",
    "ListKind",
    "ListState",
    "MailinMail",
    "Message",
    "MessageStatus",
    "Module",
    "PriorResult",
    "Registration",
    "Reminder",
    "ResultList",
    "SmsReceived",
    "Staff",
    "Student",
    "Teacher",
    "utcnow",
    "values_of",
]
