"""Canvas's gradebook export: profile columns, then one column per assignment
``Name (id)``; the "Points Possible" and "Manual Posting" rows are not students.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pipeline.lms.model import (
    Column,
    Export,
    ExportRow,
    cell_at,
    cell_text,
    header_key,
    identifiers_at,
)
from pipeline.lms.table import Table

# Canvas: the gradebook export ("Export Entire Gradebook"), always English headers.
CANVAS_PROFILE: Final = frozenset(
    {"student", "id", "sis user id", "sis login id", "integration id", "section", "root account"}
)
CANVAS_IDENTIFIERS: Final = {"sis user id": "any", "sis login id": "any", "integration id": "any"}
CANVAS_SKIPPED_ROWS: Final = frozenset({"points possible", "manual posting"})
CANVAS_NO_RESULT: Final = frozenset({"ex", "n/a", "-"})
_CANVAS_ASSIGNMENT: Final = re.compile(r"^(?P<label>.+?)\s*\((?P<id>\d+)\)$")


def parse_canvas(
    table: Table,
    cells: list[Any],
    headers: list[str],
    number: int,
    body: list[tuple[int, list[Any]]],
) -> Export | None:
    present = set(headers)
    if not {"student", "id", "section"} <= present or not present & {"sis user id", "sis login id"}:
        return None
    columns: list[Column] = []
    ids: list[tuple[int, str]] = []
    for index, (raw, header) in enumerate(zip(cells, headers, strict=False)):
        if header in CANVAS_IDENTIFIERS:
            ids.append((index, CANVAS_IDENTIFIERS[header]))
            continue
        if header in CANVAS_PROFILE or not header:
            continue
        title = cell_text(raw)
        assignment = _CANVAS_ASSIGNMENT.match(title)
        if assignment is not None:
            columns.append(Column(index, title, assignment.group("label"), "auto"))
        elif header.endswith("grade"):
            columns.append(Column(index, title, title, "grade", total=True))
        elif header.endswith("score"):
            columns.append(Column(index, title, title, "percentage", total=True))
        elif header.endswith("points"):
            columns.append(Column(index, title, title, "points", total=True))
    student = headers.index("student")
    rows = []
    for row, values in body:
        if header_key(values[0] if values else "") in CANVAS_SKIPPED_ROWS:
            continue
        rows.append(ExportRow(row, values, identifiers_at(values, ids), cell_at(values, student)))
    return Export("canvas", table.sheet, number, columns, rows, CANVAS_NO_RESULT)
