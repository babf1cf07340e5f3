"""status.xlsx rewritten from kept row XML (overview_splice): the same cells as the workbook
openpyxl writes whole, read by openpyxl and by LibreOffice; only changed rows are written."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from pipeline import files
from pipeline.app import App
from pipeline.messages import overview, overview_splice
from pipeline.models import ListState
from tests.office import soffice_save
from tests.test_overview import TODAY, _lists, _set


def _reference(app: App, path: Path, *, language: str, today: dt.date = TODAY) -> Path:
    """The workbook as openpyxl writes it whole, every row (the writer before issue 19)."""
    rows = overview.collect(app, today=today)
    look = overview.layout(app.root)
    return files.save(overview.build(rows, language=language, look=look), path)


def _cell(cell: Any) -> tuple[Any, ...]:
    value = cell.value
    if isinstance(value, str) and value[-6:-5] == " " and value[-3:-2] == ":":
        value = value[:-5]  # "made at HH:MM" on the counts sheet: the minute may tick
    font, fill = cell.font, cell.fill
    return (
        value,
        cell.data_type,
        cell.number_format,
        bool(font.b),
        font.color.rgb if font.color is not None else None,
        fill.fill_type,
        fill.fgColor.rgb if fill.fill_type else None,
    )


def _content(path: Path) -> list[Any]:
    """Every cell with what the office relies on: value, type, number format, font, fill;
    each sheet's name, size, frozen panes, auto filter and column widths."""
    wb = load_workbook(path)
    sheets = []
    for ws in wb.worksheets:
        sheets.append(
            (
                ws.title,
                ws.max_row,
                ws.max_column,
                ws.freeze_panes,
                ws.auto_filter.ref,
                {k: round(d.width, 1) for k, d in ws.column_dimensions.items() if d.width},
                [[_cell(c) for c in row] for row in ws.iter_rows()],
            )
        )
    return sheets


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The listnrs openpyxl was given for sheet 1 at each write."""
    calls: list[list[int]] = []
    real = overview.build

    def build(rows: list[Any], **kwargs: Any) -> Any:
        listed = kwargs.get("listed")
        calls.append([r.listnr for r in (rows if listed is None else listed)])
        return real(rows, **kwargs)

    monkeypatch.setattr(overview, "build", build)
    return calls


@pytest.mark.parametrize("language", ["sv", "en"])
def test_same_cells_as_the_whole_workbook(app: App, tmp_path: Path, language: str) -> None:
    _lists(app)
    path = overview.write_overview(app, today=TODAY, language=language)
    reference = _reference(app, tmp_path / "reference.xlsx", language=language)
    assert _content(path) == _content(reference)
    # Written again from the kept rows only: the same cells still.
    path.unlink()
    overview.write_overview(app, today=TODAY, language=language)
    assert _content(path) == _content(reference)


def test_only_changed_rows_are_written(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = _lists(app)
    calls = _spy(monkeypatch)
    path = overview.write_overview(app, today=TODAY)
    assert calls == [sorted(numbers.values())]  # nothing kept yet: every row

    _set(app, numbers["waiting"], state=ListState.APPROVED, approved_at=dt.datetime(2027, 3, 23))
    overview.write_overview(app, today=TODAY)
    assert calls[-1] == [numbers["waiting"]]
    assert _content(path) == _content(_reference(app, tmp_path / "r1.xlsx", language="sv"))

    # A new day: the days overdue of the late, unapproved lists change, nothing else.
    overview.write_overview(app, today=TODAY + dt.timedelta(days=1))
    assert calls[-1] == sorted((numbers["late"], numbers["t34"]))
    later = _reference(app, tmp_path / "r2.xlsx", language="sv", today=TODAY + dt.timedelta(1))
    assert _content(path) == _content(later)

    # Another language: nothing kept is of it.
    overview.write_overview(app, today=TODAY, language="en")
    assert calls[-1] == sorted(numbers.values())


def test_a_row_that_leaves_is_dropped_and_the_rest_renumbered(app: App, tmp_path: Path) -> None:
    numbers = _lists(app)
    path = overview.write_overview(app, today=TODAY)
    store = overview_splice.store_path(app.settings.var, path)
    gone = numbers["late"]  # the first row: every row after it moves up one
    assert f"<v>{gone}</v>" in store.read_text("utf-8")
    _set(app, gone, term="VT2025", state=ListState.REGISTERED)  # an old term, finished
    overview.write_overview(app, today=TODAY)
    assert _content(path) == _content(_reference(app, tmp_path / "r.xlsx", language="sv"))
    ws = load_workbook(path).worksheets[0]
    assert [ws.cell(row=r, column=1).value for r in range(2, ws.max_row + 1)] == sorted(
        n for n in numbers.values() if n != gone
    )
    # What is kept is what the file shows: the row that left is not in the store.
    kept = store.read_text("utf-8")
    assert f"<v>{gone}</v>" not in kept
    assert all(f"<v>{n}</v>" in kept for n in numbers.values() if n != gone)


def test_each_file_its_own_store_and_a_broken_store_is_not_used(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = _lists(app)
    calls = _spy(monkeypatch)
    path = overview.write_overview(app, today=TODAY)
    other = overview.write_overview(app, today=TODAY, target=tmp_path / "other.xlsx")
    assert calls[-1] == sorted(numbers.values())  # another file: nothing of status.xlsx used
    var = app.settings.var
    assert overview_splice.store_path(var, path) != overview_splice.store_path(var, other)
    assert sorted(p.name for p in (var / overview_splice.STORE_DIR).iterdir()) == sorted(
        overview_splice.store_path(var, p).name for p in (path, other)
    )
    assert overview_splice.store_path(var, path).stat().st_mode & 0o777 == 0o640

    store = overview_splice.store_path(var, path)
    text = store.read_text("utf-8")
    for broken in (text[:-10], "not json\n" + text, ""):
        store.write_text(broken, encoding="utf-8")
        path.unlink()
        overview.write_overview(app, today=TODAY)
        assert calls[-1] == sorted(numbers.values())
        assert _content(path) == _content(other)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_same_cells(app: App, tmp_path: Path) -> None:
    numbers = _lists(app)
    sources = []
    for language in ("sv", "en"):
        folder = tmp_path / language
        spliced = folder / "spliced.xlsx"
        overview.write_overview(app, today=TODAY, language=language, target=spliced)
        _set(app, numbers["done"], reporter=f"rapp-{language}")  # one row new, the rest kept
        overview.write_overview(app, today=TODAY, language=language, target=spliced)
        sources += [spliced, _reference(app, folder / "whole.xlsx", language=language)]
    saved = [
        soffice_save([source], "xlsx:Calc MS Excel 2007 XML", tmp_path / "lo" / str(i))[0]
        for i, source in enumerate(sources)
    ]
    for spliced, whole in ((saved[0], saved[1]), (saved[2], saved[3])):
        assert _content(spliced) == _content(whole)
    sv, en = (load_workbook(p).worksheets[0] for p in (saved[0], saved[2]))
    assert sv.cell(row=1, column=1).value == "Listnr" and en.title == "Lists"
    assert sv.max_row == len(numbers) + 1
