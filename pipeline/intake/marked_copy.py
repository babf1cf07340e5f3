"""The marked copy of a refused result or review workbook: the list's own workbook, issued
again from our template, holding what the teacher entered, each bad cell red and commented.

Owns building it whatever format was dropped (issue 18, item 4): the list's workbook as
:func:`pipeline.xlsx.workbook.build` writes it (identity, hidden signed metadata sheet,
protection, dropdowns, formatting), with the teacher's values of the input columns and input
cells put in (as values: a formula of theirs never reaches it, issue 16 item 7), and each
located problem moved to the row of the student it is about. So the copy, fixed and saved
again in Excel or LibreOffice (xlsx or ods), is accepted like the workbook it replaces.
Deciding the problems is the checks'; the receipt is :mod:`pipeline.intake.workbook_receipt`'s.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill
from openpyxl.utils import column_index_from_string
from sqlalchemy.orm import Session

from pipeline import files
from pipeline.app import App
from pipeline.domain import personnummer
from pipeline.intake.report import Problem
from pipeline.intake.roster_binding import NAME_CHANGED, PNR_MOVED
from pipeline.lists.query import EntryRow, load_entries
from pipeline.models import ResultList
from pipeline.texts import LANGUAGES
from pipeline.xlsx import contract, workbook
from pipeline.xlsx.cells import escape_cell
from pipeline.xlsx.reader import ResultWorkbook

#: Comments this system adds (a second problem on a cell is added to the first one's text).
AUTHOR = "resultat"


def marked_copy(
    app: App,
    session: Session,
    wb: ResultWorkbook,
    result_list: ResultList | None,
    problems: list[Problem],
    target: Path,
    *,
    language: str,
) -> Path | None:
    """Write the marked copy of ``wb`` to ``target``; ``None`` when there is nothing to mark
    or the dropped workbook is not the list's current one (then a fresh workbook or the
    receipt alone says what to do)."""
    located = [p for p in problems if p.row is not None and p.column]
    if not located or result_list is None or wb.listnr != result_list.listnr:
        return None
    if wb.version != result_list.version:
        return None
    if not contract.verify(app.settings.hmac_key(), wb.meta, wb.roster):
        return None
    review = wb.purpose == "review"
    entries = load_entries(session, result_list.id, active=True)
    first_row = contract.FIRST_ROW
    placed = _placement(wb, entries, located, first_row)
    overrides: dict[int, dict[str, Any]] = {}
    if not review:
        fields = [f for f in contract.INPUT_FIELDS if f in wb.frame.columns]
        for row, position in placed.items():
            values = wb.frame.loc[row]
            overrides[entries[position].student_id] = {f: _value(values[f]) for f in fields}
    sheet_language = wb.meta.get("language")
    doc = workbook.build(
        app,
        result_list,
        entries,
        language=sheet_language if sheet_language in LANGUAGES else language,
        review_hash=wb.meta.get("content_hash") if review else None,
        overrides=overrides,
    )
    buffer = io.BytesIO()
    doc.save(buffer)
    book = load_workbook(io.BytesIO(buffer.getvalue()))
    ws = book.worksheets[0]
    for key, value in wb.cells.items():
        ref = wb.meta.get(key, "")
        if value is not None and ref:
            ws[ref] = escape_cell(_value(value))
    fill = PatternFill("solid", fgColor=contract.layout(app.root)["style"]["error_fill"])
    for problem in located:
        at = _row_of(problem, wb, entries, placed, first_row)
        if at is None:
            continue
        assert problem.column is not None
        cell = ws.cell(row=at, column=column_index_from_string(problem.column))
        cell.fill = fill
        text = problem.message(language, app.root)
        if cell.comment is not None and cell.comment.author == AUTHOR:
            text = cell.comment.text + "\n" + text
        cell.comment = Comment(text, AUTHOR, width=300, height=120)
    files.save(book, target)
    return target


def _value(value: Any) -> Any:
    """A value as read (never a formula: the parser gives saved values); ``NaN`` as blank."""
    if isinstance(value, float) and value != value:
        return None
    return value


def _placement(
    wb: ResultWorkbook, entries: list[EntryRow], located: list[Problem], first_row: int
) -> dict[int, int]:
    """Which entry (by position) each of the teacher's rows goes to: the student its
    personnummer names, or, for a row whose personnummer was changed (or names a student not
    on the list), the row it stands on. A student's values come from their first row."""
    position_of = {e.student.pnr: i for i, e in enumerate(entries)}
    moved = {p.row for p in located if p.slug in (PNR_MOVED, NAME_CHANGED)}
    numbers = personnummer.normalize_many(wb.frame["pnr"].tolist()) if "pnr" in wb.frame else []
    placed: dict[int, int] = {}
    taken: set[int] = set()
    for index, digits in zip(wb.frame.index.tolist(), numbers, strict=False):
        row = int(index)
        position = position_of.get(digits) if digits is not None else None
        if position is None or row in moved:
            position = row - first_row
            if not 0 <= position < len(entries):
                continue
        if position in taken:
            continue
        taken.add(position)
        placed[row] = position
    return placed


def _row_of(
    problem: Problem,
    wb: ResultWorkbook,
    entries: list[EntryRow],
    placed: dict[int, int],
    first_row: int,
) -> int | None:
    """The row of the marked copy a problem of the teacher's row goes to."""
    assert problem.row is not None
    if problem.row < first_row:
        return problem.row
    if problem.row in placed:
        return first_row + placed[problem.row]
    # A second row of the same student (a duplicate): marked on that student's row.
    digits = personnummer.normalize_many([problem.value])[0] if problem.field == "pnr" else None
    for position, entry in enumerate(entries):
        if digits is not None and entry.student.pnr == digits:
            return first_row + position
    return None
