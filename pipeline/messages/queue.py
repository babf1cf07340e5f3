"""Queueing messages: rendering ``templates/mail/<kind>.<lang>.txt`` and adding the
:class:`~pipeline.models.Message` rows to the caller's session.

A message exists if and only if the state change that causes it is committed (a
transactional outbox): the caller commits. Left to callers: who gets what, the language,
writing attachments before queueing. Sending is :mod:`pipeline.messages.dispatch`'s.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import jinja2
from sqlalchemy import CursorResult, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from pipeline import resources
from pipeline.models import Message, MessageStatus, utcnow

log = logging.getLogger("resultat.outbox")

EMAIL: Final = "email"
SMS: Final = "sms"
LANGUAGES: Final = ("sv", "en")
TEMPLATE_DIR: Final = "mail"
_SUBJECT_PREFIX: Final = "Subject:"
_EMAIL_ADDRESS: Final = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_E164: Final = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class Reply:
    """A mail that answers another in its thread: its subject (``Re: ...``), the
    ``In-Reply-To`` and ``References`` headers, and the address answered (``None``: the
    recipient the caller names)."""

    subject: str
    in_reply_to: str
    references: str
    to: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"In-Reply-To": self.in_reply_to, "References": self.references}


# --------------------------------------------------------------------------- rendering


def render(
    kind: str, language: str, context: dict[str, Any], workspace: Path | None = None
) -> tuple[str | None, str]:
    """``(subject, body)`` of template ``templates/mail/<kind>.<language>.txt``.

    An email template starts with a ``Subject: ...`` line; an SMS template has no subject and
    ``None`` is returned for it. A missing context key is an error (``jinja2.UndefinedError``),
    so a caller's mistake shows when the message is queued, not when someone reads it.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
        raise ValueError(f"not a message kind: {kind!r}")
    source = resources.read_text("templates", f"{TEMPLATE_DIR}/{kind}.{language}.txt", workspace)
    text = _compiled(source).render(**context)
    first, _, rest = text.partition("\n")
    if first.startswith(_SUBJECT_PREFIX):
        # One line only: a newline in a subject would be a header injection.
        subject = " ".join(first[len(_SUBJECT_PREFIX) :].split())
        return subject, rest.strip("\n").rstrip() + "\n"
    return None, text.strip()


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> jinja2.Template:
    """A template compiled once per text (compiling took longer than rendering; keyed by the
    text itself, so an edited template is compiled afresh)."""
    return _environment().from_string(source)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


# --------------------------------------------------------------------------- queueing


def queue_email(
    session: Session,
    *,
    kind: str,
    to: str,
    language: str,
    context: dict[str, Any],
    attachments: Sequence[Path] = (),
    listnr: int | None = None,
    dedupe_key: str | None = None,
    workspace: Path | None = None,
    reply: Reply | None = None,
) -> Message:
    """Queue an email in ``session`` (committed with the caller's transaction).

    Attachments must exist now; they are stored relative to ``workspace`` when under it and are
    read when the message is sent, so keep them in place. A ``dedupe_key`` already queued
    returns the existing message and adds nothing. With ``reply`` the mail answers another in
    its thread: its subject and address, with ``In-Reply-To`` and ``References``.
    """
    to = (reply.to if reply is not None and reply.to else to).strip()
    if not _EMAIL_ADDRESS.match(to):
        raise ValueError(f"not an email address: {to!r}")
    subject, body = render(kind, language, context, workspace)
    if subject is None:
        raise ValueError(f"templates/mail/{kind}.{language}.txt has no Subject line (SMS?)")
    if reply is not None:
        subject = " ".join(reply.subject.split())[:500]
    stored: list[str] = []
    for path in attachments:
        if not Path(path).is_file():
            raise FileNotFoundError(f"attachment {path} does not exist")
        stored.append(_stored_path(Path(path), workspace))
    message = Message(
        channel=EMAIL,
        kind=kind,
        recipient=to,
        subject=subject,
        body=body,
        attachments=stored,
        listnr=listnr,
        dedupe_key=dedupe_key,
        reply_headers=reply.headers if reply is not None else None,
    )
    return _add(session, message)


def queue_sms(
    session: Session,
    *,
    kind: str,
    to: str,
    language: str,
    context: dict[str, Any],
    listnr: int | None = None,
    dedupe_key: str | None = None,
    workspace: Path | None = None,
) -> Message:
    """Queue an SMS to ``to`` (normalised with :func:`e164`) in ``session``.

    A ``dedupe_key`` already queued returns the existing message and adds nothing.
    """
    number = e164(to)
    subject, body = render(kind, language, context, workspace)
    if subject is not None:
        raise ValueError(f"templates/mail/{kind}.{language}.txt has a Subject line (email?)")
    message = Message(
        channel=SMS,
        kind=kind,
        recipient=number,
        subject=None,
        body=body,
        attachments=[],
        listnr=listnr,
        dedupe_key=dedupe_key,
    )
    return _add(session, message)


def e164(number: str) -> str:
    """A mobile number in the international form Twilio wants (``+46701234567``).

    Accepts what staff directories hold: spaces, dashes, parentheses, ``00`` for ``+`` and a
    Swedish leading ``0`` (``070-123 45 67``). Raises ``ValueError`` for anything else.
    """
    digits = re.sub(r"[\s\-().]", "", number)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+46" + digits[1:]
    if not _E164.match(digits):
        raise ValueError(f"not a mobile number: {number!r}")
    return digits


def _stored_path(path: Path, workspace: Path | None) -> str:
    resolved = path.resolve()
    if workspace is not None:
        try:
            return resolved.relative_to(workspace.resolve()).as_posix()
        except ValueError:
            pass
    return str(resolved)


def _add(session: Session, message: Message) -> Message:
    dialect = session.get_bind().dialect.name
    if dialect in _UPSERT:
        # ON CONFLICT DO NOTHING is the dedupe: a key already queued inserts nothing and the
        # existing message is looked up then (no lookup first for every new message).
        return _insert(session, message, _UPSERT[dialect])
    if message.dedupe_key is not None:
        existing = _by_dedupe_key(session, message.dedupe_key)
        if existing is not None:
            return existing
    try:
        # A savepoint, so a concurrent insert of the same key fails only this insert and the
        # caller's transaction goes on with the message the other one queued.
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        if message.dedupe_key is None:
            raise
        existing = _by_dedupe_key(session, message.dedupe_key)
        if existing is None:
            raise
        return existing
    return message


_TABLE: Final = cast(Table, Message.__table__)
#: The dialects with ``INSERT ... ON CONFLICT DO NOTHING``: one plain statement, no
#: savepoint and no unit of work (that was most of queueing a receipt's mail copy).
_UPSERT: Final[dict[str, Any]] = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
_INSERTED: Final = (
    "channel",
    "kind",
    "recipient",
    "subject",
    "body",
    "attachments",
    "listnr",
    "dedupe_key",
    "reply_headers",
)


def _insert(session: Session, message: Message, dialect_insert: Any) -> Message:
    """Insert ``message`` with one Core statement and attach it to ``session`` as loaded (the
    values the ORM's defaults would give, in the same order), or, when a concurrent
    transaction queued the same dedupe key first, return that one."""
    message.status = MessageStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.created_at = utcnow()
    message.last_error = message.provider_id = message.sent_at = None
    values = {name: getattr(message, name) for name in (*_INSERTED, *_DEFAULTED)}
    stmt = dialect_insert(_TABLE).values(values)
    if message.dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[_TABLE.c.dedupe_key])
    result = cast(CursorResult[Any], session.execute(stmt.returning(_TABLE.c.id)))
    new_id = result.scalar()
    if new_id is None:  # the key was taken meanwhile
        existing = _by_dedupe_key(session, cast(str, message.dedupe_key))
        if existing is None:
            raise RuntimeError(f"message {message.dedupe_key!r} neither inserted nor found")
        return existing
    message.id = new_id
    make_transient_to_detached(message)
    session.add(message)
    return message


_DEFAULTED: Final = (
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "last_error",
    "provider_id",
    "sent_at",
)


#: Looked up for every message with a key (each receipt's copy): a plain statement built once,
#: and the ORM object loaded only when one exists.
_ID_BY_KEY: Final = select(Message.__table__.c.id).where(
    Message.__table__.c.dedupe_key == bindparam("key")
)


def _by_dedupe_key(session: Session, key: str) -> Message | None:
    found = session.execute(_ID_BY_KEY, {"key": key}).scalar()
    return session.get(Message, found) if found is not None else None
