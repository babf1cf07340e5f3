"""What goes out and comes back: queued mail and SMS, approval codes and their tries, SMS
replies seen, reminders sent, and mails read from the mail-drop mailbox.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Date, DateTime, Enum, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.models.base import Base, utcnow, values_of


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
        Enum(MessageStatus, native_enum=False, length=12, values_callable=values_of),
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
        Enum(ChallengeStatus, native_enum=False, length=12, values_callable=values_of),
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
