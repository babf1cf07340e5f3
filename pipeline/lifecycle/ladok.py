"""Files for the definitive entry in LADOK, written when a list is approved.

Owns two files in ``outbox/ladok/``:

* ``<listnr>.tsv``: what ``ladok report -f`` of the open-source ``ladok3`` package reads from
  standard input as it is: UTF-8, tab-separated, no header or comment lines, one result a line:
  course code, component (the module code; the course code again for a final grade), student
  (personnummer ``YYYYMMDD-NNNN``), grade, date (ISO), then one field per grader written
  ``First Last <email>``. Blank grades ("no result") are not reported.
* ``<listnr>_manuell.xlsx``: the same results for manual entry, sorted as LADOK sorts
  (surname, given name), personnummer as text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Font

from pipeline import files
from pipeline.texts import t
from pipeline.xlsx.cells import escape_cell


@dataclass(frozen=True)
class LadokResult:
    course_code: str
    component: str
    pnr: str  # 12 digits
    last_name: str
    first_name: str
    grade: str
    grade_date: dt.date
    #: For a correction: the value in the corrected list (shown in the manual workbook).
    old_grade: str | None = None
    old_date: dt.date | None = None


@dataclass(frozen=True)
class Grader:
    name: str
    email: str

    def field(self) -> str:
        return f"{self.name} <{self.email}>"


def _clean(text: str) -> str:
    """No field may break the line format."""
    return str(escape_cell(" ".join(str(text).split())))


def tsv_text(results: Sequence[LadokResult], graders: Sequence[Grader]) -> str:
    grader_fields = [_clean(g.field()) for g in graders]
    lines = []
    for r in results:
        fields = [
            _clean(r.course_code),
            _clean(r.component),
            f"{r.pnr[:8]}-{r.pnr[8:]}",
            _clean(r.grade),
            r.grade_date.isoformat(),
            *grader_fields,
        ]
        lines.append("\t".join(fields))
    return "".join(line + "\n" for line in lines)


def ladok_sorted(results: Sequence[LadokResult]) -> list[LadokResult]:
    return sorted(results, key=lambda r: (r.last_name.casefold(), r.first_name.casefold(), r.pnr))


def file_stem(listnr: int, corrects: int | None) -> str:
    """``1001``; a correction says what it corrects in its name: ``1006_rattelse_av_1001``."""
    return f"{listnr}_rattelse_av_{corrects}" if corrects else str(listnr)


def write_files(
    folder: Path,
    listnr: int,
    results: Sequence[LadokResult],
    graders: Sequence[Grader],
    *,
    language: str = "sv",
    corrects: int | None = None,
    workspace: Path | None = None,
) -> list[Path]:
    """Write the TSV and the manual-entry workbook; returns their paths."""
    stem = file_stem(listnr, corrects)
    ordered = ladok_sorted(results)
    tsv = folder / f"{stem}.tsv"
    files.write_text(tsv, tsv_text(ordered, graders))
    xlsx = folder / f"{stem}_manuell.xlsx"
    files.save(_manual_workbook(listnr, ordered, language, corrects, workspace), xlsx)
    return [tsv, xlsx]


#: The manual-entry sheet's columns, as keys of ``lifecycle.ladok.headers`` in the catalogue.
_COLUMNS: Final = ("last_name", "first_name", "pnr", "course", "component", "grade", "grade_date")


def _manual_workbook(
    listnr: int,
    results: Sequence[LadokResult],
    language: str,
    corrects: int | None = None,
    workspace: Path | None = None,
) -> Workbook:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"LADOK {listnr}"
    headers = [t(f"lifecycle.ladok.headers.{key}", language, workspace) for key in _COLUMNS]
    if corrects:
        # The sheet's name and two more columns say what is corrected: old beside new.
        ws.title = t("lifecycle.ladok.correction-title", language, workspace, n=corrects)
        headers += [
            t("lifecycle.ladok.old-grade", language, workspace, n=corrects),
            t("lifecycle.ladok.old-date", language, workspace),
        ]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in results:
        ws.append(
            [
                escape_cell(r.last_name),
                escape_cell(r.first_name),
                f"{r.pnr[:8]}-{r.pnr[8:]}",
                r.course_code,
                r.component,
                r.grade,
                r.grade_date.isoformat(),
                *(
                    [r.old_grade or "", r.old_date.isoformat() if r.old_date else ""]
                    if corrects
                    else []
                ),
            ]
        )
    for row in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        for cell in row:
            cell.number_format = "@"
    for letter, width in zip("ABCDEFG", (20, 16, 17, 9, 10, 7, 12), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    return wb
