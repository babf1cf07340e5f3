"""Cross-checks of registry rows against the database, one function per kind: references
resolved to ids (courses, modules, staff, students), module credits against the course.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.domain import scales, terms
from pipeline.intake.report import Problem
from pipeline.models import (
    Course,
    Module,
    Staff,
    Student,
)
from pipeline.registry.rows import Record, Rows

# ---------------------------------------------------------------------------------------------
# Cross-checks and records, one function per kind


@dataclass
class Context:
    session: Session
    workspace: Path
    today: dt.date

    def course_ids(self) -> dict[str, int]:
        return {code: id_ for id_, code in self.session.execute(select(Course.id, Course.code))}

    def module_ids(self) -> dict[tuple[str, str], tuple[int, str]]:
        query = select(Module.id, Course.code, Module.code, Module.scale).join(Module.course)
        return {
            (course, module): (id_, scale)
            for id_, course, module, scale in self.session.execute(query)
        }

    def staff_ids(self) -> dict[str, int]:
        return {name: id_ for id_, name in self.session.execute(select(Staff.id, Staff.username))}

    def student_ids(self) -> dict[str, int]:
        return {pnr: id_ for id_, pnr in self.session.execute(select(Student.id, Student.pnr))}


Extras = dict[int, dict[str, Any]]


def _resolve(
    rows: Rows, row: int, value: Any, column: str, table: dict[Any, Any], slug: str, **params: Any
) -> Any:
    """Look a referenced thing up; flag the cell when it is not there."""
    if not rows.ok(row, column):
        return None
    found = table.get(value)
    if found is None:
        rows.flag(row, column, slug, value=value if column != "module_code" else value[1], **params)
    return found


def no_references(rows: Rows, ctx: Context) -> Extras:
    return {}


def check_modules(rows: Rows, ctx: Context) -> Extras:
    courses = ctx.course_ids()
    extras: Extras = {}
    for row, v in rows.typed:
        course_id = _resolve(rows, row, v["course_code"], "course_code", courses, "unknown-course")
        if course_id is not None:
            extras[row] = {"course_id": course_id}
    return extras


def check_examiners(rows: Rows, ctx: Context, *, person: str = "username") -> Extras:
    """Examiners (and teachers, whose person is in the ``teacher`` column): the course and the
    staff member must exist, the terms be in order."""
    courses, staff = ctx.course_ids(), ctx.staff_ids()
    extras: Extras = {}
    for row, v in rows.typed:
        course_id = _resolve(rows, row, v["course_code"], "course_code", courses, "unknown-course")
        staff_id = _resolve(rows, row, v[person], person, staff, "unknown-staff")
        first, last = v["from_term"], v["to_term"]
        checkable = first and last and rows.ok(row, "from_term", "to_term")
        if checkable and terms.term_key(last) < terms.term_key(first):
            rows.flag(row, "to_term", "term-order", value=last, from_term=first)
        if course_id is not None and staff_id is not None:
            extras[row] = {"course_id": course_id, "staff_id": staff_id}
    return extras


def check_registrations(rows: Rows, ctx: Context) -> Extras:
    students, courses = ctx.student_ids(), ctx.course_ids()
    extras: Extras = {}
    for row, v in rows.typed:
        pnr = v["personnummer"]
        student_id = _resolve(rows, row, pnr, "personnummer", students, "unknown-student")
        course_id = _resolve(rows, row, v["course_code"], "course_code", courses, "unknown-course")
        if student_id is not None and course_id is not None:
            extras[row] = {"student_id": student_id, "course_id": course_id}
    return extras


def check_module_results(rows: Rows, ctx: Context) -> Extras:
    """Sign-ups and prior results: the student and the course's module must exist; a prior
    result's grade must be on the module's scale and its date not in the future."""
    students, courses, modules = ctx.student_ids(), ctx.course_ids(), ctx.module_ids()
    all_scales = scales.load_scales(ctx.workspace)
    with_grade = "grade" in rows.spec.columns
    extras: Extras = {}
    for row, v in rows.typed:
        pnr = v["personnummer"]
        student_id = _resolve(rows, row, pnr, "personnummer", students, "unknown-student")
        code = v["course_code"]
        module = None
        if _resolve(rows, row, code, "course_code", courses, "unknown-course") is not None:
            key = (code, v["module_code"])
            module = _resolve(rows, row, key, "module_code", modules, "unknown-module", course=code)
        if student_id is None or module is None:
            continue
        extras[row] = {"student_id": student_id, "module_id": module[0]}
        if with_grade and rows.ok(row, "grade"):
            scale = all_scales[module[1]]
            grade = scale.normalize(v["grade"])
            if grade is None:
                allowed = ", ".join(scale.grades)
                rows.flag(
                    row,
                    "grade",
                    "grade-not-in-scale",
                    v["grade"],
                    scale=scale.code,
                    allowed=allowed,
                )
            extras[row]["grade"] = grade
    if with_grade:
        for row, v in rows.typed:
            day = v["grade_date"]
            if day is not None and day > ctx.today:
                rows.flag(row, "grade_date", "date-in-future", value=day.isoformat())
    return extras


def check_module_credits(rows: Rows, ctx: Context, records: list[Record]) -> list[Record]:
    """A course's modules may not add up to more credits than the course (warn when fewer)."""
    query = select(Course.id, Course.code, Course.credits)
    courses = {id_: (code, credits) for id_, code, credits in ctx.session.execute(query)}
    in_file = {(r.values["course_id"], r.values["code"]) for r in records}
    totals: dict[int, Decimal] = {r.values["course_id"]: Decimal(0) for r in records}
    stored = select(Module.course_id, Module.code, Module.credits).where(
        Module.course_id.in_(list(totals))
    )
    for course_id, code, credits in ctx.session.execute(stored):
        if (course_id, code) not in in_file:
            totals[course_id] += credits
    kept: list[Record] = []
    for record in records:
        course_id = record.values["course_id"]
        code, course_credits = courses[course_id]
        total = totals[course_id] + record.values["credits"]
        if total > course_credits:
            rows.flag(
                record.row,
                "credits",
                "module-credits-exceed",
                value=str(record.values["credits"]),
                course=code,
                total=str(total),
                course_credits=str(course_credits),
            )
            continue
        totals[course_id] = total
        kept.append(record)
    for course_id, total in totals.items():
        code, course_credits = courses[course_id]
        if total < course_credits:
            params = {"course": code, "total": str(total), "course_credits": str(course_credits)}
            rows.warnings.append(Problem(slug="module-credits-short", params=params))
    return kept


def check_teachers(rows: Rows, ctx: Context) -> Extras:
    return check_examiners(rows, ctx, person="teacher")
