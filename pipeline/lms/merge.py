"""Merging one learning-platform export into one result list: a merged workbook and a result.

Owns the merge as a whole: which list a dropped export belongs to (its file name), which
column and thresholds to use (the caller's, else the list's options), comparing the
export's grades with the list's, and the merged workbook: the list's current workbook
issued afresh, with the export's grades written into the grade cells of matched students
who have none yet (and a grade date: the ladok3 row's, else the list's exam date). A grade
already in the list that differs is never overwritten; it is a :class:`Conflict`.

Nothing is applied to the database and nothing is submitted: the teacher checks the merged
workbook (``outbox/lists/<listnr>_lms.xlsx``) and drops it in the inbox like any other.
The receipt is in the teacher's language (:func:`teacher_language`).
Reading exports is :mod:`pipeline.lms.exports`'s; claiming files, recording them and writing the
receipt file are the caller's (the inbox or the CLI), with :func:`render_receipt` for the
text.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jinja2
from sqlalchemy import select

from pipeline import files, resources, texts
from pipeline.app import App
from pipeline.domain.scales import get_scale
from pipeline.errors import NotFound
from pipeline.intake.report import Problem
from pipeline.lists.query import ACCEPTS_RESULTS, get_list, get_staff
from pipeline.lms import exports as lms
from pipeline.lms.model import SkippedRow
from pipeline.models import ResultList, Staff
from pipeline.xlsx.contract import FIRST_ROW, layout
from pipeline.xlsx.safety import Limits, UnreadableFile
from pipeline.xlsx.workbook import build

log = logging.getLogger("resultat.merge")

#: File name of a merged workbook in ``outbox/lists/``.
MERGED_NAME: Final = "{listnr}_lms.xlsx"
#: A number standing on its own: not part of a course code (DV1599), a term (HT2026) or a time.
_DIGITS: Final = re.compile(r"(?<![^\W_])\d{3,9}(?![^\W_])")
_ISO_DATE_IN_NAME: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Conflict:
    """A student whose grade in the list differs from the export's; the list's is kept.

    ``row`` is the student's row in the merged workbook."""

    row: int
    student: str
    in_list: str
    in_export: str


@dataclass
class MergeResult:
    """What a merge did; ``ok`` is False when nothing could be merged at all."""

    listnr: int
    ok: bool
    platform: str | None = None
    column: str | None = None
    merged: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    workbook: Path | None = None
    #: Students whose grade in the export equals the one already in the list.
    unchanged: int = 0
    #: Matched students without a result in the export (blank, EX, "Rättning pågår" ...).
    without_result: int = 0
    #: Merged grades left without a grade date (the list has no exam date).
    undated: int = 0
    #: Rows of the export that are not students (Canvas's Points Possible, Manual Posting
    #: and Student View rows).
    skipped: list[SkippedRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``: problems as slug, position and parameters."""
        data = {
            k: v for k, v in self.__dict__.items() if k not in ("problems", "conflicts", "skipped")
        }
        data["workbook"] = str(self.workbook) if self.workbook else None
        data["conflicts"] = [c.__dict__.copy() for c in self.conflicts]
        data["skipped"] = [{"row": s.row, "reason": s.reason, "name": s.name} for s in self.skipped]
        data["problems"] = [
            {
                "slug": p.slug,
                "sheet": p.sheet,
                "row": p.row,
                "column": p.column,
                "params": p.params,
                "value": None if p.value is None else str(p.value),
            }
            for p in self.problems
        ]
        return data


def listnr_from_name(name: str, known: Callable[[int], bool]) -> int | None:
    """The list number in an export's file name (``1234_itslearning.xlsx``, ``Betyg 1234.csv``)
    when exactly one number in it is a known list; dates in the name are not list numbers."""
    stem = Path(name).name
    stem = _ISO_DATE_IN_NAME.sub(" ", stem)
    found = {int(m.group(0)) for m in _DIGITS.finditer(stem)}
    hits = [n for n in sorted(found) if known(n)]
    return hits[0] if len(hits) == 1 else None


def _limits(app: App) -> Limits:
    return Limits(
        max_file_bytes=app.settings.inbox_settings.max_file_bytes,
        max_rows=app.settings.inbox_settings.max_rows,
    )


def merge_file(
    app: App,
    listnr: int,
    path: Path,
    *,
    column: str | None = None,
    thresholds: list[tuple[str, float]] | None = None,
    original_name: str | None = None,
) -> MergeResult:
    """Merge the export at ``path`` into list ``listnr``; see the module docstring."""
    result = MergeResult(listnr=listnr, ok=False)
    name = original_name or path.name
    with app.db.session() as session:
        try:
            result_list = get_list(session, listnr)
        except NotFound:
            result.problems.append(Problem("list-not-found", {"listnr": listnr}))
            return result
        if result_list.state not in ACCEPTS_RESULTS:
            result.problems.append(
                Problem("list-wrong-state", {"listnr": listnr, "state": result_list.state.value})
            )
            return result
        try:
            table = lms.read_table(path, _limits(app))
        except UnreadableFile as exc:
            result.problems.append(Problem(exc.slug, exc.params))
            return result
        export = lms.parse_export(table, app.root)
        if export is None:
            result.problems.append(Problem("lms-unknown-platform", sheet=table.sheet))
            return result
        result.platform = export.platform
        result.skipped = list(export.skipped)

        options: dict[str, Any] = dict(result_list.options or {})
        wanted = column if column is not None else options.get("lms_column")
        choice = lms.choose_column(export, None if wanted is None else str(wanted))
        if choice.column is None:
            result.candidates = choice.candidates
            result.problems.append(
                Problem(
                    choice.slug or "lms-no-assessment-column",
                    {"column": wanted or "", "candidates": ", ".join(choice.candidates)},
                    sheet=export.sheet,
                    row=export.header_row,
                )
            )
            return result
        chosen = choice.column
        result.column = chosen.header

        module = result_list.module
        course = result_list.course
        scale = get_scale(module.scale if module else course.scale, app.root)
        raw_thresholds = thresholds if thresholds is not None else options.get("thresholds")
        limits: lms.Thresholds | None = None
        if raw_thresholds:
            try:
                limits = lms.parse_thresholds(raw_thresholds, scale)
            except lms.ThresholdError as exc:
                result.problems.append(Problem("lms-bad-thresholds", {"detail": exc.detail}))
                return result

        entries = [e for e in result_list.entries if not e.removed]
        roster = lms.Roster(
            lms.RosterStudent(
                pnr=e.student.pnr,
                name=f"{e.student.first_name} {e.student.last_name}",
                lms_username=e.student.lms_username,
                email=e.student.email,
            )
            for e in entries
        )
        reading = lms.read_grades(
            export,
            chosen,
            roster,
            scale,
            limits,
            course=course.code,
            component=module.code if module else course.code,
        )
        result.unknown = reading.unknown
        result.problems.extend(reading.problems)

        reporter = get_staff(session, result_list.reporter)
        language = reporter.language if reporter.language in ("sv", "en") else "sv"
        merged: dict[int, dict[str, Any]] = {}
        for offset, entry in enumerate(entries):
            row = FIRST_ROW + offset
            student = f"{entry.student.first_name} {entry.student.last_name}"
            found = reading.grades.get(entry.student.pnr)
            if found is None:
                result.missing.append(student)
                continue
            if found.grade is None:
                result.without_result += found.readable
                continue
            if entry.grade is not None:
                if entry.grade == found.grade:
                    result.unchanged += 1
                else:
                    result.conflicts.append(Conflict(row, student, entry.grade, found.grade))
                continue
            merged[entry.student_id] = {"grade": found.grade}
            date = entry.grade_date or found.date or result_list.exam_date
            if date is None:
                result.undated += 1
            else:
                merged[entry.student_id]["grade_date"] = date
            result.merged += 1
        wb = build(app, result_list, entries, language=language, overrides=merged)
    if result.undated:
        result.problems.append(Problem("lms-no-grade-date", {"count": result.undated}))
    target = app.settings.lists_dir / MERGED_NAME.format(listnr=listnr)
    files.save(wb, target)
    result.workbook = target
    result.ok = True
    log.info(
        "list %s: merged %d grades from a %s export (%s): %d conflicts, %d unknown, %d missing",
        listnr,
        result.merged,
        result.platform,
        Path(name).suffix.lstrip(".") or "file",
        len(result.conflicts),
        len(result.unknown),
        len(result.missing),
    )
    return result


def _relative(app: App, path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return str(path.relative_to(app.root))
    except ValueError:
        return str(path)


def render_receipt(
    app: App,
    result: MergeResult,
    *,
    file_name: str,
    received: str,
    kept_at: str,
    language: str,
) -> str:
    """The receipt text for a merge, from ``templates/merge.<lang>.txt``."""
    language = language if language in ("sv", "en") else "sv"
    source = resources.read_text("templates", f"merge.{language}.txt", app.root)
    template = jinja2.Environment(
        autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    ).from_string(source)
    problems = [
        {
            "position": p.position(language, app.root),
            "message": _in_language(p, language, app.root).message(language, app.root),
        }
        for p in sorted(result.problems, key=lambda p: (p.row or 0, p.column or "", p.slug))
    ]
    skipped = [
        texts.t(f"lms.skipped.{s.reason}", language, app.root, row=s.row, name=s.name)
        for s in result.skipped
    ]
    course = module = None
    with app.db.session() as session:
        try:
            result_list = get_list(session, result.listnr)
            course = result_list.course.code
            module = result_list.module.code if result_list.module else None
        except NotFound:
            pass
    actions = layout(app.root)["actions"]
    context: dict[str, Any] = {
        **result.__dict__,
        "problems": problems,
        "skipped": skipped,
        "workbook": _relative(app, result.workbook),
        "file_name": file_name,
        "received": received,
        "kept_at": kept_at,
        "course": course,
        "module": module,
        "platform_name": PLATFORM_NAMES.get(result.platform or "", result.platform),
        "submit_label": actions["submit"][language],
        "contacts": app.settings.contacts,
    }
    return template.render(**context)


def _in_language(problem: Problem, language: str, root: Path) -> Problem:
    """``problem`` with the catalogue keys among its parameters (a threshold error's reason)
    filled in as their text in ``language``."""
    if not any(isinstance(v, texts.Key) for v in problem.params.values()):
        return problem
    params = {
        k: texts.t(v, language, root, **v.params) if isinstance(v, texts.Key) else v
        for k, v in problem.params.items()
    }
    return dataclasses.replace(problem, params=params)


def teacher_language(app: App, listnr: int, username: str | None = None) -> str:
    """The language a merge answers in: ``username``'s (the teacher running it) in the
    staff directory, else the list's reporter's, else the workspace's default."""
    with app.db.session() as session:
        for person in (username, _reporter(session, listnr)):
            if not person:
                continue
            language = session.execute(
                select(Staff.language).where(Staff.username == person)
            ).scalar_one_or_none()
            if language in texts.LANGUAGES:
                return str(language)
    return app.settings.language


def _reporter(session: Any, listnr: int) -> str | None:
    reporter = session.execute(
        select(ResultList.reporter).where(ResultList.listnr == listnr)
    ).scalar_one_or_none()
    return None if reporter is None else str(reporter)


PLATFORM_NAMES: Final = {
    "canvas": "Canvas",
    "moodle": "Moodle",
    "itslearning": "ItsLearning",
    "ladok3": "ladok3",
}
