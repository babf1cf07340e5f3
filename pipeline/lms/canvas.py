"""Canvas's gradebook export as ``lib/gradebook_exporter.rb`` writes it.

Profile columns ``Student`` (or ``LastName``, ``FirstName``), ``ID``, ``SIS User ID``,
``SIS Login ID``, ``Integration ID``, ``Root Account``, ``Section``; custom columns; one
column per assignment ``Title (id)``; totals per assignment group and for the course
(``Current Score``, ``Final Grade`` ..., each with `` (Grading period)`` when one period
was exported). Rows that are not students are skipped wherever they stand: the "Points
Possible" row, a "Manual Posting" row (its student cells empty, the words in the
assignment columns), and the Student View test student (a login id that is an HMAC, as
Canvas gives the fake student). Separators, byte order mark and decimal commas are the
table reader's (``lib/csv_with_i18n.rb``).
"""

from __future__ import annotations

import re
from typing import Any, Final

from pipeline.lms.model import (
    Column,
    Export,
    ExportRow,
    SkippedRow,
    cell_at,
    cell_text,
    header_key,
    identifiers_at,
)
from pipeline.lms.table import Table

# Canvas writes its headers in English whatever the locale.
CANVAS_PROFILE: Final = frozenset(
    {
        "student",
        "lastname",
        "firstname",
        "id",
        "sis user id",
        "sis login id",
        "integration id",
        "section",
        "root account",
    }
)
CANVAS_IDENTIFIERS: Final = {"sis user id": "any", "sis login id": "any", "integration id": "any"}
CANVAS_SKIPPED_ROWS: Final = frozenset({"points possible", "manual posting"})
CANVAS_NO_RESULT: Final = frozenset({"ex", "n/a", "-"})
#: The total columns (BUFFER_COLUMN_DEFINITIONS) and what their values are.
CANVAS_TOTALS: Final = {
    "current points": "points",
    "final points": "points",
    "current score": "percentage",
    "unposted current score": "percentage",
    "final score": "percentage",
    "unposted final score": "percentage",
    "override score": "percentage",
    "current grade": "grade",
    "unposted current grade": "grade",
    "final grade": "grade",
    "unposted final grade": "grade",
    "override grade": "grade",
}
#: Names Canvas gives the Student View student when no login id says it.
CANVAS_TEST_STUDENT: Final = frozenset({"student, test", "test student"})
_CANVAS_ASSIGNMENT: Final = re.compile(r"^(?P<label>.+?)\s*\((?P<id>\d+)\)$")
_PERIOD: Final = re.compile(r"^(?P<name>.+?)\s*\((?P<period>[^()]+)\)$")
#: ``Canvas::Security.hmac_sha1("Test Student_<id>")``: the fake student's login id.
_HMAC_LOGIN: Final = re.compile(r"^[0-9a-f]{40}$")


def _total(title: str) -> tuple[str, str] | None:
    """(kind, label) of a total column, the label without its grading period."""
    period = _PERIOD.match(title)
    for text in (title, period.group("name") if period else None):
        if text is None:
            continue
        key = header_key(text)
        for name, kind in CANVAS_TOTALS.items():
            if key == name or key.endswith(" " + name):
                return kind, text.strip()
    return None


def _unwrap(text: str) -> str:
    """A name Canvas wrapped as ``="..."`` because it starts with ``=``."""
    if text.startswith('="') and text.endswith('"'):
        return text[2:-1]
    return text


def parse_canvas(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
) -> Export | None:
    present = set(headers)
    names_split = {"lastname", "firstname"} <= present
    if not ("student" in present or names_split) or not {"id", "section"} <= present:
        return None
    if not present & {"sis user id", "sis login id"}:
        return None
    columns: list[Column] = []
    ids: list[tuple[int, str, str]] = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if header in CANVAS_IDENTIFIERS:
            ids.append((index, CANVAS_IDENTIFIERS[header], cell_text(raw)))
            continue
        if header in CANVAS_PROFILE or not header:
            continue
        title = cell_text(raw)
        assignment = _CANVAS_ASSIGNMENT.match(title)
        total = _total(title)
        if assignment is not None and _total(assignment.group("label")) is None:
            columns.append(Column(index, title, assignment.group("label"), "auto"))
        elif total is not None:
            columns.append(Column(index, title, total[1], total[0], total=True))
    if names_split:
        name_at = [headers.index("lastname"), headers.index("firstname")]
    else:
        name_at = [headers.index("student")]
    user_id = headers.index("id")
    sis_user = headers.index("sis user id") if "sis user id" in present else None
    login = headers.index("sis login id") if "sis login id" in present else None
    rows: list[ExportRow] = []
    skipped: list[SkippedRow] = []
    for row, values in body:
        parts = [_unwrap(cell_at(values, i)) for i in name_at]
        name = ", ".join(p for p in parts if p)
        reason = _not_a_student(values, name, [user_id, *(i for i, _, _ in ids)])
        if reason is None and _is_test_student(values, name, login, sis_user, ids):
            reason = "test-student"
        if reason is not None:
            skipped.append(SkippedRow(row, reason, name if reason == "test-student" else ""))
            continue
        rows.append(ExportRow(row, values, identifiers_at(values, ids), name))
    return Export("canvas", table.sheet, number, columns, rows, CANVAS_NO_RESULT, skipped)


def _not_a_student(values: list[Any], name: str, id_columns: list[int]) -> str | None:
    """``points-possible`` or ``manual-posting`` for Canvas's marker rows, else None."""
    key = header_key(name)
    if key in CANVAS_SKIPPED_ROWS:
        return key.replace(" ", "-")
    if name or any(cell_at(values, i) for i in id_columns):
        return None
    words = [header_key(cell_text(v)) for v in values]
    if any("points possible" in w for w in words):
        return "points-possible"
    if any("manual posting" in w for w in words):
        return "manual-posting"
    return None


def _is_test_student(
    values: list[Any],
    name: str,
    login: int | None,
    sis_user: int | None,
    ids: list[tuple[int, str, str]],
) -> bool:
    """The Student View student: its login id is an HMAC; without one, its English name
    and no SIS id at all."""
    if login is not None and _HMAC_LOGIN.match(cell_at(values, login).lower()):
        return not (sis_user is not None and cell_at(values, sis_user))
    if header_key(name) not in CANVAS_TEST_STUDENT:
        return False
    return not any(cell_at(values, i) for i, _, _ in ids)
