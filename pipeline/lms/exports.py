"""Reading grade exports from learning platforms: Canvas, Moodle, ItsLearning and ladok3 rows.

Owns everything about an export file as such: reading it (CSV with ``,``, ``;`` or tab and
an optional byte order mark; xlsx and ods through python-calamine), recognising the platform
from its header rows, the assessment columns it offers, matching its rows to the students of
a list (personnummer, then LMS username / login id / sync key, then email; never by name),
and mapping its values onto a grading scale (case and whitespace tolerant, P↔G and F↔U,
points and percentages only through thresholds the teacher gives).

This module recognises the platform (:func:`parse_export`) and reads one export against
one list (:func:`read_grades`); the parts live beside it: :mod:`~pipeline.lms.table`
(file to rows), :mod:`~pipeline.lms.model` (what an export holds), one module per platform
(:mod:`~pipeline.lms.canvas`, :mod:`~pipeline.lms.moodle`, :mod:`~pipeline.lms.itslearning`,
:mod:`~pipeline.lms.ladok3`), :mod:`~pipeline.lms.matching` (rows to students) and
:mod:`~pipeline.lms.grades` (values to a scale). Their public names are re-exported here,
so callers keep ``from pipeline.lms import exports as lms``. Which list to merge into, the
merged workbook and the receipt are :mod:`pipeline.lms.merge`'s; this module neither writes
files nor touches the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.domain.scales import GradeScale
from pipeline.intake.report import Problem
from pipeline.lms.canvas import (
    CANVAS_IDENTIFIERS,
    CANVAS_NO_RESULT,
    CANVAS_PROFILE,
    CANVAS_SKIPPED_ROWS,
    parse_canvas,
)
from pipeline.lms.grades import (
    DISTINCTION_WORDS,
    FAIL_WORDS,
    PASS_WORDS,
    TWINS,
    GradeOutcome,
    ThresholdError,
    Thresholds,
    map_grade,
    parse_date,
    parse_thresholds,
    parse_thresholds_text,
)
from pipeline.lms.itslearning import load_itslearning, parse_itslearning
from pipeline.lms.ladok3 import parse_ladok3
from pipeline.lms.matching import Match, Roster, RosterStudent
from pipeline.lms.model import (
    KINDS,
    MATCHES,
    PLATFORMS,
    Column,
    ColumnChoice,
    Export,
    ExportRow,
    Identifier,
    choose_column,
    header_key,
    is_blank,
)
from pipeline.lms.moodle import (
    MOODLE_FEEDBACK,
    MOODLE_FIRST,
    MOODLE_IDENTIFIERS,
    MOODLE_LAST,
    MOODLE_NO_RESULT,
    MOODLE_TYPES,
    parse_moodle,
)
from pipeline.lms.table import HEADER_SEARCH, Table, decode, read_table

__all__ = [
    "CANVAS_IDENTIFIERS",
    "CANVAS_NO_RESULT",
    "CANVAS_PROFILE",
    "CANVAS_SKIPPED_ROWS",
    "DISTINCTION_WORDS",
    "FAIL_WORDS",
    "HEADER_SEARCH",
    "KINDS",
    "MATCHES",
    "MOODLE_FEEDBACK",
    "MOODLE_FIRST",
    "MOODLE_IDENTIFIERS",
    "MOODLE_LAST",
    "MOODLE_NO_RESULT",
    "MOODLE_TYPES",
    "PASS_WORDS",
    "PLATFORMS",
    "TWINS",
    "Column",
    "ColumnChoice",
    "Export",
    "ExportGrade",
    "ExportRow",
    "GradeOutcome",
    "Identifier",
    "Match",
    "Reading",
    "Roster",
    "RosterStudent",
    "Table",
    "ThresholdError",
    "Thresholds",
    "choose_column",
    "decode",
    "load_itslearning",
    "map_grade",
    "parse_date",
    "parse_export",
    "parse_thresholds",
    "parse_thresholds_text",
    "read_grades",
    "read_table",
]


def parse_export(table: Table, workspace: Path | None = None) -> Export | None:
    """The export in ``table``, or ``None`` when no platform's layout is recognised."""
    rows = [(n, cells) for n, cells in table.rows if not all(is_blank(c) for c in cells)]
    if not rows:
        return None
    ladok = parse_ladok3(table, rows)
    if ladok is not None:
        return ladok
    mapping = load_itslearning(workspace)
    search = max(HEADER_SEARCH, int(mapping.get("header_search", HEADER_SEARCH)))
    for position, (number, cells) in enumerate(rows[:search]):
        headers = [header_key(c) for c in cells]
        body = rows[position + 1 :]
        export = (
            parse_canvas(table, cells, headers, number, body)
            or parse_moodle(table, cells, headers, number, body)
            or parse_itslearning(table, cells, headers, number, body, mapping)
        )
        if export is not None:
            return export
    return None


# -- one export against one list -----------------------------------------------------------


@dataclass(frozen=True)
class ExportGrade:
    """A student's value in the chosen column: ``grade`` None is no result in the export, or
    (``readable`` False) a value that could not be mapped and is reported as a problem."""

    pnr: str
    row: int
    grade: str | None
    date: dt.date | None = None
    readable: bool = True


@dataclass
class Reading:
    grades: dict[str, ExportGrade] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_grades(
    export: Export,
    column: Column,
    roster: Roster,
    scale: GradeScale,
    thresholds: Thresholds | None,
    *,
    course: str,
    component: str,
) -> Reading:
    """Match every row of ``export`` to the roster and map its value in ``column``.

    ``course`` and ``component`` are what ladok3 rows must name (the list's course and
    module code, or the course code twice for a final grade)."""
    reading = Reading()
    sheet = export.sheet
    first_row: dict[str, int] = {}
    for row in export.rows:
        date: dt.date | None = None
        if export.platform == "ladok3":
            if (header_key(row.course), header_key(row.component)) != (
                header_key(course),
                header_key(component),
            ):
                reading.problems.append(
                    Problem(
                        "lms-other-component",
                        {
                            "course": row.course,
                            "component": row.component,
                            "expected": f"{course}/{component}",
                        },
                        column="A",
                        sheet=sheet,
                        row=row.row,
                    )
                )
                continue
            try:
                date = parse_date(row.date)
            except ValueError:
                reading.problems.append(
                    Problem("lms-bad-date", column="E", value=row.date, sheet=sheet, row=row.row)
                )
                continue
        match = roster.match(row, sheet)
        reading.problems.extend(match.problems)
        if match.pnr is None:
            reading.unknown.append(match.shown)
            continue
        if match.pnr in first_row:
            reading.problems.append(
                Problem(
                    "lms-duplicate-student",
                    {"other": first_row[match.pnr]},
                    value=roster.students[match.pnr].name,
                    sheet=sheet,
                    row=row.row,
                )
            )
            continue
        first_row[match.pnr] = row.row
        raw = row.value(column)
        outcome = map_grade(
            raw,
            scale=scale,
            kind=column.kind,
            thresholds=thresholds,
            no_result=export.no_result,
        )
        if outcome.slug is not None:
            reading.problems.append(
                Problem(
                    outcome.slug,
                    outcome.params,
                    column=column.letter,
                    value=raw,
                    sheet=sheet,
                    row=row.row,
                )
            )
            reading.grades[match.pnr] = ExportGrade(match.pnr, row.row, None, readable=False)
            continue
        reading.grades[match.pnr] = ExportGrade(match.pnr, row.row, outcome.grade, date)
    return reading
