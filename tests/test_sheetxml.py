"""Issued workbooks as written by pipeline.xlsx.sheetxml: what Excel, LibreOffice, openpyxl and
the reader see in them (cells, formats, protection, dropdowns, the metadata sheet), and the
XML itself (well-formed, escaped, no formulas).

One SQLite workspace for the module: the writer does not depend on the database."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from pipeline import files
from pipeline.app import App
from pipeline.lists.create import create_t34
from pipeline.lists.query import get_list
from pipeline.models import Module, PriorResult, Student
from pipeline.settings import create_workspace
from pipeline.xlsx import cellxml, contract, sheetxml, workbook
from pipeline.xlsx.reader import Limits, read_result_workbook
from tests.factories import TERM, new_exam_list, seed

D1 = dt.date(2026, 10, 30)
D2 = dt.date(2026, 11, 5)
GRADE_DATE = dt.date(2026, 11, 2)
INPUT_FILL = "00FFF2CC"
READONLY_FILL = "00EDEDED"


@dataclass
class Issued:
    app: App
    pnrs: list[str]
    t33: int
    t34: int
    folder: Path

    def path(self, name: str) -> Path:
        return self.folder / name


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    """Students with hostile names, a T33 list with some results entered (its workbook,
    review workbook and a workbook of it without rows), and a T34 list of the two students
    with both modules passed."""
    root = tmp_path_factory.mktemp("sheetxml") / "ws"
    create_workspace(root)
    app = App.open(
        root,
        actor="testadmin",
        admin=True,
        env={"RESULTAT_DATABASE_URL": f"sqlite:///{root}/var/x.db"},
    )
    try:
        pnrs = seed(app, students=5).pnrs
        with app.db.session() as session:
            students = {
                s.pnr: s for s in session.execute(select(Student)).scalars() if s.pnr in pnrs
            }
            students[pnrs[0]].first_name = "=cmd|' /C calc'!A0"
            students[pnrs[1]].last_name = 'Bo & <Co> "q"'
            students[pnrs[2]].first_name = "Ann\x07a"
            students[pnrs[3]].last_name = " Leading"
            modules = {m.code: m for m in session.execute(select(Module)).scalars()}
            for pnr, code, grade, day in (
                (pnrs[0], "2010", "5", D1),
                (pnrs[0], "2020", "G", D2),
                (pnrs[3], "2010", "4", D1),
                (pnrs[3], "2020", "G", D1),
                (pnrs[1], "2010", "3", D1),
            ):
                session.add(
                    PriorResult(
                        student_id=students[pnr].id,
                        module_id=modules[code].id,
                        grade=grade,
                        grade_date=day,
                    )
                )
        t33 = new_exam_list(app)
        with app.db.session() as session:
            result_list = get_list(session, t33)
            result_list.options = {"lms_column": "=SUM(A1)", "thresholds": [["U", 0], ["3", 50]]}
            by_pnr = {e.student.pnr: e for e in result_list.entries}
            first = by_pnr[pnrs[0]]
            first.grade, first.grade_date, first.points = "5", GRADE_DATE, Decimal("44.5")
            first.comment = "Bra & <snyggt>\nrad två"
            second = by_pnr[pnrs[1]]
            second.grade, second.points, second.comment = "3", Decimal("28"), "=1+1"
        t34 = create_t34(app, course_code="DV1599", term=TERM)
        folder = root / "issued"
        for listnr, name in ((t33, "t33.xlsx"), (t34, "t34.xlsx")):
            workbook.issue(app, listnr, target=folder / name)
        with app.db.session() as session:
            doc = workbook.build(app, get_list(session, t33), [], language="sv")
            files.save(doc, folder / "empty.xlsx")
            workbook.build_review(
                app,
                get_list(session, t33),
                language="sv",
                content_hash="abc123",
                target=folder / "review.xlsx",
            )
        yield Issued(app, pnrs, t33, t34, folder)
    finally:
        app.close()


def _rows_by_pnr(ws: Worksheet) -> dict[str, int]:
    return {
        str(ws.cell(row=r, column=1).value).replace("-", ""): r
        for r in range(contract.FIRST_ROW, ws.max_row + 1)
        if ws.cell(row=r, column=1).value
    }


def _validations(ws: Worksheet) -> dict[str, tuple[str, bool]]:
    return {
        str(dv.sqref): (dv.formula1, bool(dv.allow_blank))
        for dv in ws.data_validations.dataValidation
    }


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


# --------------------------------------------------------------------------- the T33 workbook


def test_t33_layout_formats_and_protection(issued: Issued) -> None:
    wb = load_workbook(issued.path("t33.xlsx"))
    assert wb.sheetnames == ["Resultat", "_resultat"]
    ws = wb["Resultat"]
    assert str(ws["A1"].value).startswith(f"Resultatlista {issued.t33} – DV1599 2010")
    assert ws["A1"].font.b and ws["A1"].font.sz == 14
    assert ws["A2"].alignment.wrap_text and ws["A2"].alignment.vertical == "top"
    assert ws.row_dimensions[2].height == 48
    assert {str(r) for r in ws.merged_cells.ranges} == {"A2:G2", "B12:D12", "B14:D14"}
    # Identity: bold labels, filled values, all locked.
    assert [ws.cell(row=r, column=1).value for r in range(4, 12)] == [
        "Listnummer",
        "Kurs",
        "Modul (provkod)",
        "Betygsskala",
        "Termin",
        "Examinator",
        "Rapportör",
        "Version",
    ]
    assert all(ws.cell(row=r, column=1).font.b for r in range(4, 12))
    assert ws["B4"].value == issued.t33 and ws["B5"].value == "DV1599 Programmering i Python"
    assert ws["B4"].fill.fgColor.rgb == "00F2F2F2" and ws["B4"].protection.locked
    # The LMS cells and the action: unlocked inputs; the LMS ones text, escaped.
    assert ws["B12"].value == "'=SUM(A1)" and ws["B14"].value == "U=0,3=50"
    for ref in ("B12", "B14"):
        assert not ws[ref].protection.locked and ws[ref].number_format == "@"
        assert ws[ref].fill.fgColor.rgb == INPUT_FILL
    assert not ws["C12"].protection.locked and not ws["D14"].protection.locked
    assert ws["A13"].value == "Åtgärd" and ws["B13"].value == "Spara utkast"
    assert not ws["B13"].protection.locked
    headers = [c.value for c in ws[contract.HEADER_ROW]]
    assert headers == [
        "Personnummer",
        "Efternamn",
        "Förnamn",
        "Betyg",
        "Betygsdatum",
        "Skrivningspoäng",
        "Kommentar",
    ]
    assert all(c.font.b and c.fill.fgColor.rgb == "00D9E1F2" for c in ws[contract.HEADER_ROW])
    widths = {k: d.width for k, d in ws.column_dimensions.items() if d.width}
    assert widths == {"A": 25, "B": 20, "C": 18, "D": 9, "E": 13, "F": 15, "G": 40}
    # The sheet: protected but columns, rows, sorting and filters may be used.
    assert ws.protection.sheet
    assert not ws.protection.formatColumns and not ws.protection.formatRows
    assert not ws.protection.sort and not ws.protection.autoFilter
    assert ws.protection.formatCells and ws.protection.insertRows and ws.protection.deleteRows
    assert ws.freeze_panes == "A16"
    assert ws.print_title_rows == "$15:$15"
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage


def test_t33_entry_rows(issued: Issued) -> None:
    ws = load_workbook(issued.path("t33.xlsx"))["Resultat"]
    rows = _rows_by_pnr(ws)
    assert set(rows) == set(issued.pnrs) and min(rows.values()) == contract.FIRST_ROW
    p = issued.pnrs
    r0, r1 = rows[p[0]], rows[p[1]]
    pnr_cell = ws[f"A{r0}"]
    assert pnr_cell.value == f"{p[0][:8]}-{p[0][8:]}" and pnr_cell.data_type == "s"
    assert pnr_cell.number_format == "@" and pnr_cell.protection.locked
    date = ws[f"E{r0}"]
    assert date.is_date and date.value == dt.datetime(2026, 11, 2)
    assert date.number_format == "yyyy-mm-dd"
    assert ws[f"F{r0}"].value == 44.5 and ws[f"F{r1}"].value == 28
    assert ws[f"D{r0}"].value == "5" and ws[f"D{r1}"].value == "3"
    assert ws[f"G{r0}"].value == "Bra & <snyggt>\nrad två"
    for column in "DEFG":  # inputs: filled and unlocked, empty ones too
        for row in rows.values():
            cell = ws[f"{column}{row}"]
            assert not cell.protection.locked and cell.fill.fgColor.rgb == INPUT_FILL
    for column in "ABC":
        assert all(ws[f"{column}{row}"].protection.locked for row in rows.values())
    last = contract.FIRST_ROW + len(rows) - 1
    assert _validations(ws) == {
        "B13": ('"Spara utkast,Skicka till examinator"', False),
        f"D16:D{last}": ('"U,3,4,5"', True),
    }


def test_text_is_escaped_and_nothing_is_a_formula(issued: Issued) -> None:
    path = issued.path("t33.xlsx")
    ws = load_workbook(path)["Resultat"]
    rows = _rows_by_pnr(ws)
    p = issued.pnrs
    assert ws[f"C{rows[p[0]]}"].value == "'=cmd|' /C calc'!A0"
    assert ws[f"B{rows[p[1]]}"].value == 'Bo & <Co> "q"'
    assert ws[f"C{rows[p[2]]}"].value == "Anna"  # the control character is dropped
    assert ws[f"B{rows[p[3]]}"].value == " Leading"
    assert ws[f"G{rows[p[1]]}"].value == "'=1+1"
    for name, data in _parts(path).items():
        root = ElementTree.fromstring(data)  # every part is well-formed XML
        assert b"<!DOCTYPE" not in data, name
        assert not [e for e in root.iter() if e.tag.endswith("}f")], name
    sheet = _parts(path)["xl/worksheets/sheet1.xml"].decode("utf-8")
    assert "Bo &amp; &lt;Co&gt;" in sheet and "\x07" not in sheet
    assert '<t xml:space="preserve"> Leading</t>' in sheet
    # Empty input cells carry their format (what bench/data.py and Excel fill in).
    assert re.search(r'<c r="D\d+" s="\d+"/>', sheet)


def test_metadata_sheet_is_hidden_protected_text_and_signed(issued: Issued) -> None:
    path = issued.path("t33.xlsx")
    ms = load_workbook(path)["_resultat"]
    assert ms.sheet_state == "hidden" and ms.protection.sheet
    keys = [ms.cell(row=r, column=1).value for r in range(1, ms.max_row + 1)]
    roster_row = keys.index("roster") + 1
    assert keys[:3] == ["format", "kind", "listnr"] and keys[roster_row - 2] == "hmac"
    assert ms.cell(row=roster_row, column=2).value == "5"
    values = [ms.cell(row=r, column=2) for r in range(1, ms.max_row + 1)]
    assert all(c.data_type == "s" for c in values)
    assert all(c.number_format == "@" for i, c in enumerate(values) if i != roster_row - 1)
    roster = [pnr for c in values[roster_row:] for pnr in str(c.value).split()]
    assert sorted(roster) == sorted(issued.pnrs)
    read = read_result_workbook(path, Limits())
    assert read is not None and read.roster == roster
    assert read.meta["listnr"] == str(issued.t33) and read.meta["sheet"] == "Resultat"
    assert contract.verify(issued.app.settings.hmac_key(), read.meta, read.roster)
    assert read.action == "Spara utkast"


def test_reader_sees_the_entered_values(issued: Issued) -> None:
    read = read_result_workbook(issued.path("t33.xlsx"), Limits())
    assert read is not None
    frame = read.frame
    p = issued.pnrs
    by_pnr = {str(r["pnr"]).replace("-", ""): r for _, r in frame.iterrows()}
    assert by_pnr[p[0]]["grade"] == "5" and by_pnr[p[0]]["points"] == 44.5
    assert by_pnr[p[0]]["grade_date"] in (GRADE_DATE, dt.datetime(2026, 11, 2))
    assert by_pnr[p[1]]["comment"] == "=1+1"  # the reader takes the escape off again


def test_empty_list(issued: Issued) -> None:
    path = issued.path("empty.xlsx")
    wb = load_workbook(path)
    ws = wb["Resultat"]
    assert ws.max_row == contract.HEADER_ROW
    assert _validations(ws) == {
        "B13": ('"Spara utkast,Skicka till examinator"', False),
        "D16": ('"U,3,4,5"', True),
    }
    ms = wb["_resultat"]
    assert ms.cell(row=ms.max_row, column=1).value == "roster"
    assert ms.cell(row=ms.max_row, column=2).value == "0"
    read = read_result_workbook(path, Limits())
    assert read is not None and read.roster == [] and len(read.frame) == 0


# --------------------------------------------------------------------------- T34 and review


def test_t34_workbook(issued: Issued) -> None:
    wb = load_workbook(issued.path("t34.xlsx"))
    assert wb.sheetnames == ["Resultat", "Ej behöriga", "_resultat"]
    ws = wb["Resultat"]
    headers = {c.value: c.column_letter for c in ws[contract.HEADER_ROW]}
    assert list(headers)[3:] == [
        "2010 betyg",
        "2010 datum",
        "2010 hp",
        "2020 betyg",
        "2020 datum",
        "2020 hp",
        "hp summa",
        "Förslag (slutbetyg)",
        "Betyg",
        "ECTS-betyg",
        "Betygsdatum",
        "Kommentar",
        "Ta bort",
    ]
    rows = _rows_by_pnr(ws)
    p = issued.pnrs
    assert set(rows) == {p[0], p[3]}
    row = rows[p[0]]
    module_date = ws[f"{headers['2020 datum']}{row}"]
    assert module_date.is_date and module_date.value == dt.datetime(2026, 11, 5)
    assert module_date.fill.fgColor.rgb == READONLY_FILL and module_date.protection.locked
    assert ws[f"{headers['hp summa']}{row}"].value == 7.5
    assert ws[f"{headers['2010 betyg']}{row}"].value == "5"
    grade = ws[f"{headers['Betyg']}{row}"]
    assert not grade.protection.locked and grade.fill.fgColor.rgb == INPUT_FILL
    last = contract.FIRST_ROW + len(rows) - 1
    validations = _validations(ws)
    assert validations[f"{headers['Ta bort']}16:{headers['Ta bort']}{last}"] == ('"X"', True)
    assert validations[f"{headers['ECTS-betyg']}16:{headers['ECTS-betyg']}{last}"] == (
        '"A,B,C,D,E,Fx,F"',
        True,
    )
    assert {str(r) for r in ws.merged_cells.ranges} == {f"A2:{headers['Ta bort']}2"}
    other = wb["Ej behöriga"]
    assert other.protection.sheet and other["A1"].font.b
    reasons = {str(r[0]).replace("-", ""): r for r in other.iter_rows(min_row=4, values_only=True)}
    assert set(reasons) == {p[1], p[2], p[4]}
    assert reasons[p[1]][3] == "saknar godkänt resultat på 2020"
    assert reasons[p[2]][2] == "Anna"
    assert other["A4"].number_format == "@"


def test_review_workbook(issued: Issued) -> None:
    path = issued.path("review.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Granskning", "_resultat"]
    ws = wb["Granskning"]
    assert ws["A13"].value == "Attesteringskod" and ws["A14"].value == "Avvisa: orsak"
    for ref in ("B13", "B14"):
        assert ws[ref].value is None and not ws[ref].protection.locked
        assert ws[ref].number_format == "@" and ws[ref].fill.fgColor.rgb == INPUT_FILL
    assert str(ws["C13"].value).startswith("Skriv koden")
    assert ws.data_validations.dataValidation == []
    rows = _rows_by_pnr(ws)
    assert all(ws[f"{c}{r}"].protection.locked for c in "ABCDEFG" for r in rows.values())
    assert ws.print_title_rows == "$15:$15" and ws.protection.sheet
    read = read_result_workbook(path, Limits())
    assert read is not None and read.purpose == "review"
    assert read.meta["content_hash"] == "abc123" and read.meta["sheet"] == "Granskning"
    assert contract.verify(issued.app.settings.hmac_key(), read.meta, read.roster)


# --------------------------------------------------------------------------- build itself


@dataclass(slots=True)
class _Student:
    pnr: str
    last_name: str
    first_name: str


@dataclass(slots=True)
class _Entry:
    student_id: int
    student: _Student
    grade: Any
    ects_grade: Any
    grade_date: Any
    points: Any
    comment: Any


def _sheet1(doc: sheetxml.SheetDocument) -> str:
    return dict(doc.parts())["xl/worksheets/sheet1.xml"]


def test_light_entries_expired_orm_rows_and_overrides(issued: Issued) -> None:
    app = issued.app
    with app.db.session() as session:
        result_list = get_list(session, issued.t33)
        entries = [e for e in result_list.entries if not e.removed]
        orm = _sheet1(workbook.build(app, result_list, entries, language="sv"))
        light = [
            _Entry(
                e.student_id,
                _Student(e.student.pnr, e.student.last_name, e.student.first_name),
                e.grade,
                e.ects_grade,
                e.grade_date,
                e.points,
                e.comment,
            )
            for e in entries
        ]
        assert _sheet1(workbook.build(app, result_list, light, language="sv")) == orm
        for entry in entries:  # attributes not loaded are loaded, not taken as blank
            session.expire(entry)
            session.expire(entry.student)
        assert _sheet1(workbook.build(app, result_list, entries, language="sv")) == orm

        target = next(e for e in entries if e.grade is None)
        overrides = {target.student_id: {"grade": "=4", "grade_date": D2}}
        doc = workbook.build(app, result_list, entries, language="sv", overrides=overrides)
        doc.save(issued.path("merged.xlsx"))
    ws = load_workbook(issued.path("merged.xlsx"))["Resultat"]
    row = _rows_by_pnr(ws)[target.student.pnr]
    assert ws[f"D{row}"].value == "'=4"
    assert ws[f"E{row}"].value == dt.datetime(2026, 11, 5)


def test_save_atomic_takes_an_openpyxl_workbook(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active["A1"] = "hej"  # type: ignore[index]
    files.save(wb, tmp_path / "sub" / "plain.xlsx")
    assert load_workbook(tmp_path / "sub" / "plain.xlsx").active["A1"].value == "hej"  # type: ignore[index]
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("durable", [False, True])
def test_write_bytes_replaces_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    """Written through the temporary file's descriptor: the whole of a large payload (more
    than one write may take), mode 0640, and on a failure before the rename the old file as
    it was and no temporary file left."""
    target = tmp_path / "sub" / "list.xlsx"
    big = os.urandom(3 << 20)
    assert files.write_bytes(target, big, durable=durable) == target
    assert target.read_bytes() == big and target.stat().st_mode & 0o777 == 0o640
    assert files.write_bytes(target, b"new", mode=0o600).read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600

    def no_room(fd: int, view: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", no_room)
    with pytest.raises(OSError, match="No space"):
        files.write_bytes(target, b"lost")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["list.xlsx"]


@pytest.mark.parametrize(
    ("value", "serial"),
    [
        (dt.date(1900, 1, 1), 1),
        (dt.date(1900, 2, 28), 59),
        (dt.date(1900, 3, 1), 61),
        (dt.date(2026, 11, 2), 46328),
        (dt.datetime(2026, 11, 2, 12), 46328.5),
    ],
)
def test_excel_serial(value: dt.date, serial: float) -> None:
    assert cellxml.excel_serial(value) == serial


def test_cell_xml_values() -> None:
    assert cellxml.cell_xml("A1", None) == ""
    assert cellxml.cell_xml("A1", "", 3) == '<c r="A1" s="3"/>'
    assert cellxml.cell_xml("A1", 28.0) == '<c r="A1"><v>28</v></c>'
    assert cellxml.cell_xml("A1", Decimal("2.5")) == '<c r="A1"><v>2.5</v></c>'
    assert cellxml.cell_xml("A1", True) == '<c r="A1" t="b"><v>1</v></c>'
    assert cellxml.cell_xml("A1", float("nan")) == (
        '<c r="A1" t="inlineStr"><is><t>nan</t></is></c>'
    )
    assert cellxml.cell_xml("B2", "a\rb\ud800<\x00") == (
        '<c r="B2" t="inlineStr"><is><t>a&#13;b&lt;</t></is></c>'
    )
    assert cellxml.column_letter(28) == "AB" and cellxml.split_ref("AB12") == (12, 28)


# --------------------------------------------------------------------------- LibreOffice


def _soffice(source: Path, fmt: str, out: Path) -> Path:
    """``source`` converted by LibreOffice Calc (headless), as tests/data's fixtures are."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["soffice", "--headless", "--calc", "--convert-to", fmt, "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(out)},
        timeout=120,
    )
    return next(p for p in out.iterdir() if p.is_file())


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_libreoffice_reads_the_issued_workbook(issued: Issued, tmp_path: Path) -> None:
    converted = _soffice(
        issued.path("t33.xlsx"), "csv:Text - txt - csv (StarCalc):44,34,76", tmp_path / "csv"
    )
    with converted.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0].startswith(f"Resultatlista {issued.t33}")
    assert rows[3][:2] == ["Listnummer", str(issued.t33)]
    assert rows[11][1] == "'=SUM(A1)" and rows[12][1] == "Spara utkast"
    assert rows[14][:4] == ["Personnummer", "Efternamn", "Förnamn", "Betyg"]
    by_pnr = {r[0].replace("-", ""): r for r in rows[15:] if r and r[0]}
    p = issued.pnrs
    assert by_pnr[p[0]][2:7] == [
        "'=cmd|' /C calc'!A0",
        "5",
        "2026-11-02",
        "44.5",
        "Bra & <snyggt>\nrad två",
    ]
    assert by_pnr[p[1]][1] == 'Bo & <Co> "q"' and by_pnr[p[1]][5] == "28"
    assert by_pnr[p[2]][2] == "Anna"
    # Saved again by Calc as xlsx and as ods, the workbook still reads and its signature holds.
    saved = _soffice(issued.path("t33.xlsx"), "xlsx:Calc MS Excel 2007 XML", tmp_path / "xlsx")
    read = read_result_workbook(saved, Limits())
    assert read is not None and sorted(read.roster) == sorted(p)
    assert contract.verify(issued.app.settings.hmac_key(), read.meta, read.roster)
    ods = _soffice(issued.path("t33.xlsx"), "ods", tmp_path / "ods")
    read = read_result_workbook(ods, Limits())
    assert read is not None and sorted(read.roster) == sorted(p)
    assert contract.verify(issued.app.settings.hmac_key(), read.meta, read.roster)
    # Calc understood the structure (a headless conversion drops view settings such as the
    # frozen pane, for openpyxl's files as well).
    ws = load_workbook(saved)["Resultat"]
    assert ws.protection.sheet and not ws.protection.formatColumns
    assert not ws["B13"].protection.locked and ws["A16"].protection.locked
    assert not ws["D16"].protection.locked and ws["E16"].is_date
    assert {str(r) for r in ws.merged_cells.ranges} == {"A2:G2", "B12:D12", "B14:D14"}
    last = contract.FIRST_ROW + len(p) - 1
    assert {str(dv.sqref) for dv in ws.data_validations.dataValidation} == {"B13", f"D16:D{last}"}
    assert ws.print_title_rows == "$15:$15" and ws.column_dimensions["G"].width == 40
