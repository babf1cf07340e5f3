"""Result lists: creating them, bringing students in, and reading their current state.

Owns the ``ResultList`` lifecycle up to submission: a new list gets the next ``listnr``, its
examiner from the registry, and students from the sources the old portal offered (single
students by personnummer, everyone signed up for an exam sitting, everyone registered on the
course in a term). Issuing workbooks and applying dropped ones are other modules' work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from pipeline import audit
from pipeline.app import App
from pipeline.domain import personnummer, terms
from pipeline.errors import InvalidRequest, NotFound
from pipeline.models import (
    Course,
    Examiner,
    ExamSignup,
    ListEntry,
    ListKind,
    ListState,
    Module,
    Registration,
    ResultList,
    Staff,
    Student,
    utcnow,
)

FIRST_LISTNR = 1001
#: States in which a teacher's workbook may still change results.
ACCEPTS_RESULTS = frozenset({ListState.DRAFT, ListState.SUBMITTED, ListState.AWAITING_APPROVAL})


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
    return NotFound(f"Resultatlista {listnr} finns inte. / Result list {listnr} does not exist.")


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
        raise NotFound(f"Kursen {code} finns inte i registret. / Course {code} is not known.")
    return course


def get_module(session: Session, course: Course, code: str) -> Module:
    module = session.execute(
        select(Module).where(Module.course_id == course.id, Module.code == code)
    ).scalar_one_or_none()
    if module is None:
        raise NotFound(
            f"Modulen {code} finns inte på kursen {course.code}. / "
            f"Module {code} is not part of course {course.code}."
        )
    return module


def get_staff(session: Session, username: str) -> Staff:
    staff = session.execute(select(Staff).where(Staff.username == username)).scalar_one_or_none()
    if staff is None:
        raise NotFound(
            f"{username} finns inte i personalkatalogen. / "
            f"{username} is not in the staff directory."
        )
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


def select_students(
    session: Session, course: Course, module: Module | None, term: str, sources: StudentSources
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
            raise InvalidRequest("--exam-date needs a module / kräver en modul")
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


def _ordered(session: Session, student_ids: Sequence[int]) -> list[int]:
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


def _store_new(
    session: Session,
    app: App,
    result_list: ResultList,
    student_ids: Sequence[int],
    details: dict[str, object],
) -> None:
    """Add a new list with its students (in LADOK order) and its ``list.create`` event."""
    session.add(result_list)
    session.flush()
    for position, student_id in enumerate(_ordered(session, student_ids), start=1):
        session.add(ListEntry(list_id=result_list.id, student_id=student_id, position=position))
    audit.record(
        session,
        actor=app.actor,
        action="list.create",
        listnr=result_list.listnr,
        details=details,
    )


def _due(app: App, exam_date: dt.date | None) -> dt.date:
    """The due date of a new list: working days after its exam date, or after today."""
    from pipeline.domain import deadlines

    return deadlines.due_date_for(exam_date, deadlines.swedish_date(), app.settings.deadlines)


def _next_listnr(session: Session) -> int:
    current = session.execute(select(func.max(ResultList.listnr))).scalar_one_or_none()
    return max(FIRST_LISTNR, (current or 0) + 1)


def create_t33(
    app: App,
    *,
    course_code: str,
    module_code: str,
    term: str,
    sources: StudentSources,
    reporter: str | None = None,
) -> int:
    """Create a T33 (module) list; returns its ``listnr``."""
    if not terms.is_term(term):
        raise InvalidRequest(f"Ogiltig termin {term!r} (t.ex. HT2026). / Invalid term {term!r}.")
    if sources.empty:
        raise InvalidRequest(
            "Ange minst en studentkälla: --student, --exam-date eller --registered. / "
            "Give at least one student source: --student, --exam-date or --registered."
        )
    reporter = reporter or app.actor
    for attempt in range(5):
        try:
            with app.db.session() as session:
                course = get_course(session, course_code)
                module = get_module(session, course, module_code)
                get_staff(session, reporter)
                examiner = examiner_for(session, course, term)
                if examiner is None:
                    raise NotFound(
                        f"Ingen examinator för {course.code} termin {term} i registret. / "
                        f"No examiner for {course.code} in {term} in the registry."
                    )
                selection = select_students(session, course, module, term, sources)
                if selection.unknown:
                    raise NotFound(
                        "Okända studenter / unknown students: " + ", ".join(selection.unknown)
                    )
                if not selection.student_ids:
                    raise InvalidRequest(
                        "Inga studenter hittades med de angivna källorna. / "
                        "No students found by the given sources."
                    )
                listnr = _next_listnr(session)
                result_list = ResultList(
                    listnr=listnr,
                    kind=ListKind.T33,
                    course_id=course.id,
                    module_id=module.id,
                    term=term,
                    state=ListState.DRAFT,
                    version=1,
                    reporter=reporter,
                    examiner=examiner.username,
                    exam_date=sources.exam_date,
                    due_date=_due(app, sources.exam_date),
                )
                _store_new(
                    session,
                    app,
                    result_list,
                    selection.student_ids,
                    {
                        "kind": "t33",
                        "course": course.code,
                        "module": module.code,
                        "term": term,
                        "students": len(selection.student_ids),
                        "sources": _describe(sources),
                        "reporter": reporter,
                        "examiner": examiner.username,
                    },
                )
            return listnr
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def create_t34(
    app: App,
    *,
    course_code: str,
    term: str,
    examiner: str | None = None,
) -> int:
    """Create a T34 (final grade) list of every student who can be given one now."""
    from pipeline.lists import t34

    if not terms.is_term(term):
        raise InvalidRequest(f"Ogiltig termin {term!r} (t.ex. HT2026). / Invalid term {term!r}.")
    for attempt in range(5):
        try:
            with app.db.session() as session:
                course = get_course(session, course_code)
                if examiner is not None:
                    chosen = get_staff(session, examiner)
                else:
                    found = examiner_for(session, course, term)
                    if found is None:
                        raise NotFound(
                            f"Ingen examinator för {course.code} termin {term} i registret. / "
                            f"No examiner for {course.code} in {term} in the registry."
                        )
                    chosen = found
                standing = t34.standings(session, course, term, app.root)
                if not standing:
                    raise InvalidRequest(
                        f"Inga studenter registrerade på {course.code} {term}. / "
                        f"No students registered on {course.code} in {term}."
                    )
                eligible = [s.student_id for s in standing if s.eligible]
                listnr = _next_listnr(session)
                result_list = ResultList(
                    listnr=listnr,
                    kind=ListKind.T34,
                    course_id=course.id,
                    module_id=None,
                    term=term,
                    state=ListState.DRAFT,
                    version=1,
                    reporter=chosen.username,
                    examiner=chosen.username,
                    due_date=_due(app, None),
                )
                _store_new(
                    session,
                    app,
                    result_list,
                    eligible,
                    {
                        "kind": "t34",
                        "course": course.code,
                        "term": term,
                        "students": len(eligible),
                        "not_eligible": len(standing) - len(eligible),
                        "examiner": chosen.username,
                    },
                )
            return listnr
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


#: States of a list whose results are final (approved by the examiner): never edited in place.
FINAL_STATES = frozenset({ListState.APPROVED, ListState.REGISTERED, ListState.ARCHIVED})


def create_correction(
    app: App,
    listnr: int,
    *,
    students: Sequence[str] = (),
    reporter: str | None = None,
    admin: bool,
) -> int:
    """A correction list for an approved list: new ``listnr``, same kind, course, module and
    term, referencing the original, holding the chosen students (all when none are named)
    with their current results. The original is never edited. Administration mode only."""
    from pipeline.app import require_admin

    require_admin(admin, "Rättelse av attesterad lista / correcting an approved list")
    for attempt in range(5):
        try:
            with app.db.session() as session:
                original = get_list(session, listnr)
                if original.state not in FINAL_STATES:
                    raise InvalidRequest(
                        f"Lista {listnr} är inte attesterad ({original.state.value}); ändra den "
                        f"i arbetsboken i stället. / List {listnr} is not approved; change it in "
                        "its workbook instead."
                    )
                chosen = [e for e in original.entries if not e.removed]
                if students:
                    wanted = set()
                    for raw in students:
                        try:
                            wanted.add(personnummer.normalize(raw))
                        except personnummer.PersonnummerError as exc:
                            raise InvalidRequest(
                                f"{personnummer.mask_text(str(raw))}: {exc.slug}"
                            ) from None
                    chosen = [e for e in chosen if e.student.pnr in wanted]
                    missing = wanted - {e.student.pnr for e in chosen}
                    if missing:
                        raise NotFound(
                            f"Inte på lista {listnr} / not on list {listnr}: "
                            + ", ".join(personnummer.mask(m) for m in sorted(missing))
                        )
                examiner = examiner_for(session, original.course, original.term)
                new_listnr = _next_listnr(session)
                correction = ResultList(
                    listnr=new_listnr,
                    kind=original.kind,
                    course_id=original.course_id,
                    module_id=original.module_id,
                    term=original.term,
                    state=ListState.DRAFT,
                    version=1,
                    reporter=reporter or original.reporter,
                    examiner=examiner.username if examiner else original.examiner,
                    exam_date=original.exam_date,
                    corrects_listnr=listnr,
                    due_date=_due(app, None),
                )
                session.add(correction)
                session.flush()
                for position, entry in enumerate(chosen, start=1):
                    session.add(
                        ListEntry(
                            list_id=correction.id,
                            student_id=entry.student_id,
                            position=position,
                            grade=entry.grade,
                            ects_grade=entry.ects_grade,
                            grade_date=entry.grade_date,
                            points=entry.points,
                            comment=entry.comment,
                        )
                    )
                audit.record(
                    session,
                    actor=app.actor,
                    action="list.correct",
                    listnr=new_listnr,
                    admin=True,
                    details={"corrects": listnr, "students": len(chosen)},
                )
            return new_listnr
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def corrections_of(session: Session, listnr: int) -> list[int]:
    """The correction lists that reference ``listnr``."""
    return list(
        session.execute(
            select(ResultList.listnr)
            .where(ResultList.corrects_listnr == listnr)
            .order_by(ResultList.listnr)
        ).scalars()
    )


def previous_results(session: Session, correction: ResultList) -> dict[int, ListEntry]:
    """The corrected list's entries by student id (the old values a correction shows)."""
    if correction.corrects_listnr is None:
        return {}
    original = get_list(session, correction.corrects_listnr)
    return {e.student_id: e for e in original.entries}


def _describe(sources: StudentSources) -> dict[str, object]:
    return {
        "students": len(sources.students),
        "exam_date": sources.exam_date.isoformat() if sources.exam_date else None,
        "registered": sources.registered,
    }


def add_students(app: App, listnr: int, sources: StudentSources) -> int:
    """Add students to a list that still accepts results; returns how many were new."""
    if sources.empty:
        raise InvalidRequest("Ange minst en studentkälla. / Give at least one student source.")
    with app.db.session() as session:
        result_list = get_list(session, listnr, lock=True)
        if result_list.state not in ACCEPTS_RESULTS:
            raise InvalidRequest(
                f"Lista {listnr} har status {result_list.state.value} och kan inte ändras. / "
                f"List {listnr} is {result_list.state.value} and cannot be changed."
            )
        selection = select_students(
            session, result_list.course, result_list.module, result_list.term, sources
        )
        if selection.unknown:
            raise NotFound("Okända studenter / unknown students: " + ", ".join(selection.unknown))
        present = {e.student_id for e in result_list.entries}
        new_ids = [i for i in selection.student_ids if i not in present]
        if not new_ids:
            return 0
        position = max((e.position for e in result_list.entries), default=0)
        for student_id in _ordered(session, new_ids):
            position += 1
            session.add(ListEntry(list_id=result_list.id, student_id=student_id, position=position))
        result_list.version += 1
        result_list.updated_at = utcnow()
        if result_list.state != ListState.DRAFT:
            from pipeline.lifecycle.approval import void_challenges

            void_challenges(session, listnr, reason="students added", actor=app.actor)
            result_list.state = ListState.DRAFT
        audit.record(
            session,
            actor=app.actor,
            action="list.add-students",
            listnr=listnr,
            details={"added": len(new_ids), "version": result_list.version, **_describe(sources)},
        )
        return len(new_ids)


@dataclass(frozen=True)
class ListSummary:
    """One line of ``resultat status``."""

    listnr: int
    kind: str
    course: str
    module: str | None
    term: str
    state: str
    version: int
    reporter: str
    examiner: str | None
    students: int
    graded: int
    corrects: int | None = None
    corrected_by: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "listnr": self.listnr,
            "kind": self.kind,
            "course": self.course,
            "module": self.module,
            "term": self.term,
            "state": self.state,
            "version": self.version,
            "reporter": self.reporter,
            "examiner": self.examiner,
            "students": self.students,
            "graded": self.graded,
        }


def summaries(app: App, listnr: int | None = None) -> list[ListSummary]:
    with app.db.session() as session:
        students = func.count(ListEntry.id).filter(ListEntry.removed.is_(False))
        graded = func.count(ListEntry.id).filter(
            ListEntry.removed.is_(False), ListEntry.grade.is_not(None)
        )
        stmt = (
            select(ResultList, Course.code, Module.code, students, graded)
            .join(Course, Course.id == ResultList.course_id)
            .outerjoin(Module, Module.id == ResultList.module_id)
            .outerjoin(ListEntry, ListEntry.list_id == ResultList.id)
            .group_by(ResultList.id, Course.code, Module.code)
            .order_by(ResultList.listnr)
        )
        if listnr is not None:
            stmt = stmt.where(ResultList.listnr == listnr)
        rows = session.execute(stmt).all()
        by_original: dict[int, list[int]] = {}
        for new, old in session.execute(
            select(ResultList.listnr, ResultList.corrects_listnr).where(
                ResultList.corrects_listnr.is_not(None)
            )
        ).all():
            by_original.setdefault(int(old or 0), []).append(int(new))
        if listnr is not None and not rows:
            raise NotFound(
                f"Resultatlista {listnr} finns inte. / Result list {listnr} does not exist."
            )
        return [
            ListSummary(
                listnr=rl.listnr,
                kind=rl.kind.value,
                course=course_code,
                module=module_code,
                term=rl.term,
                state=rl.state.value,
                version=rl.version,
                reporter=rl.reporter,
                examiner=rl.examiner,
                students=int(n_students),
                graded=int(n_graded),
                corrects=rl.corrects_listnr,
                corrected_by=tuple(by_original.get(rl.listnr, ())),
            )
            for rl, course_code, module_code, n_students, n_graded in rows
        ]
