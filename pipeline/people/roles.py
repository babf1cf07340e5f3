"""Who may do what, from the registry.

Owns the rules, each refusing with :class:`NotPermitted` that names the rule and who may:

- only a list's examiner approves or rejects it, or asks for a new code;
- only members of the student office confirm "registered in LADOK" and the signed archive
  list;
- a new list needs a role on its course for its term (examiner, or teacher in the registry's
  ``teachers``); any member of staff may open an existing list by its number.

Administration mode (``--admin``) passes every rule and is audited by the caller. Who is acting
is the caller's (their folder, their verified mail, their login: :mod:`pipeline.people.acting`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.domain import terms
from pipeline.errors import ResultatError
from pipeline.models import Course, Examiner, ResultList, Staff, Teacher
from pipeline.people import directory


class NotPermitted(ResultatError):
    """The acting person may not do this; the message names the rule and who may."""

    exit_code = 5


def may_decide(session: Session, actor: str, result_list: ResultList, *, admin: bool) -> None:
    """Approve, reject or ask for a new code: the list's examiner only."""
    if admin or actor == result_list.examiner:
        return
    raise NotPermitted.text(
        "people.rule.examiner-only",
        actor=actor,
        listnr=result_list.listnr,
        examiner=_name(session, result_list.examiner),
    )


def may_confirm(session: Session, actor: str, *, admin: bool, listnr: int | None = None) -> None:
    """Mark registered in LADOK or signed: student-office staff only."""
    if admin or actor == directory.OFFICE:  # the office's folder is served to its staff only
        return
    found = directory.person(session, actor)
    if found is not None and found.office:
        return
    members = ", ".join(p.name for p in directory.office_members(session)) or "—"
    raise NotPermitted.text(
        "people.rule.office-only",
        actor=actor,
        listnr_part=f" ({listnr})" if listnr else "",
        members=members,
    )


def course_roles(session: Session, username: str, course: Course, term: str) -> set[str]:
    """``username``'s roles on ``course`` in ``term``: "examiner", "teacher" (or none)."""
    roles: set[str] = set()
    for role, model in (("examiner", Examiner), ("teacher", Teacher)):
        rows = session.execute(
            select(model.from_term, model.to_term)
            .join(Staff, Staff.id == model.staff_id)
            .where(model.course_id == course.id, Staff.username == username)
        ).all()
        if any(terms.in_range(term, first, last) for first, last in rows):
            roles.add(role)
    return roles


def may_order(session: Session, actor: str, course: Course, term: str, *, admin: bool) -> None:
    """A new list on ``course`` for ``term``: its examiner or one of its teachers."""
    if admin or course_roles(session, actor, course, term):
        return
    examiners = [
        s.name
        for s in session.execute(
            select(Staff)
            .join(Examiner, Examiner.staff_id == Staff.id)
            .where(Examiner.course_id == course.id)
        ).scalars()
    ]
    raise NotPermitted.text(
        "people.rule.course-role",
        actor=actor,
        course=course.code,
        term=term,
        examiners=", ".join(sorted(set(examiners))) or "—",
    )


def may_open(session: Session, actor: str, *, admin: bool) -> None:
    """Open a list by its number: any member of staff."""
    if admin or directory.person(session, actor) is not None:
        return
    raise NotPermitted.text("people.rule.staff-only", actor=actor)


def _name(session: Session, username: str | None) -> str:
    found = directory.person(session, username)
    return f"{found.name} ({found.username})" if found else (username or "—")
