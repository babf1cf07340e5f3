"""Rows in the ladok3 result-export layout as a platform export."""

from __future__ import annotations

from typing import Any

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


def parse_ladok3(table: Table, rows: list[tuple[int, list[Any]]]) -> Export | None:
    """ladok3 report rows: course, component, student, grade, date[, graders], no header."""
    if table.delimiter != "\t":
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
                [Identifier("any", texts[2], 2)] if texts[2] else [],
                "",
                course=texts[0],
                component=texts[1],
                date=texts[4],
            )
        )
    return Export("ladok3", table.sheet, None, [column], out)
