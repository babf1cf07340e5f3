"""Nothing executable in what we write (issue 16, item 7): a formula in a teacher's cell is
read as its saved value, never carried into a file we write (marked copy, fresh workbook),
and the receipt names the cell. Files written by openpyxl (a formula without a saved value)
and by LibreOffice Calc (with one)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.models import FileOutcome, ListEntry
from pipeline.xlsx import workbook
from pipeline.xlsx.formulas import formula_cells
from pipeline.xlsx.safety import Limits, read_checked
from tests.factories import fill, new_exam_list, seed
from tests.office import soffice_save
from tests.test_forms import ORDER, drop, fill_rows, outbox_of, people

DATE = dt.date(2026, 11, 2)
LINK = '=HYPERLINK("http://example.se","x")'
DDE = "=cmd|' /C calc'!A0"
# DV1599/2010: A pnr, B surname, C given name, D grade, E date, F points, G comment.
_FORMULA_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s/>]")


def _issued(app: App, *, lang: str = "sv") -> tuple[list[str], Path, dict[str, int]]:
    s = seed(app, students=3, teacher_lang=lang)
    path = workbook.issue(app, new_exam_list(app)).path
    ws = load_workbook(path).worksheets[0]
    rows = {str(ws[f"A{r}"].value).replace("-", ""): r for r in range(16, 19)}
    return s.pnrs, path, rows


def _drop(app: App, path: Path) -> tuple[FileResult, str]:
    shutil.copy(path, app.settings.inbox / path.name)
    [result] = Inbox(app).process_once()
    assert result.receipt is not None
    return result, result.receipt.read_text(encoding="utf-8")


def _no_formula_anywhere(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/")]
        assert sheets
        for name in sheets:
            assert not _FORMULA_ELEMENT.search(zf.read(name)), name


def _comment(app: App, pnr: str) -> str | None:
    with app.db.session() as session:
        entries = session.execute(select(ListEntry)).scalars().all()
        return next(e.comment for e in entries if e.student.pnr == pnr)


def _both(pnrs: list[str]) -> dict[str, dict[str, object]]:
    """A link in a comment cell, a DDE call in a grade cell (with a date, so it is refused)."""
    return {
        pnrs[0]: {"grade": "4", "grade_date": DATE, "comment": LINK},
        pnrs[1]: {"grade": DDE, "grade_date": DATE},
    }


def test_formula_cells_located_in_the_file_as_written(app: App, tmp_path: Path) -> None:
    pnrs, issued, rows = _issued(app)
    path = fill(issued, _both(pnrs), target=tmp_path / "f.xlsx")
    # The reader looks at the bytes the safety checks repacked (stored, not deflated).
    data = read_checked(path, Limits())[1]
    found = formula_cells(data, "xlsx", "Resultat")
    assert found == {
        f"G{rows[pnrs[0]]}": LINK,
        f"D{rows[pnrs[1]]}": DDE,
    }
    assert formula_cells(read_checked(issued, Limits())[1], "xlsx", "Resultat") == {}


def test_openpyxl_formulas_refused_marked_copy_holds_none(app: App) -> None:
    pnrs, issued, rows = _issued(app)
    path = fill(issued, _both(pnrs), target=app.root / "formler.xlsx")
    result, text = _drop(app, path)
    assert result.outcome == FileOutcome.REJECTED
    # No saved value: the grade cell reads as empty, so the date has no grade.
    assert [(p.slug, p.row, p.column) for p in result.problems] == [
        ("date-without-grade", rows[pnrs[1]], "D")
    ]
    link_row, dde_row = rows[pnrs[0]], rows[pnrs[1]]
    assert (
        f"Observera: blad Resultat, rad {link_row}, kolumn G (Kommentar): cellen innehöll en "
        'formel (=HYPERLINK("http://example.se","x")) utan sparat värde; cellen har lästs som tom.'
    ) in text
    assert (
        f"rad {dde_row}, kolumn D (Betyg): cellen innehöll en formel (=cmd|' /C calc'!A0)" in text
    )
    marked = next(app.settings.receipts_dir.glob("*_fel.xlsx"))
    _no_formula_anywhere(marked)
    ws = load_workbook(marked).worksheets[0]
    assert ws[f"G{link_row}"].value is None and ws[f"D{dde_row}"].value is None
    assert ws[f"D{dde_row}"].comment is not None
    assert ws[f"D{link_row}"].value == "4"


def test_openpyxl_formula_in_a_comment_accepted_in_english(app: App) -> None:
    pnrs, issued, rows = _issued(app, lang="en")
    path = fill(
        issued,
        {pnrs[0]: {"grade": "4", "grade_date": DATE, "comment": LINK}},
        target=app.root / "link.xlsx",
    )
    result, text = _drop(app, path)
    assert result.outcome == FileOutcome.ACCEPTED, result.problems
    assert _comment(app, pnrs[0]) is None
    assert (
        f"sheet Results, row {rows[pnrs[0]]}, column G (Comment): the cell held a formula "
        '(=HYPERLINK("http://example.se","x")) with no saved value; the cell was read as empty.'
    ) in text
    _no_formula_anywhere(app.settings.lists_dir / issued.name)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("fmt", ["xlsx:Calc MS Excel 2007 XML", "ods"])
def test_libreoffice_formulas_read_as_saved_values(app: App, tmp_path: Path, fmt: str) -> None:
    pnrs, issued, rows = _issued(app)
    both = fill(issued, _both(pnrs), target=tmp_path / "formler.xlsx")
    link = fill(
        issued,
        {pnrs[0]: {"grade": "4", "grade_date": DATE, "comment": LINK}},
        target=tmp_path / "lank.xlsx",
    )
    saved_both, saved_link = soffice_save([both, link], fmt, tmp_path / "lo")
    link_row, dde_row = rows[pnrs[0]], rows[pnrs[1]]

    result, text = _drop(app, saved_both)
    assert result.outcome == FileOutcome.REJECTED
    assert [(p.slug, p.row) for p in result.problems] == [("date-without-grade", dde_row)]
    assert (
        f"rad {link_row}, kolumn G (Kommentar): cellen innehöll en formel "
        '(=HYPERLINK("http://example.se"'
    ) in text
    assert 'bara dess sparade värde "x" har lästs, som text' in text
    assert f"rad {dde_row}, kolumn D (Betyg): cellen innehöll en formel (=cmd|" in text
    marked = next(app.settings.receipts_dir.glob("*_fel.xlsx"))
    _no_formula_anywhere(marked)
    ws = load_workbook(marked).worksheets[0]
    assert ws[f"G{link_row}"].value == "x" and ws[f"G{link_row}"].data_type == "s"
    assert ws[f"D{dde_row}"].value is None

    result, text = _drop(app, saved_link)
    assert result.outcome == FileOutcome.ACCEPTED, result.problems
    assert _comment(app, pnrs[0]) == "x"
    assert 'bara dess sparade värde "x" har lästs, som text' in text
    fresh = app.settings.lists_dir / issued.name
    _no_formula_anywhere(fresh)
    assert load_workbook(fresh).worksheets[0][f"G{link_row}"].value == "x"


def test_a_forms_marked_copy_holds_no_formula(app: App, tmp_path: Path) -> None:
    """The order form's marked copy (the teacher's own file, marked) keeps saved values only."""
    people(app)
    filled = fill_rows(
        outbox_of(app, "teach1") / ORDER,
        [{"action": "Öppna lista", "listnr": 9999, "term": LINK, "students": DDE}],
        tmp_path / "order.xlsx",
    )
    with zipfile.ZipFile(filled) as zf:
        assert _FORMULA_ELEMENT.search(zf.read("xl/worksheets/sheet1.xml"))
    result = drop(app, filled, "teach1")
    assert result.outcome == FileOutcome.REJECTED
    marked = next(outbox_of(app, "teach1").glob("*_fel.xlsx"))
    _no_formula_anywhere(marked)
