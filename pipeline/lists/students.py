"""Bringing students into a list: the sources the old portal offered (single students by
personnummer, everyone signed up for an exam sitting, everyone registered on the course in a
term), resolved to students in LADOK order, and adding them to an open list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.errors import InvalidRequest, NotFound
from pipeline.lists import state
from pipeline.lists.content import void_challenges
from pipeline.lists.query import ACCEPTS_RESULTS, get_list
from pipeline.models import (
    Course,
    ExamSignup,
    ListEntry,
    ListState,
    Module,
    Registration,
    Student,
    utcnow,
)
from pipeline.people import roles
from pipeline.texts import DEFAULT_LANGUAGE, t


@dataclass(frozen=True)
class StudentSources:
    """Where the students of a list come from; any combination may be given."""

    students: Sequence[str] = ()
    exam_date: dt.date | None = None
    registered: bool = False

    @property
    def empty(self) -> bool:
        return not self.students and self.exam_date is None and not self.registered


@dataclass
class Selection:
    """The students a set of sources found, and what could not be found."""

    student_ids: list[int] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def select_students(
    session: Session,
    course: Course,
    module: Module | None,
    term: str,
    sources: StudentSources,
    *,
    language: str = DEFAULT_LANGUAGE,
) -> Selection:
    """Resolve sources to student ids (deduplicated, in a stable order)."""
    selection = Selection()
    ids: list[int] = []
    for raw in sources.students:
        try:
            digits = personnummer.normalize(raw)
        except personnummer.PersonnummerError as exc:
            selection.unknown.append(f"{personnummer.mask_text(str(raw))} ({exc.slug})")
            continue
        student_id = session.execute(
            select(Student.id).where(Student.pnr == digits)
        ).scalar_one_or_none()
        if student_id is None:
            selection.unknown.append(personnummer.mask(digits))
        else:
            ids.append(student_id)
    if sources.exam_date is not None:
        if module is None:
            raise InvalidRequest(t("lists.exam-date-needs-module", language))
        ids.extend(
            session.execute(
                select(ExamSignup.student_id).where(
                    ExamSignup.module_id == module.id, ExamSignup.exam_date == sources.exam_date
                )
            ).scalars()
        )
    if sources.registered:
        ids.extend(
            session.execute(
                select(Registration.student_id).where(
                    Registration.course_id == course.id, Registration.term == term
                )
            ).scalars()
        )
    selection.student_ids = list(dict.fromkeys(ids))
    return selection


def ordered(session: Session, student_ids: Sequence[int]) -> list[int]:
    """Students in the order LADOK lists them: surname, given name."""
    if not student_ids:
        return []
    rows = list(
        session.execute(
            select(Student.id, Student.last_name, Student.first_name, Student.pnr).where(
                Student.id.in_(student_ids)
            )
        ).all()
    )
    rows.sort(key=lambda r: (r.last_name.casefold(), r.first_name.casefold(), r.pnr))
    return [r.id for r in rows]


def describe(sources: StudentSources) -> dict[str, object]:
    return {
        "students": len(sources.students),
        "exam_date": sources.exam_date.isoformat() if sources.exam_date else None,
        "registered": sources.registered,
    }


def add_students(app: App, listnr: int, sources: StudentSources) -> int:
    """Add students to a list that still accepts results; returns how many were new."""
    lang = app.settings.language
    if sources.empty:
        raise InvalidRequest(t("lists.no-source-short", lang, app.root))
    with app.db.session() as session:
        result_list = get_list(session, listnr, lock=True)
        if result_list.state not in ACCEPTS_RESULTS:
            raise InvalidRequest(
                t(
                    "lists.cannot-change",
                    lang,
                    app.root,
                    listnr=listnr,
                    state=result_list.state.value,
                )
            )
        if app.username != result_list.reporter:
            roles.may_order(
                session, app.username, result_list.course, result_list.term, admin=app.admin
            )
        selection = select_students(
            session,
            result_list.course,
            result_list.module,
            result_list.term,
            sources,
            language=lang,
        )
        if selection.unknown:
            unknown = ", ".join(selection.unknown)
            raise NotFound(t("lists.unknown-students", lang, app.root, students=unknown))
        present = {e.student_id for e in result_list.entries}
        new_ids = [i for i in selection.student_ids if i not in present]
        if not new_ids:
            return 0
        position = max((e.position for e in result_list.entries), default=0)
        for student_id in ordered(session, new_ids):
            position += 1
            session.add(ListEntry(list_id=result_list.id, student_id=student_id, position=position))
        result_list.version += 1
        result_list.updated_at = utcnow()
        if result_list.state != ListState.DRAFT:
            void_challenges(session, listnr, reason="students added", actor=app.actor)
            state.transition(result_list, ListState.DRAFT, role=state.Role.REPORTER)
        audit.record(
            session,
            actor=app.actor,
            action="list.add-students",
            listnr=listnr,
            details={"added": len(new_ids), "version": result_list.version, **describe(sources)},
        )
        return len(new_ids)
