"""A person as the staff directory has them, and the student office.

Owns reading :class:`~pipeline.models.Staff` rows into :class:`Person` (with the address their
mail goes to and the language they read), finding a person by username, file-server login or
mail address, and the name of the student office's folders (:data:`OFFICE`). Changing a
person's settings is :mod:`pipeline.registry.personal`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipeline.models import Staff
from pipeline.texts import DEFAULT_LANGUAGE, LANGUAGES

#: The student office's (Utbildningsstöd's) folders: ``inbox/utbildningsstod/`` and
#: ``outbox/utbildningsstod/``. No username may take the name (the directory's usernames are
#: checked against it on import).
OFFICE: Final = "utbildningsstod"


@dataclass(frozen=True)
class Person:
    """One member of staff, as far as reaching them and their roles go."""

    username: str
    name: str
    email: str
    language: str
    mobile: str | None = None
    os_login: str | None = None
    office: bool = False
    notify_email: str | None = None
    mail_copies: bool = True
    reminders: bool = True

    @property
    def mail_to(self) -> str:
        """Where their mail goes: their own notice address, else the directory's."""
        return self.notify_email or self.email

    @property
    def login(self) -> str:
        """Their login on the file server (the username unless the directory says otherwise)."""
        return self.os_login or self.username

    @classmethod
    def of(cls, staff: Staff) -> Person:
        language = staff.language if staff.language in LANGUAGES else DEFAULT_LANGUAGE
        return cls(
            username=staff.username,
            name=staff.name,
            email=staff.email,
            language=language,
            mobile=staff.mobile,
            os_login=staff.os_login,
            office=bool(staff.office),
            notify_email=staff.notify_email,
            mail_copies=bool(staff.mail_copies) if staff.mail_copies is not None else True,
            reminders=bool(staff.reminders) if staff.reminders is not None else True,
        )


def person(session: Session, username: str | None) -> Person | None:
    """The person with ``username``, or ``None``."""
    if not username:
        return None
    found = session.execute(select(Staff).where(Staff.username == username)).scalar_one_or_none()
    return Person.of(found) if found is not None else None


def everyone(session: Session) -> list[Person]:
    """Every member of staff, by username."""
    rows = session.execute(select(Staff).order_by(Staff.username)).scalars()
    return [Person.of(s) for s in rows]


def office_members(session: Session) -> list[Person]:
    """The members of the student office, by username."""
    rows = session.execute(
        select(Staff).where(Staff.office.is_(True)).order_by(Staff.username)
    ).scalars()
    return [Person.of(s) for s in rows]


def by_login(session: Session, login: str) -> Person | None:
    """The person whose file-server login is ``login`` (their username when none is set)."""
    rows = session.execute(
        select(Staff).where(
            or_(Staff.os_login == login, (Staff.os_login.is_(None)) & (Staff.username == login))
        )
    ).scalars()
    found = list(rows)
    exact = [s for s in found if s.os_login == login]
    chosen = exact or found
    return Person.of(chosen[0]) if len(chosen) == 1 else None


def by_email(session: Session, address: str) -> Person | None:
    """The person whose directory (or notice) address is ``address`` (case-insensitive)."""
    wanted = address.strip().lower()
    rows = list(
        session.execute(
            select(Staff).where(
                or_(func.lower(Staff.email) == wanted, func.lower(Staff.notify_email) == wanted)
            )
        ).scalars()
    )
    return Person.of(rows[0]) if len(rows) == 1 else None
