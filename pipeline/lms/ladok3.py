"""Rows in the layout ``ladok report`` of the ladok3 package reads from standard input:
``csv.reader(sys.stdin, delimiter=args.delimiter)`` over course code, component code,
student (personnummer or LADOK UID), grade, date and graders; tab by default, any one
character with ``-d`` (``-d,`` for commas). No header row.
"""

from __future__ import annotations

from typing import Any, Final

from pipeline.lms.identifiers import LADOK_UID, UID_LABEL
from pipeline.lms.model import (
    CODE,
    ISO_DATE,
    Column,
    Export,
    ExportRow,
    Identifier,
    cell_text,
)
from pipeline.lms.table import Table

#: The separators read as ladok3 rows: the default tab and ``-d,`` / ``-d;``.
LADOK3_DELIMITERS: Final = ("\t", ",", ";")


def parse_ladok3(table: Table, rows: list[tuple[int, list[Any]]]) -> Export | None:
    """ladok3 report rows: course, component, student, grade, date[, graders], no header."""
    if table.delimiter not in LADOK3_DELIMITERS:
        return None
    _, first = rows[0]
    fields = [cell_text(c) for c in first]
    if len(fields) < 4 or not (CODE.match(fields[0]) and CODE.match(fields[1])):
        return None
    if not any(ch.isdigit() for ch in fields[0]):
        return None
    if len(fields) > 4 and fields[4] and not ISO_DATE.match(fields[4]):
        return None
    column = Column(3, "grade", "grade", "grade")
    out = []
    for row, values in rows:
        texts = [cell_text(c) for c in values]
        texts += [""] * (5 - len(texts))
        out.append(
            ExportRow(
                row,
                values,
                [Identifier("any", texts[2], 2, _label(texts[2]))] if texts[2] else [],
                "",
                course=texts[0],
                component=texts[1],
                date=texts[4],
            )
        )
    return Export("ladok3", table.sheet, None, [column], out)


def _label(student: str) -> str:
    return UID_LABEL if LADOK_UID.match(student) else ""
