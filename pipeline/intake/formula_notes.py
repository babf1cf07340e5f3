"""The receipt's lines about formulas in a dropped workbook (issue 16, item 7).

Owns saying, for each cell we read (an input column of a row, or a named input cell such as
the action) that held a formula, where it is and that only its saved value was read, as
text. The reader only ever hands on saved values (:mod:`pipeline.xlsx.formulas` finds the
cells); the receipt's layout is :mod:`pipeline.intake.workbook_receipt`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pipeline.intake.report import Problem
from pipeline.texts import t
from pipeline.xlsx.cellxml import split_ref
from pipeline.xlsx.reader import ResultWorkbook, cell_value

#: Formula cells a receipt names one by one; more are counted in one line.
NAMED_AT_MOST: Final = 20


def read_formula_cells(wb: ResultWorkbook) -> list[Problem]:
    """The cells of ``wb`` we read that held a formula, located as problems are (not one:
    the value was read), with the formula as ``value``."""
    if not wb.formulas:
        return []
    try:
        first_row = int(wb.meta.get("first_row", "0"))
    except ValueError:
        first_row = 0
    field_of = {letter: name for name, letter in wb.letters.items()}
    named = {
        ref: key for key, ref in wb.meta.items() if key.endswith("_cell") and ref in wb.formulas
    }
    found = []
    for ref, formula in wb.formulas.items():
        row, _ = split_ref(ref)
        letter = ref.rstrip("0123456789")
        if ref in named or (row >= first_row and letter in field_of):
            found.append(
                Problem(
                    "formula-cell",
                    sheet=wb.sheet,
                    row=row,
                    column=letter,
                    field=field_of.get(letter) if ref not in named else None,
                    value=formula,
                )
            )
    return found


def formula_notes(wb: ResultWorkbook, language: str, workspace: Path | None) -> list[str]:
    """One line per formula cell read (at most :data:`NAMED_AT_MOST`, then a count)."""
    cells = read_formula_cells(wb)
    notes = []
    for cell in cells[:NAMED_AT_MOST]:
        assert cell.row is not None and cell.column is not None
        value = cell_value(wb.sheet_rows, f"{cell.column}{cell.row}")
        shown = _shown(value)
        key = "xlsxseal.formula-cell" if shown else "xlsxseal.formula-cell-empty"
        text = t(key, language, workspace, formula=_shown(cell.value), value=shown)
        notes.append(f"{cell.position(language, workspace)}: {text}")
    if len(cells) > NAMED_AT_MOST:
        more = len(cells) - NAMED_AT_MOST
        notes.append(t("xlsxseal.formula-cells-more", language, workspace, count=more))
    return notes


def _shown(value: object) -> str:
    """A value on one line, control characters as spaces, at most 60 characters."""
    if value is None:
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).strip()
    return text if len(text) <= 60 else text[:57] + "..."
