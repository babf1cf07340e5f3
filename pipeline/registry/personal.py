"""Personal settings, the old portal's "Dina inställningar": language, notification address,
receipt copies.

Owns showing and changing the settings a member of staff keeps for themselves on their
:class:`~pipeline.models.Staff` row:

- ``language``: ``sv`` or ``en``, for the emails, receipts and workbooks they get;
- ``notify_email``: where notices (reminders, receipt copies) go instead of their address in
  the staff directory; an empty value clears it (back to the directory address);
- ``mail_copies``: whether what is delivered to their outbox folder is mailed as well (on by
  default);
- ``reminders``: whether they get the daily reminders of lists due or waiting for them.

Anyone may see and change their own settings (``username == app.actor``); anything about
someone else needs administration mode (``admin=True``, ``--admin``). Every change is an audit
event ``settings.change`` with each changed setting's old and new value; a change to someone
else's settings is recorded with the admin flag. The staff directory fields themselves (name,
email, mobile) come from BARD through ``resultat registry import`` and are not changed here.

Left to callers: who the acting user is (``app.actor``), printing, and the CLI options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit, resources, texts
from pipeline.app import App, require_admin
from pipeline.errors import InvalidRequest, NotFound
from pipeline.models import Staff

LANGUAGES: Final = ("sv", "en")
MAX_EMAIL: Final = 320
# An address goes into a To: header as it is: one plain address, nothing a header could split.
_NOT_IN_ADDRESS: Final = re.compile(r"[\s<>,;\"]")


@dataclass(frozen=True)
class PersonalSettings:
    """One person's settings, and where their notices go."""

    username: str
    language: str
    notify_email: str | None
    mail_copies: bool
    reminders: bool = True
    #: Name and address from the staff directory (read-only here).
    name: str = ""
    email: str = ""

    @property
    def notices_to(self) -> str:
        """The address reminders and receipt copies are sent to."""
        return self.notify_email or self.email

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "name": self.name,
            "email": self.email,
            "language": self.language,
            "notify_email": self.notify_email,
            "notices_to": self.notices_to,
            "mail_copies": self.mail_copies,
            "reminders": self.reminders,
        }


def show(app: App, username: str, *, admin: bool = False) -> PersonalSettings:
    """``username``'s settings; someone else's need ``admin``."""
    _check_access(app, username, admin=admin, what=texts.Key("errors.what.others-settings"))
    with app.db.session() as session:
        return _settings(_staff(session, username))


def change(
    app: App,
    username: str,
    *,
    language: str | None = None,
    notify_email: str | None = None,
    mail_copies: bool | None = None,
    reminders: bool | None = None,
    admin: bool = False,
) -> PersonalSettings:
    """Change the given settings (``None`` leaves one as it is; ``notify_email=""`` clears it).

    Raises :class:`~pipeline.errors.AdminRequired` for someone else's settings without
    ``admin``, :class:`~pipeline.errors.NotFound` for an unknown user and
    :class:`~pipeline.errors.InvalidRequest` for a language or address that cannot be used;
    nothing is changed then.
    """
    _check_access(
        app,
        username,
        admin=admin,
        what=texts.Key("errors.what.change-others-settings"),
    )
    wanted: dict[str, Any] = {}
    if language is not None:
        wanted["language"] = _language(language)
    if notify_email is not None:
        wanted["notify_email"] = _email(notify_email, app)
    if mail_copies is not None:
        wanted["mail_copies"] = bool(mail_copies)
    if reminders is not None:
        wanted["reminders"] = bool(reminders)
    with app.db.session() as session:
        person = _staff(session, username, lock=True)
        changes = {
            name: {"old": getattr(person, name), "new": value}
            for name, value in wanted.items()
            if getattr(person, name) != value
        }
        if changes:
            for name, change_ in changes.items():
                setattr(person, name, change_["new"])
            audit.record(
                session,
                actor=app.actor,
                action="settings.change",
                admin=username != app.username,
                details={"username": username, "changes": changes},
            )
        return _settings(person)


def _check_access(app: App, username: str, *, admin: bool, what: str) -> None:
    if username != app.username:
        require_admin(admin, what)


def _staff(session: Session, username: str, *, lock: bool = False) -> Staff:
    stmt = select(Staff).where(Staff.username == username)
    if lock:
        stmt = stmt.with_for_update()
    person = session.execute(stmt).scalar_one_or_none()
    if person is None:
        raise NotFound.text("errors.no-staff", username=username)
    return person


def _settings(person: Staff) -> PersonalSettings:
    return PersonalSettings(
        username=person.username,
        language=person.language if person.language in LANGUAGES else "sv",
        notify_email=person.notify_email,
        mail_copies=bool(person.mail_copies),
        reminders=bool(person.reminders),
        name=person.name,
        email=person.email,
    )


def _language(value: str) -> str:
    language = value.strip().lower()
    if language not in LANGUAGES:
        raise InvalidRequest.text("errors.bad-language", value=repr(value))
    return language


def _email(value: str, app: App) -> str | None:
    address = value.strip()
    if not address:
        return None
    # The same rule as an address imported from the staff directory (schemas/registry/staff.yaml).
    schema = resources.load_yaml("schemas", "registry/staff.yaml", app.root)
    checks = schema["schema"]["columns"]["email"].get("checks") or []
    pattern = next((str(c["pattern"]) for c in checks if "pattern" in c), r"[^@]+@[^@]+\.[^@]+")
    if (
        len(address) > MAX_EMAIL
        or _NOT_IN_ADDRESS.search(address)
        or not re.fullmatch(pattern, address)
    ):
        raise InvalidRequest.text("errors.bad-email", value=repr(value))
    return address
