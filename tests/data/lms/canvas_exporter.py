"""Canvas's gradebook CSV, written the way canvas-lms writes it.

Follows ``GradebookExporter#csv_data`` (instructure/canvas-lms ``lib/gradebook_exporter.rb``)
and ``CSVWithI18n`` (``lib/csv_with_i18n.rb``): the header row (``Student`` or
``LastName``, ``FirstName``; ``ID``; ``SIS User ID`` with include_sis_id; ``SIS Login ID``;
``Integration ID`` with the account setting; ``Root Account`` with a trust; ``Section``;
custom columns; assignments ``title_with_id``; per assignment group the points and the four
scores; the course's points, scores, grades and overrides, every total suffixed with
`` (<grading period>)`` when one period is exported), then the "Manual Posting" row (only
when an assignment posts manually; its first cells nil), the ``    Points Possible`` row and
the students sorted by sortable name with the Student View student last. Numbers through
``I18n.n(n, precision: 2)`` (a decimal comma in Swedish), ``EX`` for excused, ``N/A`` for an
assignment the student cannot see, ``col_sep`` ``;`` and a byte order mark as the user's
feature flags say.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOM = "\ufeff"
POINTS: tuple[str, ...] = ("Current Points", "Final Points")
TOTAL_SCORES = ("Current Score", "Unposted Current Score", "Final Score", "Unposted Final Score")
GRADING_STANDARD = (
    "Current Grade",
    "Unposted Current Grade",
    "Final Grade",
    "Unposted Final Grade",
)


@dataclass
class Assignment:
    title: str
    id: int
    points_possible: float
    group: str
    post_manually: bool = False


@dataclass
class CanvasStudent:
    sortable_name: str  # "Last, First"
    user_id: int
    sis_user_id: str | None
    login: str | None
    section: str = "DV1599 HT2026"
    integration_id: str | None = None
    #: assignment id -> score (float), "EX" (excused), None (ungraded) or missing (N/A)
    scores: dict[int, Any] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    test_student: bool = False

    @property
    def last(self) -> str:
        return self.sortable_name.split(", ")[0]

    @property
    def first(self) -> str:
        return self.sortable_name.split(", ")[-1]


@dataclass
class CanvasOptions:
    show_student_first_last_name: bool = False
    include_sis_id: bool = True
    show_integration_id: bool = False
    include_root_account: bool = False
    custom_columns: tuple[tuple[str, bool], ...] = ()  # (title, read_only)
    apply_group_weights: bool = False  # False: include_points?
    grading_standard: dict[float, str] | None = None  # minimum percentage -> grade
    grading_period: str | None = None
    col_sep: str = ","
    include_bom: bool = False
    decimal: str = "."
    read_only: str = "(read only)"


def test_student(user_id: int) -> CanvasStudent:
    """The Student View student: "Test Student", login the HMAC Canvas gives it."""
    login = hmac.new(b"fixture", f"Test Student_{user_id}".encode(), hashlib.sha1).hexdigest()
    return CanvasStudent("Student, Test", user_id, None, login, test_student=True)


def _n(value: float | None, opts: CanvasOptions) -> str:
    if value is None:
        return ""
    return f"{value:.2f}".replace(".", opts.decimal)


def _headers(column: str, group: str | None, opts: CanvasOptions) -> str:
    tokens = [column]
    if group:
        tokens.insert(0, group)
    if opts.grading_period:
        tokens.append(f"({opts.grading_period})")
    return " ".join(tokens)


def _grade(percent: float | None, opts: CanvasOptions) -> str:
    if percent is None or opts.grading_standard is None:
        return ""
    found = ""
    for minimum, grade in sorted(opts.grading_standard.items()):
        if percent >= minimum:
            found = grade
    return found


def _totals(
    student: CanvasStudent, assignments: list[Assignment], opts: CanvasOptions
) -> tuple[list[str], list[str]]:
    """(group totals, course totals) as show_group_totals and show_overall_totals write them."""
    groups = list(dict.fromkeys(a.group for a in assignments))

    def score(of: list[Assignment]) -> tuple[float, float, float | None, float]:
        graded = [(a, student.scores.get(a.id)) for a in of]
        counted = [(a, s) for a, s in graded if isinstance(s, int | float)]
        points = sum(float(s) for _, s in counted)
        current_possible = sum(a.points_possible for a, _ in counted)
        final_possible = sum(a.points_possible for a, s in graded if s != "EX")
        current = 100 * points / current_possible if current_possible else None
        final = 100 * points / final_possible if final_possible else 0.0
        return points, points, current, final

    group_cells: list[str] = []
    for group in groups:
        cp, fp, cs, fs = score([a for a in assignments if a.group == group])
        if not opts.apply_group_weights:
            group_cells += [_n(cp, opts), _n(fp, opts)]
        group_cells += [_n(cs, opts), _n(cs, opts), _n(fs, opts), _n(fs, opts)]
    cp, fp, cs, fs = score(assignments)
    course: list[str] = []
    if not opts.apply_group_weights:
        course += [_n(cp, opts), _n(fp, opts)]
    course += [_n(cs, opts), _n(cs, opts), _n(fs, opts), _n(fs, opts)]
    if opts.grading_standard is not None:
        course += [_grade(cs, opts), _grade(cs, opts), _grade(fs, opts), _grade(fs, opts)]
    return group_cells, course


def write_canvas(
    path: Path,
    assignments: list[Assignment],
    students: list[CanvasStudent],
    opts: CanvasOptions,
) -> None:
    """Write the gradebook export of ``students`` to ``path`` (bytes as Canvas sends them)."""
    groups = list(dict.fromkeys(a.group for a in assignments))
    per_group = 4 if opts.apply_group_weights else 6
    include_points = not opts.apply_group_weights

    header = ["LastName", "FirstName"] if opts.show_student_first_last_name else ["Student"]
    header.append("ID")
    if opts.include_sis_id:
        header.append("SIS User ID")
    header.append("SIS Login ID")
    if opts.include_sis_id and opts.show_integration_id:
        header.append("Integration ID")
    if opts.include_sis_id and opts.include_root_account:
        header.append("Root Account")
    header.append("Section")
    header += [title for title, _ in opts.custom_columns]
    header += [f"{a.title} ({a.id})" for a in assignments]
    for group in groups:
        if include_points:
            header += [_headers(c, group, opts) for c in POINTS]
        header += [_headers(c, group, opts) for c in TOTAL_SCORES]
    if include_points:
        header += [_headers(c, None, opts) for c in POINTS]
    header += [_headers(c, None, opts) for c in TOTAL_SCORES]
    if opts.grading_standard is not None:
        header += [_headers(c, None, opts) for c in GRADING_STANDARD]

    def leading() -> list[Any]:
        row: list[Any] = [None, None, None, None]
        if opts.show_student_first_last_name:
            row.append(None)
        if opts.include_sis_id:
            row.append(None)
            if opts.show_integration_id:
                row.append(None)
            if opts.include_root_account:
                row.append(None)
        return row

    rows: list[list[Any]] = [header]
    if any(a.post_manually for a in assignments):
        row = leading() + [None] * len(opts.custom_columns)
        row += ["Manual Posting" if a.post_manually else None for a in assignments]
        row += [None] * (len(groups) * per_group + (2 if include_points else 0) + 4)
        if opts.grading_standard is not None:
            row += [None] * 4
        assert len(row) == len(header), "column lengths don't match"
        rows.append(row)
    row = leading()
    row[0] = "    Points Possible"
    row += [opts.read_only if read_only else None for _, read_only in opts.custom_columns]
    row += [_n(a.points_possible, opts) for a in assignments]
    row += [opts.read_only] * (len(groups) * per_group + (2 if include_points else 0) + 4)
    if opts.grading_standard is not None:
        row += [opts.read_only] * 4
    assert len(row) == len(header), "column lengths don't match"
    rows.append(row)

    ordered = sorted((s for s in students if not s.test_student), key=lambda s: s.sortable_name)
    ordered += [s for s in students if s.test_student]
    for student in ordered:
        row = (
            [student.last, student.first]
            if opts.show_student_first_last_name
            else [_name(student.sortable_name)]
        )
        row.append(student.user_id)
        if opts.include_sis_id:
            row.append(student.sis_user_id)
        row.append(student.login)
        if opts.include_sis_id and opts.show_integration_id:
            row.append(student.integration_id)
        if opts.include_sis_id and opts.include_root_account:
            row.append("canvas.example.se")
        row.append(student.section)
        row += [student.custom.get(title) for title, _ in opts.custom_columns]
        for a in assignments:
            if a.id not in student.scores:
                row.append("N/A")
            elif student.scores[a.id] == "EX":
                row.append("EX")
            else:
                row.append(_n(student.scores[a.id], opts))
        group_cells, course = _totals(student, assignments, opts)
        row += group_cells + course
        assert len(row) == len(header), "column lengths don't match"
        rows.append(row)

    out = io.StringIO()
    writer = csv.writer(out, delimiter=opts.col_sep, lineterminator="\n")
    for record in rows:
        writer.writerow(["" if v is None else v for v in record])
    text = (BOM if opts.include_bom else "") + out.getvalue()
    path.write_bytes(text.encode("utf-8"))


def _name(name: str) -> str:
    """student_name: a name starting with ``=`` is quoted so no formula runs."""
    return f'="{name}"' if name.lstrip().startswith("=") else name
