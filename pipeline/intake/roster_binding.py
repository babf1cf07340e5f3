"""The roster as issued: each row of a dropped result workbook holds the student it was issued
with (issue 16, item 5).

Owns comparing each row's personnummer and names with what the workbook's signature binds
them to (:func:`pipeline.xlsx.contract.issued_names`): a personnummer moved to another row's
name (two rows' personnummer cells swapped) or an edited name is tampering, reported at its
row and column with its own slug. A row moved whole (sorted, say) still holds its own
student and passes. A workbook issued before rows were bound (signature version 1) is
checked as it was then: this module finds nothing in it. Whether the signature holds at all,
and whether each personnummer is on the list once, are checked before, by the caller
(:mod:`pipeline.intake.handlers`), which calls this for both ways of checking a workbook.
"""

from __future__ import annotations

import json
import unicodedata
from operator import itemgetter
from typing import Any

from openpyxl.utils import column_index_from_string

from pipeline.domain.personnummer import Personnummer
from pipeline.intake.report import Problem
from pipeline.xlsx import contract
from pipeline.xlsx.parser import SheetCells
from pipeline.xlsx.reader import ResultWorkbook, blank_to_none

#: The slugs of this check's problems (their texts: templates/texts/xlsxseal.<lang>.yaml).
PNR_MOVED = "tampered-row-pnr"
NAME_CHANGED = "tampered-row-name"


def _name(value: Any) -> str:
    value = blank_to_none(value)
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value).strip())


def _as_issued(
    cells: SheetCells,
    digits_by_row: dict[int, str],
    roster: list[str],
    names: list[list[str]],
    first_row: int,
    at: tuple[int, int],
) -> bool:
    """The usual case, told column by column: every row in place, its names as written (on
    the hot path of a 20,000-row list: C-level maps and comparisons only)."""
    count = len(roster)
    if list(digits_by_row) != list(range(first_row, first_row + count)):
        return False
    if list(digits_by_row.values()) != roster:
        return False
    start = first_row - 1
    try:
        return all(
            cells.column(column)[start : start + count] == list(map(itemgetter(side), names))
            for side, column in enumerate(at)
        )
    except IndexError:  # a short row: told row by row
        return False


def binding_problems(wb: ResultWorkbook, digits_by_row: dict[int, str]) -> list[Problem]:
    """The rows of ``wb`` whose personnummer or names are not those issued with them.

    ``digits_by_row`` holds the rows whose personnummer is on the signed roster, once (the
    roster check's answer); the others are that check's to report. Call only for a workbook
    whose signature verified."""
    if contract.signature_version(wb.meta) < 2:
        return []
    names = contract.issued_names(wb.meta, wb.roster)
    try:
        columns: dict[str, str] = json.loads(wb.meta["name_columns"])
        first_row = int(wb.meta["first_row"])
        at = (
            column_index_from_string(columns["last_name"]) - 1,
            column_index_from_string(columns["first_name"]) - 1,
        )
    except (KeyError, ValueError, TypeError):
        names = None
    if names is None:
        # Signed, yet not a layout we write: refuse as tampered rather than guess.
        return [Problem("tampered-signature", {"listnr": wb.listnr or ""}, sheet=wb.sheet)]
    if _as_issued(wb.sheet_cells, digits_by_row, wb.roster, names, first_row, at):
        return []
    rows = wb.sheet_rows
    names_of = {
        pnr: (_name(last), _name(first))
        for pnr, (last, first) in zip(wb.roster, names, strict=True)
    }
    problems: list[Problem] = []
    for row, digits in digits_by_row.items():
        wanted = names_of.get(digits)
        if wanted is None:
            continue
        cells = rows[row - 1] if 0 < row <= len(rows) else []
        read = tuple(_name(cells[i]) if i < len(cells) else "" for i in at)
        if read == wanted:
            continue  # in place, or moved whole: the row holds its own student
        position = row - first_row
        here = wb.roster[position] if 0 <= position < len(wb.roster) else None
        if here is not None and here != digits and read == names_of[here]:
            # The names issued on this row beside another row's personnummer.
            problems.append(
                Problem(
                    PNR_MOVED,
                    {"issued": Personnummer(here).long()},
                    sheet=wb.sheet,
                    row=row,
                    column=wb.letters.get("pnr"),
                    field="pnr",
                    value=Personnummer(digits).long(),
                )
            )
            continue
        for field, got, want in zip(("last_name", "first_name"), read, wanted, strict=True):
            if got != want:
                problems.append(
                    Problem(
                        NAME_CHANGED,
                        {"issued": want},
                        sheet=wb.sheet,
                        row=row,
                        column=columns[field],
                        field=field,
                        value=got,
                    )
                )
    return problems
