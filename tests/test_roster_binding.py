"""The roster as issued (issue 16, item 5): each row's personnummer and names are bound to it
by the workbook's signature; a swapped personnummer or an edited name is refused, located.
Workbooks issued before (signature version 1) are verified and read as they were."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from pipeline.app import App
from pipeline.intake.inbox import Inbox
from pipeline.models import FileOutcome, ListEntry
from pipeline.texts import t
from pipeline.xlsx import contract, workbook
from tests.factories import fill, new_exam_list, seed

DATE = dt.date(2026, 11, 2)


def _filled(app: App, pnrs: list[str], name: str) -> Path:
    """The list's issued workbook (kept as ``issued.xlsx``), filled as ``name``."""
    issued = workbook.issue(app, new_exam_list(app))
    (app.root / "issued.xlsx").write_bytes(issued.path.read_bytes())
    grades = {pnrs[0]: "5", pnrs[1]: "3", pnrs[2]: "U"}
    rows = {p: {"grade": g, "grade_date": DATE} for p, g in grades.items()}
    return fill(issued.path, rows, target=app.root / name)


def _drop(
    app: App, path: Path
) -> tuple[FileOutcome, list[tuple[str, int | None, str | None]], str]:
    target = app.settings.inbox / path.name
    target.write_bytes(path.read_bytes())
    [result] = Inbox(app).process_once()
    assert result.receipt is not None
    problems = [(p.slug, p.row, p.column) for p in result.problems]
    return result.outcome, problems, result.receipt.read_text(encoding="utf-8")


def _grades(app: App) -> dict[str, str | None]:
    with app.db.session() as session:
        entries = session.execute(select(ListEntry)).scalars().all()
        return {e.student.pnr: e.grade for e in entries}


def _meta(path: Path) -> dict[str, str]:
    ws = load_workbook(path)[contract_meta_sheet()]
    return {str(r[0].value): str(r[1].value) for r in ws.iter_rows() if r[0].value}


def contract_meta_sheet() -> str:
    return str(contract.layout()["meta_sheet"])


def _swap_pnr(path: Path, a: int, b: int) -> None:
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    ws[f"A{a}"], ws[f"A{b}"] = ws[f"A{b}"].value, ws[f"A{a}"].value
    wb.save(path)


def test_the_issued_workbook_signs_every_rows_names(app: App) -> None:
    s = seed(app, students=3)
    path = _filled(app, s.pnrs, "signed.xlsx")
    meta = _meta(path)
    assert meta["signature_version"] == "2"
    assert meta["name_columns"] == '{"first_name": "C", "last_name": "B"}'
    ws = load_workbook(path).worksheets[0]
    shown = [
        (str(ws[f"A{r}"].value).replace("-", ""), ws[f"B{r}"].value, ws[f"C{r}"].value)
        for r in range(contract.FIRST_ROW, contract.FIRST_ROW + 3)
    ]
    roster = [p for p, _, _ in shown]
    assert contract.issued_names(meta, roster) == [[last, first] for _, last, first in shown]


def test_swapped_personnummer_refused_at_both_rows(app: App) -> None:
    s = seed(app, students=4)
    path = _filled(app, s.pnrs, "bytt.xlsx")
    _swap_pnr(path, 16, 17)
    outcome, problems, text = _drop(app, path)
    assert outcome == FileOutcome.REJECTED
    assert sorted(problems) == [("tampered-row-pnr", 16, "A"), ("tampered-row-pnr", 17, "A")]
    assert "Personnumret på den här raden har ändrats" in text
    assert "rad 16" in text and "rad 17" in text
    assert set(_grades(app).values()) == {None}
    # The marked copy holds the personnummer as issued, each at its row, the two cells red.
    marked = next(app.settings.receipts_dir.glob("*_fel.xlsx"))
    ws = load_workbook(marked).worksheets[0]
    issued = load_workbook(app.root / "issued.xlsx").worksheets[0]
    for r in (16, 17):
        assert ws[f"A{r}"].value == issued[f"A{r}"].value
        assert ws[f"A{r}"].comment is not None
        assert "Personnumret" in ws[f"A{r}"].comment.text
    # The grades stay on the rows they were typed on, beside the names the teacher saw.
    dropped = load_workbook(path).worksheets[0]
    assert [ws[f"D{r}"].value for r in (16, 17, 18, 19)] == [
        dropped[f"D{r}"].value for r in (16, 17, 18, 19)
    ]
    assert {ws[f"D{r}"].value for r in (16, 17, 18, 19)} == {"5", "3", "U", None}


def test_edited_surname_refused_at_its_cell_in_english(app: App) -> None:
    s = seed(app, students=3, teacher_lang="en")
    path = _filled(app, s.pnrs, "name.xlsx")
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    before = ws["B17"].value
    ws["B17"] = "Forged"
    wb.save(path)
    outcome, problems, text = _drop(app, path)
    assert outcome == FileOutcome.REJECTED
    assert problems == [("tampered-row-name", 17, "B")]
    assert "The name on this row was changed" in text
    assert f'issued with "{before}", now it says "Forged"' in text
    assert t("problems.tampered-row-name", "en").split(":", 1)[0] in text


def test_rows_moved_whole_are_still_their_students(app: App) -> None:
    s = seed(app, students=3)
    path = _filled(app, s.pnrs, "sorted.xlsx")
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    first = [c.value for c in ws[16]]
    second = [c.value for c in ws[17]]
    for column, (a, b) in enumerate(zip(first, second, strict=True), start=1):
        ws.cell(row=16, column=column, value=b)
        ws.cell(row=17, column=column, value=a)
    wb.save(path)
    outcome, problems, _ = _drop(app, path)
    assert outcome == FileOutcome.ACCEPTED, problems
    grades = _grades(app)
    assert grades[s.pnrs[0]] == "5" and grades[s.pnrs[1]] == "3" and grades[s.pnrs[2]] == "U"


def _as_version_1(app: App, path: Path) -> None:
    """The workbook as issued before rows were bound: no version key, no names, and the
    signature over the metadata and roster only."""
    wb = load_workbook(path)
    ms = wb[contract_meta_sheet()]
    for r in range(ms.max_row, 0, -1):
        key = str(ms.cell(row=r, column=1).value or "")
        if key in ("signature_version", "name_columns") or key.startswith(contract.NAMES_KEY):
            ms.delete_rows(r)
    meta: dict[str, str] = {}
    roster: list[str] = []
    hmac_row = 0
    for r in range(1, ms.max_row + 1):
        key = str(ms.cell(row=r, column=1).value or "")
        if key == "roster":
            roster = " ".join(
                str(ms.cell(row=x, column=2).value) for x in range(r + 1, ms.max_row + 1)
            ).split()
            break
        if key:
            meta[key] = str(ms.cell(row=r, column=2).value or "")
            hmac_row = r if key == "hmac" else hmac_row
    assert "signature_version" not in meta and roster
    ms.cell(row=hmac_row, column=2, value=contract.sign(app.settings.hmac_key(), meta, roster))
    wb.save(path)


def test_a_version_1_workbook_reads_as_it_did(app: App) -> None:
    s = seed(app, students=3)
    path = _filled(app, s.pnrs, "gammal.xlsx")
    _as_version_1(app, path)
    assert contract.signature_version(_meta(path)) == 1
    ws = load_workbook(path).worksheets[0]
    (x, gx), (y, gy) = (
        (str(ws[f"A{r}"].value).replace("-", ""), ws[f"D{r}"].value) for r in (16, 17)
    )
    _swap_pnr(path, 16, 17)
    outcome, problems, _ = _drop(app, path)
    # Its signature binds no names: as before, the grades follow the personnummer.
    assert outcome == FileOutcome.ACCEPTED, problems
    grades = _grades(app)
    assert gx != gy and grades[x] == gy and grades[y] == gx


def test_the_version_key_removed_breaks_the_signature(app: App) -> None:
    s = seed(app, students=3)
    path = _filled(app, s.pnrs, "nedgraderad.xlsx")
    wb = load_workbook(path)
    ms = wb[contract_meta_sheet()]
    for r in range(ms.max_row, 0, -1):
        if ms.cell(row=r, column=1).value == "signature_version":
            ms.delete_rows(r)
    wb.save(path)
    _swap_pnr(path, 16, 17)
    outcome, problems, text = _drop(app, path)
    assert outcome == FileOutcome.REJECTED
    assert problems == [("tampered-signature", None, None)]
    assert t("problems.tampered-signature", "sv").split(":", 1)[0] in text
