"""A marked copy is the list's own workbook whatever format was dropped (issue 18, item 4): a
rejected .ods (saved by LibreOffice Calc, as a teacher who works in .ods would) gets back a
marked copy with the identity, the hidden signed metadata sheet, protection, dropdowns and
formatting of the issued workbook; fixed and saved again by LibreOffice as .ods or .xlsx, it
is accepted."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.intake.inbox import FileResult, Inbox
from pipeline.lists.create import create_t34
from pipeline.models import FileOutcome, ListEntry, ListState, ResultList
from pipeline.xlsx import contract, workbook
from pipeline.xlsx.reader import Limits, read_result_workbook
from tests.factories import TERM, fill, new_exam_list, seed, sent_code
from tests.office import soffice_save
from tests.test_t34 import _course_setup

DATE = dt.date(2026, 11, 2)
XLSX = "xlsx:Calc MS Excel 2007 XML"


def _soffice(source: Path, fmt: str, out: Path) -> Path:
    [saved] = soffice_save([source], fmt, out)
    return saved


def _drop(app: App, path: Path) -> tuple[FileResult, str]:
    shutil.copy(path, app.settings.inbox / path.name)
    [result] = Inbox(app).process_once()
    assert result.receipt is not None
    return result, result.receipt.read_text(encoding="utf-8")


def _marked_copy_keeps_the_layout(app: App, marked: Path, issued: Path) -> None:
    book, original = load_workbook(marked), load_workbook(issued)
    ws, ows = book.worksheets[0], original.worksheets[0]
    meta = book[str(contract.layout()["meta_sheet"])]
    assert book.sheetnames == original.sheetnames and meta.sheet_state == "hidden"
    read = read_result_workbook(marked, Limits())
    assert read is not None and read.version == 1 and read.listnr is not None
    assert contract.verify(app.settings.hmac_key(), read.meta, read.roster)
    assert contract.signature_version(read.meta) == 2
    assert ws.protection.sheet and meta.protection.sheet
    for ref in ("A1", "B4", "B5", "A16", "B16", "C16"):
        assert ws[ref].value == ows[ref].value, ref
    assert ws["A16"].protection.locked and ws["A16"].number_format == "@"
    assert not ws["D16"].protection.locked and not ws["B13"].protection.locked
    validations = {str(dv.sqref) for dv in ws.data_validations.dataValidation}
    assert validations == {str(dv.sqref) for dv in ows.data_validations.dataValidation}
    assert ws.freeze_panes == ows.freeze_panes and ws.column_dimensions["G"].width == 40


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
@pytest.mark.parametrize("saved_as", ["ods", XLSX])
def test_a_fixed_marked_copy_of_an_ods_is_accepted(app: App, tmp_path: Path, saved_as: str) -> None:
    s = seed(app, students=4)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr).path
    original = tmp_path / "issued.xlsx"
    shutil.copy(issued, original)
    ws = load_workbook(issued).worksheets[0]
    row_of = {str(ws[f"A{r}"].value).replace("-", ""): r for r in range(16, 20)}
    bad, good = s.pnrs[0], s.pnrs[1]
    filled = fill(
        issued,
        {
            bad: {"grade": "Q", "grade_date": DATE, "comment": "Omtentamen"},
            good: {"grade": "3", "grade_date": DATE, "points": 28.5},
        },
        action="Skicka till examinator",
        target=tmp_path / "betyg.xlsx",
    )
    ods = _soffice(filled, "ods", tmp_path / "teacher")

    result, text = _drop(app, ods)
    assert result.outcome == FileOutcome.REJECTED
    assert [(p.slug, p.row, p.column) for p in result.problems] == [
        ("grade-not-in-scale", row_of[bad], "D")
    ]
    assert "Din arbetsbok med felen markerade i rött" in text
    [marked] = app.settings.receipts_dir.glob("*_fel.xlsx")
    _marked_copy_keeps_the_layout(app, marked, original)
    mws = load_workbook(marked).worksheets[0]
    cell = mws[f"D{row_of[bad]}"]
    assert cell.value == "Q" and cell.fill.fgColor.rgb.endswith("FF7C80")
    assert cell.comment is not None and "Q" in cell.comment.text
    # What the teacher entered is in it, as they entered it.
    assert mws[f"G{row_of[bad]}"].value == "Omtentamen"
    assert mws[f"D{row_of[good]}"].value == "3" and mws[f"F{row_of[good]}"].value == 28.5
    assert mws[f"E{row_of[good]}"].value == dt.datetime(2026, 11, 2)
    assert mws["B13"].value == "Skicka till examinator"

    # The teacher fixes the grade and saves the marked copy again in LibreOffice.
    book = load_workbook(marked)
    book.worksheets[0][f"D{row_of[bad]}"] = "4"
    fixed = tmp_path / "rattad.xlsx"
    book.save(fixed)
    again = _soffice(fixed, saved_as, tmp_path / "fixed")
    result, text = _drop(app, again)
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    assert "GODTAGEN" in text
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        assert rl.state == ListState.AWAITING_APPROVAL and rl.version == 2
        got = {
            e.student.pnr: (e.grade, e.grade_date, e.points, e.comment)
            for e in session.execute(select(ListEntry)).scalars()
        }
    assert got[bad] == ("4", DATE, None, "Omtentamen")
    assert got[good][:2] == ("3", DATE) and float(got[good][2] or 0) == 28.5
    assert got[s.pnrs[2]] == (None, None, None, None)


def test_marked_copy_of_an_xlsx_is_the_lists_workbook_in_english(app: App, tmp_path: Path) -> None:
    """The same without LibreOffice: the receipt and comments in the teacher's language."""
    s = seed(app, students=3, teacher_lang="en")
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr).path
    original = tmp_path / "issued.xlsx"
    shutil.copy(issued, original)
    ws = load_workbook(issued).worksheets[0]
    row = next(r for r in range(16, 19) if str(ws[f"A{r}"].value).replace("-", "") == s.pnrs[0])
    filled = fill(
        issued, {s.pnrs[0]: {"grade": "Q", "grade_date": DATE}}, target=tmp_path / "g.xlsx"
    )
    # The teacher's own extras (a scratch sheet, a cell far off) are not carried over.
    book = load_workbook(filled)
    book.create_sheet("Scratch")["A1"] = "notes"
    book.worksheets[0]["Z40"] = "mine"
    book.save(filled)
    result, text = _drop(app, filled)
    assert result.outcome == FileOutcome.REJECTED
    assert "Your workbook with the problems marked in red" in text
    [marked] = app.settings.receipts_dir.glob("*_fel.xlsx")
    _marked_copy_keeps_the_layout(app, marked, original)
    mws = load_workbook(marked).worksheets[0]
    assert mws.title == "Results" and mws["Z40"].value is None
    comment = mws[f"D{row}"].comment
    assert comment is not None and "Q" in comment.text and comment.author == "resultat"


def test_marked_copy_of_a_final_grade_list_fixed_and_accepted(app: App, tmp_path: Path) -> None:
    p = _course_setup(app)
    listnr = create_t34(app, course_code="DV1599", term=TERM)
    issued = workbook.issue(app, listnr).path
    original = tmp_path / "issued.xlsx"
    shutil.copy(issued, original)
    rows = {
        p[0]: {"grade": "U", "grade_date": "2026-11-10"},
        p[3]: {"grade": "4", "grade_date": "2026-11-10", "remove": "nej"},
    }
    result, _ = _drop(app, fill(issued, rows, target=tmp_path / "slutbetyg.xlsx"))
    assert result.outcome == FileOutcome.REJECTED
    assert sorted((x.slug, x.field) for x in result.problems) == [
        ("bad-remove-mark", "remove"),
        ("final-grade-fail", "grade"),
    ]
    [marked] = app.settings.receipts_dir.glob("*_fel.xlsx")
    book, issued_book = load_workbook(marked), load_workbook(original)
    assert book.sheetnames == issued_book.sheetnames
    ws = book.worksheets[0]
    headers = [c.value for c in ws[contract.HEADER_ROW]]
    assert headers == [c.value for c in issued_book.worksheets[0][contract.HEADER_ROW]]
    by_pnr = {str(r[0].value).replace("-", ""): r for r in ws.iter_rows(min_row=contract.FIRST_ROW)}
    remove = headers.index("Ta bort")
    grade = headers.index("Betyg")
    assert by_pnr[p[3]][remove].value == "nej" and by_pnr[p[3]][remove].comment is not None
    assert by_pnr[p[0]][grade].value == "U" and by_pnr[p[0]][grade].comment is not None
    by_pnr[p[0]][grade].value = "4"
    by_pnr[p[3]][remove].value = None
    fixed = tmp_path / "rattad.xlsx"
    book.save(fixed)
    result, _ = _drop(app, fixed)
    assert result.outcome == FileOutcome.ACCEPTED, [x.slug for x in result.problems]
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        got = {e.student.pnr: e.grade for e in rl.entries}
    assert got[p[0]] == "4" and got[p[3]] == "4"


def test_marked_copy_of_a_review_workbook_approves_once_fixed(app: App, tmp_path: Path) -> None:
    s = seed(app, students=3)
    listnr = new_exam_list(app)
    issued = workbook.issue(app, listnr).path
    rows = {pnr: {"grade": "4", "grade_date": DATE} for pnr in s.pnrs[:2]}
    result, _ = _drop(
        app, fill(issued, rows, action="Skicka till examinator", target=tmp_path / "b.xlsx")
    )
    assert result.outcome == FileOutcome.ACCEPTED
    code = sent_code(app, listnr)
    review = next(app.settings.review_dir.glob(f"{listnr}_v*_granskning.xlsx"))
    book = load_workbook(review)
    book.worksheets[0]["B13"] = f"{(int(code) + 1) % 10**6:06d}"
    wrong = tmp_path / "granskning.xlsx"
    book.save(wrong)
    result, _ = _drop(app, wrong)
    assert result.outcome == FileOutcome.REJECTED
    assert [(p.slug, p.row, p.column) for p in result.problems] == [
        ("approval-wrong-code", 13, "B")
    ]
    [marked] = app.settings.receipts_dir.glob("*_fel.xlsx")
    read = read_result_workbook(marked, Limits())
    original = read_result_workbook(review, Limits())
    assert read is not None and original is not None and read.purpose == "review"
    assert read.meta["content_hash"] == original.meta["content_hash"]
    assert contract.verify(app.settings.hmac_key(), read.meta, read.roster)
    mbook = load_workbook(marked)
    assert mbook.worksheets[0]["B13"].comment is not None
    mbook.worksheets[0]["B13"] = code
    mbook.save(wrong)
    result, _ = _drop(app, wrong)
    assert result.outcome == FileOutcome.ACCEPTED, [p.slug for p in result.problems]
    with app.db.session() as session:
        rl = session.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        assert rl.state == ListState.APPROVED
