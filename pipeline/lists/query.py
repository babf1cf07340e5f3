"""Reading result lists: a list by its number, its head in one query, its entries, the
registry records a list refers to, and the ``resultat status`` summaries.

Owns the read side of ``ResultList``; creating lists is :mod:`pipeline.lists.create`'s,
bringing students in :mod:`pipeline.lists.students`'s, changing state
:mod:`pipeline.lists.state`'s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload, selectinload

from pipeline.app import App
from pipeline.domain import terms
from pipeline.errors import NotFound
from pipeline.lists import summary
from pipeline.lists.summary import ListSummary
from pipeline.models import (
    Course,
    Examiner,
    ListEntry,
    ListKind,
    ListState,
    Module,
    ResultList,
    Staff,
    Student,
)
from pipeline.texts import t

#: States in which a teacher's workbook may still change results.
ACCEPTS_RESULTS = frozenset({ListState.DRAFT, ListState.SUBMITTED, ListState.AWAITING_APPROVAL})
#: States of a list whose results are final (approved by the examiner): never edited in place.
FINAL_STATES = frozenset({ListState.APPROVED, ListState.REGISTERED, ListState.ARCHIVED})


def get_list(session: Session, listnr: int, *, lock: bool = False) -> ResultList:
    stmt = (
        select(ResultList)
        .where(ResultList.listnr == listnr)
        .options(
            selectinload(ResultList.entries).selectinload(ListEntry.student),
            selectinload(ResultList.course),
            selectinload(ResultList.module),
        )
    )
    if lock:
        stmt = stmt.with_for_update()
    result = session.execute(stmt).scalar_one_or_none()
    if result is None:
        raise _list_not_found(listnr)
    return result


def get_list_head(session: Session, listnr: int, *, lock: bool = False) -> ResultList:
    """The list with its course and module, without its entries (see :func:`load_entries`)."""
    stmt = (
        select(ResultList)
        .where(ResultList.listnr == listnr)
        .options(joinedload(ResultList.course), joinedload(ResultList.module))
    )
    if lock:
        stmt = stmt.with_for_update(of=ResultList)
    result = session.execute(stmt).unique().scalar_one_or_none()
    if result is None:
        raise _list_not_found(listnr)
    return result


def _list_not_found(listnr: int) -> NotFound:
    return NotFound(t("lists.list-not-found", listnr=listnr))


@dataclass(frozen=True, slots=True)
class ScaleHead:
    """The scales of a list's course or module, as plain values."""

    scale: str
    ects_scale: str | None


@dataclass(frozen=True, slots=True)
class CourseHead(ScaleHead):
    start_date: dt.date


@dataclass(frozen=True, slots=True)
class ListHead:
    """What checking a dropped workbook needs of its list, as plain values read in one
    query (:func:`read_list_head`); it has the attribute names of :class:`ResultList` for
    what it holds. Applying needs the ORM object (:func:`get_list_head`)."""

    id: int
    listnr: int
    kind: ListKind
    state: ListState
    version: int
    reporter: str
    options: dict[str, object]
    course: CourseHead
    module: ScaleHead | None
    #: The reporter's language from the staff registry (``None`` when not registered).
    reporter_language: str | None


_HEAD_TABLES = (ResultList.__table__, Course.__table__, Module.__table__, Staff.__table__)


def _head_statement() -> Select[Any]:
    lists_t, courses, modules, staff = _HEAD_TABLES
    return select(
        lists_t.c.id,
        lists_t.c.kind,
        lists_t.c.state,
        lists_t.c.version,
        lists_t.c.reporter,
        lists_t.c.options,
        courses.c.scale,
        courses.c.ects_scale,
        courses.c.start_date,
        modules.c.id,
        modules.c.scale,
        modules.c.ects_scale,
        staff.c.language,
    ).select_from(
        lists_t.join(courses, lists_t.c.course_id == courses.c.id)
        .outerjoin(modules, lists_t.c.module_id == modules.c.id)
        .outerjoin(staff, staff.c.username == lists_t.c.reporter)
    )


_HEAD_BY_LISTNR: Final = _head_statement().where(
    ResultList.__table__.c.listnr == bindparam("listnr")
)


def read_list_head(session: Session, listnr: int) -> ListHead:
    """The list's head as plain values, in one Core query (no ORM objects, no lock): about
    a third of :func:`get_list_head` with the reporter's language, on every file taken."""
    row = session.execute(_HEAD_BY_LISTNR, {"listnr": listnr}).one_or_none()
    if row is None:
        raise _list_not_found(listnr)
    (id_, kind, state, version, reporter, options, c_scale, c_ects, start, m_id, m_scale,
     m_ects, language) = row  # fmt: skip
    return ListHead(
        id=id_,
        listnr=listnr,
        kind=kind,
        state=state,
        version=version,
        reporter=reporter,
        options=options or {},
        course=CourseHead(c_scale, c_ects, start),
        module=ScaleHead(m_scale, m_ects) if m_id is not None else None,
        reporter_language=language,
    )


@dataclass(slots=True)
class StudentRow:
    pnr: str
    last_name: str
    first_name: str


@dataclass(slots=True)
class EntryRow:
    """One entry of a list as plain values (no ORM object): the hot path of intake and
    issuing reads and compares thousands of these, and writes back only changed ones."""

    id: int
    student_id: int
    position: int
    grade: str | None
    ects_grade: str | None
    grade_date: dt.date | None
    points: Decimal | None
    comment: str | None
    removed: bool
    student: StudentRow


def load_entries(session: Session, list_id: int, *, active: bool = False) -> list[EntryRow]:
    """The entries of a list in their order, as plain rows, in one query."""
    stmt = (
        select(
            ListEntry.id,
            ListEntry.student_id,
            ListEntry.position,
            ListEntry.grade,
            ListEntry.ects_grade,
            ListEntry.grade_date,
            ListEntry.points,
            ListEntry.comment,
            ListEntry.removed,
            Student.pnr,
            Student.last_name,
            Student.first_name,
        )
        .join(Student, Student.id == ListEntry.student_id)
        .where(ListEntry.list_id == list_id)
        .order_by(ListEntry.position, ListEntry.id)
    )
    if active:
        stmt = stmt.where(ListEntry.removed.is_(False))
    # Core, not the ORM: no per-row ORM processing (this is a third of a 20,000-row intake).
    rows = session.connection().execute(stmt).all()
    return [
        EntryRow(i, sid, pos, grade, ects, date, points, comment, removed, StudentRow(p, ln, fn))
        for (i, sid, pos, grade, ects, date, points, comment, removed, p, ln, fn) in rows
    ]


def get_course(session: Session, code: str) -> Course:
    course = session.execute(select(Course).where(Course.code == code)).scalar_one_or_none()
    if course is None:
        raise NotFound(t("lists.course-not-found", code=code))
    return course


def get_module(session: Session, course: Course, code: str) -> Module:
    module = session.execute(
        select(Module).where(Module.course_id == course.id, Module.code == code)
    ).scalar_one_or_none()
    if module is None:
        raise NotFound(t("lists.module-not-found", code=code, course=course.code))
    return module


def get_staff(session: Session, username: str) -> Staff:
    staff = session.execute(select(Staff).where(Staff.username == username)).scalar_one_or_none()
    if staff is None:
        raise NotFound(t("lists.staff-not-found", username=username))
    return staff


def examiner_for(session: Session, course: Course, term: str) -> Staff | None:
    rows = session.execute(
        select(Examiner)
        .where(Examiner.course_id == course.id)
        .options(selectinload(Examiner.staff))
    ).scalars()
    matching = [e for e in rows if terms.in_range(term, e.from_term, e.to_term)]
    if not matching:
        return None
    matching.sort(key=lambda e: terms.term_key(e.from_term), reverse=True)
    return matching[0].staff


def previous_results(session: Session, correction: ResultList) -> dict[int, ListEntry]:
    """The corrected list's entries by student id (the old values a correction shows)."""
    if correction.corrects_listnr is None:
        return {}
    original = get_list(session, correction.corrects_listnr)
    return {e.student_id: e for e in original.entries}


def summaries(app: App, listnr: int | None = None, *, every: bool = False) -> list[ListSummary]:
    """The lines of ``resultat status`` through SQLAlchemy (see :mod:`pipeline.lists.summary`
    for the statement, and for the CLI's way around this function)."""
    with app.db.read_session() as session:
        connection = session.connection()
        rows = connection.exec_driver_sql(summary.statement(listnr, every)).all()
        corrections = connection.exec_driver_sql(summary.CORRECTIONS).all()
    if listnr is not None and not rows:
        raise NotFound(t("lists.list-not-found", app.settings.language, app.root, listnr=listnr))
    return summary.lines(rows, corrections)
