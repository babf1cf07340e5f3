"""Reading a result workbook this system issued, as dropped.

Owns the workbook's metadata sheet, its signed roster and its input rows as a
``pandas.DataFrame`` indexed by spreadsheet row number. The bytes pass
:mod:`pipeline.xlsx.safety` first and are parsed in the parser's own process
(:mod:`pipeline.xlsx.parser`). What the rows mean is :mod:`pipeline.intake.handlers`'s
business.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from openpyxl.utils import column_index_from_string

from pipeline.xlsx.cells import unescape_cell
from pipeline.xlsx.contract import FORMAT
from pipeline.xlsx.formulas import formula_cells
from pipeline.xlsx.parser import MAX_COLUMNS, Book, SheetCells, open_book, sheet_rows
from pipeline.xlsx.safety import Limits, UnreadableFile, check_file

__all__ = [
    "META_SHEET",
    "Limits",  # from pipeline.xlsx.safety, where the inbox still imports it from here
    "ResultWorkbook",
    "UnreadableFile",  # likewise
    "blank_to_none",
    "cell_value",
    "cells_to_frame",
    "is_date_like",
    "read_meta",
    "read_result_workbook",
    "rows_to_frame",
]

META_SHEET: Final = "_resultat"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def blank_to_none(value: Any) -> Any:
    """Blank text is no value; text we escaped when writing (``'=…``) reads back as it was."""
    if isinstance(value, str):
        if not value.strip():
            return None
        return unescape_cell(value)
    return value


@dataclass
class ResultWorkbook:
    """A result workbook as dropped: identity, signed roster, and the input rows."""

    path: Path
    file_format: str
    meta: dict[str, str]
    roster: list[str]
    sheet: str
    letters: dict[str, str]
    frame: pd.DataFrame
    identity_listnr: Any
    action: Any
    #: The input sheet's cells (by columns as the parser's process sent them).
    sheet_cells: SheetCells = field(repr=False, default_factory=lambda: SheetCells(0, []))
    #: Values of the other signed cells named in the metadata (``code_cell``, ``reason_cell``).
    cells: dict[str, Any] = field(default_factory=dict)
    #: Cells of the input sheet that held a formula (``{"H16": "=…"}``): only their saved
    #: values are in the rows (issue 16, item 7).
    formulas: dict[str, str] = field(default_factory=dict)

    @cached_property
    def sheet_rows(self) -> list[list[Any]]:
        """The input sheet's cells as rows from A1 (made when first asked for)."""
        return self.sheet_cells.rows()

    @property
    def purpose(self) -> str:
        return self.meta.get("purpose") or "results"

    @property
    def listnr(self) -> int | None:
        try:
            return int(self.meta.get("listnr", ""))
        except ValueError:
            return None

    @property
    def version(self) -> int | None:
        try:
            return int(self.meta.get("version", ""))
        except ValueError:
            return None


def read_meta(book: Book, limits: Limits) -> tuple[dict[str, str], list[str]] | None:
    """The metadata sheet as key/value pairs plus the roster, or None when there is none."""
    if META_SHEET not in book.sheet_names:
        return None
    meta: dict[str, str] = {}
    roster: list[str] = []
    rows = sheet_rows(book, META_SHEET, limits)
    for number, row in enumerate(rows):
        key = _text(row[0]) if row else ""
        if key == "roster":
            # The signed roster from here on, numbers separated by white space (one a row in
            # workbooks issued before they were written a hundred to a cell).
            values = (r[1] if len(r) > 1 else "" for r in rows[number + 1 :])
            roster = " ".join(map(_text, values)).split()
            break
        if key:
            meta[key] = _text(row[1]) if len(row) > 1 else ""
    if meta.get("format") != FORMAT:
        return None
    return meta, roster


def read_result_workbook(path: Path, limits: Limits) -> ResultWorkbook | None:
    """Read a workbook issued by this system; ``None`` when it is some other spreadsheet.

    Whatever is wrong with the bytes, the only exception is :class:`UnreadableFile`: a damaged
    zip or an altered layout sheet gets a receipt, never a crash."""
    try:
        return _read_result_workbook(path, limits)
    except UnreadableFile:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # int(), json and the frame raise many kinds on damaged input
        raise UnreadableFile("workbook-damaged") from exc


def _read_result_workbook(path: Path, limits: Limits) -> ResultWorkbook | None:
    checked = check_file(path, limits)
    file_format, data = checked.kind, checked.data
    if file_format not in ("xlsx", "ods"):
        return None
    # An issued workbook has its input sheet and the metadata sheet: one trip for both, by
    # columns (the cheaper form for the daemon to take in).
    book = open_book(data, limits=limits, prefetch=[META_SHEET], whole_up_to=2, columnar=True)
    found = read_meta(book, limits)
    if found is None:
        return None
    meta, roster = found
    key = "columns"
    try:
        letters: dict[str, str] = json.loads(meta[key])
        key = "sheet"
        sheet = meta[key]
        key = "first_row"
        first_row = int(meta[key])
        key = "action_cell"
        action_cell = meta[key]
    except (KeyError, ValueError) as exc:  # a key missing, or its value not what it must be
        raise UnreadableFile("metadata-incomplete", key=key) from exc
    if sheet not in book.sheet_names:
        raise UnreadableFile("metadata-sheet-missing", sheet=sheet)
    cells = book.sheet(sheet, limits.max_rows)
    frame = cells_to_frame(cells, letters, first_row, limits)
    return ResultWorkbook(
        path=path,
        file_format=file_format,
        meta=meta,
        roster=roster,
        sheet=sheet,
        letters=letters,
        frame=frame,
        identity_listnr=_cell_value(cells, "B4"),
        action=_cell_value(cells, action_cell),
        sheet_cells=cells,
        cells={
            key: _cell_value(cells, ref)
            for key, ref in meta.items()
            if key.endswith("_cell") and _is_ref(ref)
        },
        formulas=formula_cells(data, file_format, sheet, checked.formula_parts),
    )


def _is_ref(ref: str) -> bool:
    letters = ref.rstrip("0123456789")
    return bool(letters) and letters.isalpha() and ref[len(letters) :].isdigit()


def _split(ref: str) -> tuple[int, int]:
    letters = "".join(ch for ch in ref if ch.isalpha())
    row = int("".join(ch for ch in ref if ch.isdigit())) - 1
    return row, column_index_from_string(letters) - 1


def cell_value(rows: list[list[Any]], ref: str) -> Any:
    row, col = _split(ref)
    if row < len(rows) and col < len(rows[row]):
        return blank_to_none(rows[row][col])
    return None


def _cell_value(cells: SheetCells, ref: str) -> Any:
    """:func:`cell_value` of the sheet's cells, by columns."""
    row, col = _split(ref)
    if row < 0:  # as a negative index into the rows
        row += cells.height
    return blank_to_none(cells.cell(row, col)) if row < cells.height else None


def rows_to_frame(
    rows: list[list[Any]], letters: dict[str, str], first_row: int, limits: Limits
) -> pd.DataFrame:
    """Input rows as an object-typed frame; index = spreadsheet row number; blank rows dropped."""
    body = rows[first_row - 1 :]
    widths = set(map(len, body))
    if len(widths) > 1:
        body = [list(r) + [None] * (MAX_COLUMNS - len(r)) for r in body]
        widths = set(map(len, body))
        if len(widths) > 1:  # rows past MAX_COLUMNS among shorter ones
            raise ValueError(f"rows of {sorted(widths)} cells")
    width = widths.pop() if widths else 0
    return _frame(letters, len(body), width, lambda p: map(itemgetter(p), body), first_row, limits)


def cells_to_frame(
    cells: SheetCells, letters: dict[str, str], first_row: int, limits: Limits
) -> pd.DataFrame:
    """:func:`rows_to_frame` of the sheet's cells, column by column."""
    columns = cells.columns
    if columns is None:  # ragged rows, as the parser gave them
        return rows_to_frame(cells.rows(), letters, first_row, limits)
    count = len(range(cells.height)[first_row - 1 :])  # the rows from first_row, as sliced
    width = len(columns) if count else 0
    return _frame(letters, count, width, lambda p: columns[p][first_row - 1 :], first_row, limits)


def _frame(
    letters: dict[str, str],
    count: int,
    width: int,
    body_column: Callable[[int], Iterable[Any]],
    first_row: int,
    limits: Limits,
) -> pd.DataFrame:
    """The frame of ``count`` input rows ``width`` cells wide, whose column at a 0-based
    position is ``body_column(position)``."""
    fields = list(letters)
    table = np.empty((count, len(fields)), dtype=object)
    gaps = [count] * len(fields)  # cells left None, per column
    for number, name in enumerate(fields):
        position = column_index_from_string(letters[name]) - 1
        if position < width:
            # Only empty, blank or escaped text changes: it starts with white space or "'".
            column = [
                (None if not v else blank_to_none(v) if v[0] == "'" or v[0].isspace() else v)
                if v.__class__ is str
                else v
                for v in body_column(position)
            ]
            table[:, number] = np.fromiter(column, dtype=object, count=count)
            gaps[number] = column.count(None)
        else:
            table[:, number] = None
    index: pd.Index = pd.RangeIndex(first_row, first_row + count)
    # A row is blank when all its cells are missing; none is when one column has no gaps
    # (the one with the fewest None is asked first: any other missing value counts too).
    fewest = min(range(len(fields)), key=gaps.__getitem__, default=None)
    if count and (fewest is None or np.asarray(pd.isna(table[:, fewest])).any()):
        missing = np.asarray(pd.isna(table), dtype=np.bool_)
        kept = np.flatnonzero(~missing.all(axis=1))
        if len(kept) < count:
            table = table[kept]
            index = index[kept]
    # No fields: pandas' own empty column index, as a frame built from no columns has.
    frame = pd.DataFrame(table, index=index, columns=fields or None, dtype=object, copy=False)
    if len(frame) > limits.max_rows:
        raise UnreadableFile("too-many-rows", rows=len(frame), limit=limits.max_rows)
    return frame


def is_date_like(value: Any) -> bool:
    return isinstance(value, dt.date | dt.datetime)
