"""The student office's overview workbook, outbox/status.xlsx."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event, select

from pipeline.app import App
from pipeline.messages import overview
from pipeline.models import Course, ListEntry, ListKind, ListState, ResultList
from tests.factories import TERM, new_exam_list, seed

TODAY = dt.date(2027, 3, 24)


def _set(app: App, listnr: int, **fields: object) -> None:
    with app.db.session() as s:
        rl = s.execute(select(ResultList).where(ResultList.listnr == listnr)).scalar_one()
        for name, value in fields.items():
            setattr(rl, name, value)


def _lists(app: App) -> dict[str, int]:
    """Three DV1599 lists (late draft, approved, waiting) and a T34 list of another course."""
    seed(app, students=5)
    late, done, waiting = (new_exam_list(app) for _ in range(3))
    _set(
        app,
        late,
        created_at=dt.datetime(2027, 2, 26, 23, 30),  # 27 February in Sweden
        due_date=dt.date(2027, 3, 10),
    )
    _set(
        app,
        done,
        state=ListState.APPROVED,
        due_date=dt.date(2027, 3, 10),
        submitted_at=dt.datetime(2027, 3, 8, 10),
        approved_at=dt.datetime(2027, 3, 12, 9),
    )
    _set(
        app,
        waiting,
        state=ListState.AWAITING_APPROVAL,
        due_date=dt.date(2027, 4, 1),
        submitted_at=dt.datetime(2027, 3, 20, 10),
    )
    with app.db.session() as s:
        rl = s.execute(select(ResultList).where(ResultList.listnr == late)).scalar_one()
        entries = list(s.execute(select(ListEntry).where(ListEntry.list_id == rl.id)).scalars())
        entries[0].grade, entries[1].grade = "5", "U"
        entries[4].removed = True
        other = Course(
            code="MA1234",
            name_sv="Matematik",
            name_en="Mathematics",
            credits=7.5,
            scale="UG",
            start_date=dt.date(2026, 8, 31),
        )
        s.add(other)
        s.flush()
        s.add(
            ResultList(
                listnr=2001,
                kind=ListKind.T34,
                course_id=other.id,
                term=TERM,
                state=ListState.DRAFT,
                reporter="exam1",
                examiner='=HYPERLINK("x")',
                created_at=dt.datetime(2027, 3, 1, 8),
                due_date=dt.date(2027, 3, 23),
            )
        )
    return {"late": late, "done": done, "waiting": waiting, "t34": 2001}


def _rows(path: Path, sheet: int = 0) -> tuple[Any, dict[Any, int]]:
    ws = load_workbook(path).worksheets[sheet]
    return ws, {ws.cell(row=r, column=1).value: r for r in range(2, ws.max_row + 1)}


def test_rows_highlighting_filter_and_frozen_header(app: App) -> None:
    numbers = _lists(app)
    path = overview.write_overview(app, today=TODAY)
    assert path == app.settings.office_outbox / "status.xlsx"
    ws, by_listnr = _rows(path)
    assert ws.title == "Listor"
    header = [c.value for c in ws[1]]
    assert header == [
        "Listnr", "Typ", "Kurs", "Provkod", "Termin", "Rapportör", "Examinator", "Status",
        "Studenter", "Med betyg", "Skapad", "Inskickad", "Attesterad", "Registrerad",
        "Arkiverad", "Ska vara klar", "Dagar försenad",
    ]  # fmt: skip
    assert sorted(by_listnr) == sorted(numbers.values())
    late = [c.value for c in ws[by_listnr[numbers["late"]]]]
    assert late == [
        numbers["late"], "T33", "DV1599", "2010", "HT2026", "lärare1", "exam1", "utkast",
        4, 2, dt.datetime(2027, 2, 27), None, None, None, None, dt.datetime(2027, 3, 10), 14,
    ]  # fmt: skip
    done = [c.value for c in ws[by_listnr[numbers["done"]]]]
    assert done[7:] == [
        "attesterad", 5, 0, done[10], dt.datetime(2027, 3, 8), dt.datetime(2027, 3, 12),
        None, None, dt.datetime(2027, 3, 10), None,
    ]  # fmt: skip
    waiting = [c.value for c in ws[by_listnr[numbers["waiting"]]]]
    assert (waiting[7], waiting[15], waiting[16]) == (
        "väntar på attestering",
        dt.datetime(2027, 4, 1),
        0,
    )
    t34 = [c.value for c in ws[by_listnr[2001]]]
    assert t34[:8] == [
        2001,
        "T34",
        "MA1234",
        None,
        "HT2026",
        "exam1",
        '\'=HYPERLINK("x")',
        "utkast",
    ]
    assert (t34[8], t34[9], t34[16]) == (0, 0, 1)

    # Real date cells, shown as ISO dates.
    due_cell = ws.cell(row=by_listnr[numbers["late"]], column=16)
    assert due_cell.is_date and due_cell.number_format == "yyyy-mm-dd"

    # Late and unapproved rows are filled; the approved one (also past its date) and the
    # waiting one (not yet due) are not.
    def fill(listnr: int) -> str | None:
        cell = ws.cell(row=by_listnr[listnr], column=3)
        return cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None

    assert fill(numbers["late"]) == "00FFC7CE"
    assert fill(2001) == "00FFC7CE"
    assert fill(numbers["done"]) is None
    assert fill(numbers["waiting"]) is None
    assert ws.cell(row=by_listnr[numbers["late"]], column=17).fill.fgColor.rgb == "00FFC7CE"

    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == "A1:Q5"


def test_counts_sheet(app: App) -> None:
    _lists(app)
    ws, by_course = _rows(overview.write_overview(app, today=TODAY), sheet=1)
    assert ws.title == "Antal"
    assert [c.value for c in ws[1]] == [
        "Kurs", "utkast", "inskickad", "väntar på attestering", "attesterad",
        "registrerad i Ladok", "arkiverad", "Totalt", "Försenade",
    ]  # fmt: skip
    assert [c.value for c in ws[by_course["DV1599"]]] == ["DV1599", 1, 0, 1, 1, 0, 0, 3, 1]
    assert [c.value for c in ws[by_course["MA1234"]]] == ["MA1234", 1, 0, 0, 0, 0, 0, 1, 1]
    total = ws[by_course["Alla kurser"]]
    assert [c.value for c in total] == ["Alla kurser", 2, 0, 1, 1, 0, 0, 4, 2]
    assert total[0].font.bold


def test_english_labels(app: App) -> None:
    numbers = _lists(app)
    path = overview.write_overview(app, today=TODAY, language="en")
    ws, by_listnr = _rows(path)
    assert ws.title == "Lists"
    assert ws.cell(row=1, column=17).value == "Days overdue"
    assert ws.cell(row=by_listnr[numbers["waiting"]], column=8).value == "awaiting approval"
    assert load_workbook(path).sheetnames == ["Lists", "Counts"]


def test_one_query_for_all_lists(app: App) -> None:
    seed(app, students=3)
    for _ in range(6):
        new_exam_list(app)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(app.db.engine, "before_cursor_execute", count)
    try:
        rows = overview.collect(app, today=TODAY)
    finally:
        event.remove(app.db.engine, "before_cursor_execute", count)
    assert len(rows) == 6
    assert all(r.students == 3 for r in rows)
    assert len(statements) == 1


def test_written_atomically(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    numbers = _lists(app)
    path = overview.write_overview(app, today=TODAY)
    before = path.read_bytes()
    # Someone has the file open while the next pass writes it.
    with path.open("rb") as reader:
        _set(app, numbers["late"], state=ListState.AWAITING_APPROVAL)
        overview.write_overview(app, today=TODAY)
        assert reader.read() == before  # the open file was replaced whole, never rewritten
    assert path.read_bytes() != before
    ws, by_listnr = _rows(path)
    assert ws.cell(row=by_listnr[numbers["late"]], column=8).value == "väntar på attestering"
    assert sorted(p.name for p in path.parent.iterdir() if p.is_file()) == ["status.xlsx"]

    # A write that fails half-way leaves the previous file as it was and no temporary file.
    current = path.read_bytes()

    def broken_save(self: Workbook, filename: str) -> None:
        Path(filename).write_bytes(b"PK half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(Workbook, "save", broken_save)
    _set(app, numbers["late"], state=ListState.SUBMITTED)  # something to write
    with pytest.raises(OSError, match="disk full"):
        overview.write_overview(app, today=TODAY)
    assert path.read_bytes() == current
    assert zipfile.is_zipfile(path)
    assert sorted(p.name for p in path.parent.iterdir() if p.is_file()) == ["status.xlsx"]


def test_empty_workspace_and_target(app: App, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "overview.xlsx"
    assert overview.write_overview(app, today=TODAY, target=target) == target
    ws, rows = _rows(target)
    assert rows == {}
    assert ws.auto_filter.ref == "A1:Q2"
    counts, by_course = _rows(target, sheet=1)
    assert [c.value for c in counts[by_course["Alla kurser"]]][-2:] == [0, 0]
