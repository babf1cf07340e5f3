"""T34: final grades on a whole course — who may get one, from what, and a suggestion.

Owns eligibility (registered on the course that term and every module passed, counting
approved T33 lists in this system and prior results imported from the registry), each
student's module results (code, grade, date, credits), and the suggested final grade from the
course's rule in ``resultat.toml`` (``[final_grade.<COURSE>]``: ``rule = "weighted"`` — the
credit-weighted mean of the module grades' levels mapped onto the course scale — or
``rule = "module"`` with ``module = "<code>"``, or ``rule = "none"``). The examiner's entry
always decides; the suggestion is only shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.domain.scales import GradeScale, get_scale
from pipeline.models import (
    Course,
    ListEntry,
    ListKind,
    ListState,
    Module,
    PriorResult,
    Registration,
    ResultList,
    Student,
)

#: States in which a T33 list's results count (approved by the examiner).
COUNTING_STATES = (ListState.APPROVED, ListState.REGISTERED, ListState.ARCHIVED)


@dataclass(frozen=True)
class ModuleResult:
    code: str
    grade: str
    date: dt.date
    credits: Decimal


@dataclass
class Standing:
    """One registered student's position on the course."""

    student_id: int
    results: dict[str, ModuleResult] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    #: The approved final-grade list that already gave this student a grade, if any.
    graded_on: int | None = None

    @property
    def eligible(self) -> bool:
        return not self.missing and self.graded_on is None

    @property
    def latest_date(self) -> dt.date | None:
        return max((r.date for r in self.results.values()), default=None)

    @property
    def credits(self) -> Decimal:
        return sum((r.credits for r in self.results.values()), Decimal(0))


def passed_results(
    session: Session, course: Course, student_ids: list[int], workspace: Path | None = None
) -> dict[int, dict[str, ModuleResult]]:
    """Each student's passed module results: the latest passing one per module."""
    modules = {m.id: m for m in course.modules}
    scales = {m.id: get_scale(m.scale, workspace) for m in course.modules}
    found: dict[int, dict[str, ModuleResult]] = {sid: {} for sid in student_ids}
    if not modules or not student_ids:
        return found
    rows: list[tuple[int, int, str, dt.date]] = []
    rows.extend(
        (r.student_id, r.module_id, r.grade, r.grade_date)
        for r in session.execute(
            select(
                ListEntry.student_id, ResultList.module_id, ListEntry.grade, ListEntry.grade_date
            )
            .join(ResultList, ResultList.id == ListEntry.list_id)
            .where(
                ResultList.kind == ListKind.T33,
                ResultList.state.in_(COUNTING_STATES),
                ResultList.module_id.in_(list(modules)),
                ListEntry.student_id.in_(student_ids),
                ListEntry.removed.is_(False),
                ListEntry.grade.is_not(None),
                ListEntry.grade_date.is_not(None),
            )
        ).all()
    )
    rows.extend(
        (r.student_id, r.module_id, r.grade, r.grade_date)
        for r in session.execute(
            select(
                PriorResult.student_id,
                PriorResult.module_id,
                PriorResult.grade,
                PriorResult.grade_date,
            ).where(
                PriorResult.module_id.in_(list(modules)),
                PriorResult.student_id.in_(student_ids),
            )
        ).all()
    )
    for student_id, module_id, grade, date in rows:
        module = modules[module_id]
        if not scales[module_id].is_passing(grade):
            continue
        current = found[student_id].get(module.code)
        if current is None or date > current.date:
            found[student_id][module.code] = ModuleResult(
                module.code, grade, date, Decimal(module.credits)
            )
    return found


def standings(
    session: Session, course: Course, term: str, workspace: Path | None = None
) -> list[Standing]:
    """Every student registered on ``course`` in ``term``, eligible or not."""
    student_ids = list(
        session.execute(
            select(Registration.student_id).where(
                Registration.course_id == course.id, Registration.term == term
            )
        ).scalars()
    )
    results = passed_results(session, course, student_ids, workspace)
    graded = final_grades(session, course, student_ids)
    codes = [m.code for m in course.modules]
    out = []
    for sid in student_ids:
        passed = results.get(sid, {})
        out.append(Standing(sid, passed, [c for c in codes if c not in passed], graded.get(sid)))
    return out


def final_grades(session: Session, course: Course, student_ids: list[int]) -> dict[int, int]:
    """Students who already have an approved final grade on ``course``: id → listnr."""
    if not student_ids:
        return {}
    rows = session.execute(
        select(ListEntry.student_id, ResultList.listnr)
        .join(ResultList, ResultList.id == ListEntry.list_id)
        .where(
            ResultList.kind == ListKind.T34,
            ResultList.course_id == course.id,
            ResultList.state.in_(COUNTING_STATES),
            ListEntry.student_id.in_(student_ids),
            ListEntry.removed.is_(False),
            ListEntry.grade.is_not(None),
        )
    ).all()
    return {int(sid): int(listnr) for sid, listnr in rows}


def credits_complete(course: Course) -> bool:
    """Do the modules' credits sum to the course's (the registry may be incomplete)?"""
    return sum((Decimal(m.credits) for m in course.modules), Decimal(0)) == Decimal(course.credits)


def rule_for(raw_settings: dict[str, Any], course_code: str) -> dict[str, Any]:
    rules = raw_settings.get("final_grade", {})
    rule = rules.get(course_code) or rules.get("default") or {"rule": "weighted"}
    return dict(rule)


def suggest(
    course: Course,
    results: dict[str, ModuleResult],
    rule: dict[str, Any],
    workspace: Path | None = None,
) -> str | None:
    """The suggested final grade on the course scale, or None (no rule, or not computable)."""
    scale = get_scale(course.scale, workspace)
    kind = str(rule.get("rule", "weighted"))
    modules = {m.code: m for m in course.modules}
    if kind == "none" or not results:
        return None
    if kind == "module":
        named = results.get(str(rule.get("module", "")))
        if named is None:
            return None
        module_scale = get_scale(modules[named.code].scale, workspace)
        return _onto(scale, module_scale, named.grade)
    if kind != "weighted":
        return None
    total = Decimal(0)
    weight = Decimal(0)
    for result in results.values():
        module_scale = get_scale(modules[result.code].scale, workspace)
        level = module_scale.levels.get(result.grade)
        if level is None:
            continue
        total += Decimal(str(level)) * result.credits
        weight += result.credits
    if weight == 0:
        # Only pass/fail modules: a pass on the course scale's lowest passing level.
        return _lowest_pass(scale)
    return scale.nearest(float(total / weight)) or _lowest_pass(scale)


def _onto(scale: GradeScale, module_scale: GradeScale, grade: str) -> str | None:
    if grade in scale.passing:
        return grade
    level = module_scale.levels.get(grade)
    if level is not None and scale.levels:
        return scale.nearest(level)
    return _lowest_pass(scale) if module_scale.is_passing(grade) else None


def _lowest_pass(scale: GradeScale) -> str | None:
    passing = [g for g in scale.grades if g in scale.passing]
    if scale.levels:
        return min(passing, key=lambda g: scale.levels.get(g, 0))
    return passing[0] if passing else None


def students_of(session: Session, ids: list[int]) -> dict[int, Student]:
    if not ids:
        return {}
    return {s.id: s for s in session.execute(select(Student).where(Student.id.in_(ids))).scalars()}


def module_of(course: Course, code: str) -> Module | None:
    return next((m for m in course.modules if m.code == code), None)
