"""Creating result lists: T33 (module), T34 (final grade) and corrections of approved lists.

A new list gets the next ``listnr``, its examiner from the registry, its first state from
:mod:`pipeline.lists.state` and its students (:mod:`pipeline.lists.students`). Issuing
workbooks and applying dropped ones are other modules' work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import audit
from pipeline.app import App, require_admin
from pipeline.domain import deadlines, personnummer, terms
from pipeline.errors import InvalidRequest, NotFound
from pipeline.lists import state, t34
from pipeline.lists.query import (
    FINAL_STATES,
    examiner_for,
    get_course,
    get_list,
    get_module,
    get_staff,
)
from pipeline.lists.students import StudentSources, describe, ordered, select_students
from pipeline.models import (
    AuditEvent,
    ListEntry,
    ListKind,
    ResultList,
)
from pipeline.people import roles
from pipeline.texts import t

FIRST_LISTNR = 1001


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
    for position, student_id in enumerate(ordered(session, student_ids), start=1):
        session.add(ListEntry(list_id=result_list.id, student_id=student_id, position=position))
    audit.record(
        session,
        actor=app.actor,
        action="list.create",
        listnr=result_list.listnr,
        details=details,
    )


#: How many of an actor's newest list creations are searched for an order's list.
RECENT_ORDERS = 200


def made_for(session: Session, actor: str, order: str | None) -> int | None:
    """The list an earlier run made for ``order`` (by ``actor``), if any."""
    if not order:
        return None
    recent = session.execute(
        select(AuditEvent.listnr, AuditEvent.details)
        .where(AuditEvent.action == "list.create", AuditEvent.actor == actor)
        .order_by(AuditEvent.id.desc())
        .limit(RECENT_ORDERS)
    )
    for listnr, details in recent:
        if listnr is not None and isinstance(details, dict) and details.get("order") == order:
            return listnr
    return None


def _due(app: App, exam_date: dt.date | None) -> dt.date:
    """The due date of a new list: working days after its exam date, or after today."""
    return deadlines.due_date_for(exam_date, deadlines.swedish_date(), app.settings.deadlines)


def _no_examiner(app: App, course: str, term: str) -> str:
    return t("lists.no-examiner", app.settings.language, app.root, course=course, term=term)


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
    order: str | None = None,
) -> int:
    """Create a T33 (module) list; returns its ``listnr``.

    ``order`` names the order this creation carries out (a dropped form's SHA-256 and row);
    when a list was already made for it — the daemon stopped before the form's record was
    committed and takes the form again — that list's number is returned, none is made twice.
    """
    lang = app.settings.language
    if not terms.is_term(term):
        raise InvalidRequest(t("lists.invalid-term", lang, app.root, term=term))
    if sources.empty:
        raise InvalidRequest(t("lists.no-source", lang, app.root))
    if reporter not in (None, app.username) and not app.admin:
        raise roles.NotPermitted.text("people.rule.reporter-self", actor=app.username)
    reporter = reporter or app.username
    for attempt in range(5):
        try:
            with app.db.session() as session:
                made = made_for(session, app.actor, order)
                if made is not None:
                    return made
                course = get_course(session, course_code)
                module = get_module(session, course, module_code)
                get_staff(session, reporter)
                roles.may_order(session, reporter, course, term, admin=app.admin)
                examiner = examiner_for(session, course, term)
                if examiner is None:
                    raise NotFound(_no_examiner(app, course.code, term))
                selection = select_students(session, course, module, term, sources, language=lang)
                if selection.unknown:
                    unknown = ", ".join(selection.unknown)
                    raise NotFound(t("lists.unknown-students", lang, app.root, students=unknown))
                if not selection.student_ids:
                    raise InvalidRequest(t("lists.no-students-found", lang, app.root))
                listnr = _next_listnr(session)
                result_list = ResultList(
                    listnr=listnr,
                    kind=ListKind.T33,
                    course_id=course.id,
                    module_id=module.id,
                    term=term,
                    version=1,
                    reporter=reporter,
                    examiner=examiner.username,
                    exam_date=sources.exam_date,
                    due_date=_due(app, sources.exam_date),
                )
                state.begin(result_list)
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
                        "sources": describe(sources),
                        "reporter": reporter,
                        "examiner": examiner.username,
                        **({"order": order} if order else {}),
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
    order: str | None = None,
) -> int:
    """Create a T34 (final grade) list of every student who can be given one now.

    ``order``: as for :func:`create_t33`.
    """
    lang = app.settings.language
    if not terms.is_term(term):
        raise InvalidRequest(t("lists.invalid-term", lang, app.root, term=term))
    for attempt in range(5):
        try:
            with app.db.session() as session:
                made = made_for(session, app.actor, order)
                if made is not None:
                    return made
                course = get_course(session, course_code)
                roles.may_order(session, app.username, course, term, admin=app.admin)
                if examiner is not None:
                    chosen = get_staff(session, examiner)
                else:
                    found = examiner_for(session, course, term)
                    if found is None:
                        raise NotFound(_no_examiner(app, course.code, term))
                    chosen = found
                standing = t34.standings(session, course, term, app.root)
                if not standing:
                    raise InvalidRequest(
                        t(
                            "lists.no-students-registered",
                            lang,
                            app.root,
                            course=course.code,
                            term=term,
                        )
                    )
                eligible = [s.student_id for s in standing if s.eligible]
                listnr = _next_listnr(session)
                result_list = ResultList(
                    listnr=listnr,
                    kind=ListKind.T34,
                    course_id=course.id,
                    module_id=None,
                    term=term,
                    version=1,
                    reporter=chosen.username,
                    examiner=chosen.username,
                    due_date=_due(app, None),
                )
                state.begin(result_list)
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
                        **({"order": order} if order else {}),
                    },
                )
            return listnr
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


#: States of a list whose results are final (approved by the examiner): never edited in place.
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
    lang = app.settings.language
    require_admin(admin, t("lists.correcting-approved", lang, app.root))
    for attempt in range(5):
        try:
            with app.db.session() as session:
                original = get_list(session, listnr)
                if original.state not in FINAL_STATES:
                    raise InvalidRequest(
                        t(
                            "lists.correct-not-approved",
                            lang,
                            app.root,
                            listnr=listnr,
                            state=original.state.value,
                        )
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
                        masked = ", ".join(personnummer.mask(m) for m in sorted(missing))
                        raise NotFound(
                            t("lists.not-on-list", lang, app.root, listnr=listnr, students=masked)
                        )
                examiner = examiner_for(session, original.course, original.term)
                new_listnr = _next_listnr(session)
                correction = ResultList(
                    listnr=new_listnr,
                    kind=original.kind,
                    course_id=original.course_id,
                    module_id=original.module_id,
                    term=original.term,
                    version=1,
                    reporter=reporter or original.reporter,
                    examiner=examiner.username if examiner else original.examiner,
                    exam_date=original.exam_date,
                    corrects_listnr=listnr,
                    due_date=_due(app, None),
                )
                state.begin(correction)
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
