"""Personal settings ("Dina inställningar"): own changes, someone else's with --admin, audit."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.app import App
from pipeline.errors import AdminRequired, InvalidRequest, NotFound
from pipeline.models import AuditEvent, Staff
from pipeline.registry import personal
from tests.factories import seed


def _as(app: App, actor: str) -> App:
    return dataclasses.replace(app, actor=actor, username=actor)


def _staff(app: App, username: str) -> tuple[str, str | None, bool]:
    with app.db.session() as s:
        person = s.execute(select(Staff).where(Staff.username == username)).scalar_one()
        return person.language, person.notify_email, person.mail_copies


def _events(app: App) -> list[AuditEvent]:
    with app.db.session() as s:
        stmt = select(AuditEvent).where(AuditEvent.action == "settings.change")
        return list(s.execute(stmt.order_by(AuditEvent.id)).scalars())


def test_show_own_settings(app: App) -> None:
    seed(app)
    mine = personal.show(_as(app, "lärare1"), "lärare1")
    assert mine == personal.PersonalSettings(
        username="lärare1",
        language="sv",
        notify_email=None,
        mail_copies=True,
        name="Lars Lärare",
        email="larare1@example.se",
    )
    assert mine.notices_to == "larare1@example.se"


def test_change_own_settings_is_audited(app: App) -> None:
    seed(app)
    teacher = _as(app, "lärare1")
    result = personal.change(
        teacher,
        "lärare1",
        language="EN",
        notify_email=" lars.privat@example.se ",
        mail_copies=False,
    )
    assert (result.language, result.notify_email, result.mail_copies) == (
        "en",
        "lars.privat@example.se",
        False,
    )
    assert result.notices_to == "lars.privat@example.se"
    assert _staff(app, "lärare1") == ("en", "lars.privat@example.se", False)
    [event] = _events(app)
    assert (event.actor, event.admin, event.listnr) == ("lärare1", False, None)
    assert event.details == {
        "username": "lärare1",
        "changes": {
            "language": {"old": "sv", "new": "en"},
            "notify_email": {"old": None, "new": "lars.privat@example.se"},
            "mail_copies": {"old": True, "new": False},
        },
    }

    # Only what differs is recorded; nothing different, no event.
    personal.change(teacher, "lärare1", language="en", mail_copies=True)
    personal.change(teacher, "lärare1", language="en")
    events = _events(app)
    assert len(events) == 2
    assert events[1].details["changes"] == {"mail_copies": {"old": False, "new": True}}

    # An empty address clears it: notices go to the directory address again.
    cleared = personal.change(teacher, "lärare1", notify_email="")
    assert (cleared.notify_email, cleared.notices_to) == (None, "larare1@example.se")
    assert _events(app)[-1].details["changes"] == {
        "notify_email": {"old": "lars.privat@example.se", "new": None}
    }


def test_someone_elses_settings_need_admin(app: App) -> None:
    seed(app)
    teacher = _as(app, "lärare1")
    with pytest.raises(AdminRequired):
        personal.change(teacher, "exam1", language="en")
    with pytest.raises(AdminRequired):
        personal.show(teacher, "exam1")
    assert _staff(app, "exam1") == ("sv", None, True)
    assert _events(app) == []

    changed = personal.change(teacher, "exam1", mail_copies=False, admin=True)
    assert changed.mail_copies is False
    assert personal.show(teacher, "exam1", admin=True).mail_copies is False
    [event] = _events(app)
    assert (event.actor, event.admin) == ("lärare1", True)
    assert event.details == {
        "username": "exam1",
        "changes": {"mail_copies": {"old": True, "new": False}},
    }


@pytest.mark.parametrize(
    "change",
    [
        {"language": "de"},
        {"notify_email": "lars.example.se"},
        {"notify_email": "lars@example.se, eva@example.se"},
        {"notify_email": "Lars <lars@example.se>"},
        {"notify_email": "lars@localhost"},
    ],
)
def test_bad_values_change_nothing(app: App, change: dict[str, Any]) -> None:
    seed(app)
    with pytest.raises(InvalidRequest):
        personal.change(_as(app, "lärare1"), "lärare1", mail_copies=False, **change)
    assert _staff(app, "lärare1") == ("sv", None, True)
    assert _events(app) == []


def test_unknown_user(app: App) -> None:
    seed(app)
    with pytest.raises(NotFound):
        personal.show(app, "ingen", admin=True)
    with pytest.raises(NotFound):
        personal.change(app, "ingen", language="en", admin=True)
    # Without admin an unknown other user is refused before anything is looked up.
    with pytest.raises(AdminRequired):
        personal.show(app, "ingen")
