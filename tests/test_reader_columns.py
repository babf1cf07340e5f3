"""A sheet sent by columns from the parser's process gives back the very values of its rows,
the frame built from the columns is the frame built from the rows, an answer that does not
add up is refused, and the safety checks' pass names the parts that may hold a formula."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.app import App
from pipeline.xlsx import parser, reader, workbook
from pipeline.xlsx.formulas import formula_cells
from pipeline.xlsx.parse_worker import by_columns
from pipeline.xlsx.parser import SheetCells
from pipeline.xlsx.reader import cells_to_frame, rows_to_frame
from pipeline.xlsx.safety import Limits, UnreadableFile, check_file
from tests.factories import fill, new_exam_list, seed
from tests.hostile import rezip, xlsx_skeleton

# What calamine gives as cell values, and text that must not be split apart.
_values = st.one_of(
    st.just(""),
    st.sampled_from([" ", "\x00", "a\x00b", "'=cmd", "VG", "19900101-1234", "å/ä/ö"]),
    st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-5, max_value=5),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.just(dt.time(8, 30)),
    st.just(dt.timedelta(hours=1)),
)


def _same(got: Any, want: Any) -> bool:
    if type(got) is not type(want):
        return False
    if isinstance(got, float) and math.isnan(got):
        return math.isnan(want)
    return bool(got == want) and (not isinstance(got, float) or str(got) == str(want))


def _sent(rows: list[list[Any]]) -> SheetCells:
    """The rows as the parser's process sends them and the daemon takes them in."""
    return parser._sheet_cells(by_columns(rows))


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(min_value=0, max_value=5),
    height=st.integers(min_value=0, max_value=8),
    data=st.data(),
)
def test_a_sheet_sent_by_columns_gives_back_the_values_of_its_rows(
    width: int, height: int, data: st.DataObject
) -> None:
    rows = [data.draw(st.lists(_values, min_size=width, max_size=width)) for _ in range(height)]
    cells = _sent(rows)
    assert cells.columns is not None
    assert cells.height == height
    back = cells.rows()
    assert len(back) == height
    for got_row, want_row in zip(back, rows, strict=True):
        assert len(got_row) == len(want_row)
        assert all(_same(g, w) for g, w in zip(got_row, want_row, strict=True))


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(min_value=0, max_value=5),
    height=st.integers(min_value=0, max_value=8),
    data=st.data(),
    letters=st.dictionaries(
        st.sampled_from(["pnr", "grade", "grade_date", "points", "comment"]),
        st.sampled_from("ABCDEFZ"),
        max_size=5,
    ),
    first_row=st.integers(min_value=0, max_value=4),
)
def test_the_frame_from_columns_is_the_frame_from_rows(
    width: int, height: int, data: st.DataObject, letters: dict[str, str], first_row: int
) -> None:
    rows = [data.draw(st.lists(_values, min_size=width, max_size=width)) for _ in range(height)]
    limits = Limits(max_rows=6)
    try:
        want = rows_to_frame(rows, letters, first_row, limits)
    except UnreadableFile as exc:
        with pytest.raises(UnreadableFile) as refused:
            cells_to_frame(_sent(rows), letters, first_row, limits)
        assert refused.value.slug == exc.slug
        return
    got = cells_to_frame(_sent(rows), letters, first_row, limits)
    pd.testing.assert_frame_equal(got, want, check_index_type=True, check_exact=True)
    assert type(got.index) is type(want.index)
    for column in got.columns:
        assert all(_same(g, w) for g, w in zip(got[column], want[column], strict=True))


def test_ragged_rows_are_sent_as_rows() -> None:
    rows: list[list[Any]] = [["a", 1.0], ["b"]]
    assert by_columns(rows) == ("ok", rows)
    cells = _sent(rows)
    assert cells.columns is None and cells.rows() == rows
    assert (cells.cell(1, 0), cells.cell(1, 1), cells.cell(5, 0)) == ("b", None, None)


@pytest.mark.parametrize(
    "answer",
    [
        ("columns", 2, [(b"s", "a", b"", b"", [])]),  # one kind for two cells
        ("columns", 1, [(b"x", "", b"", b"", [])]),  # a kind that is none
        ("columns", 2, [(b"sf", "a\x00b", b"", b"", [])]),  # a text too many, no float
        ("columns", 1, [(b"d", "", b"", b"\x00\x00\x00\x00", [])]),  # day 0
        ("columns", 1, [(b"s", ["a", 1], b"", b"", [])]),  # text that is not text
        ("columns", "1", []),
        ("ok", [("a",)]),
    ],
)
def test_an_answer_that_does_not_add_up_is_a_crashed_parser(answer: tuple[Any, ...]) -> None:
    with pytest.raises(UnreadableFile) as refused:
        parser._sheet_cells(answer)
    assert refused.value.slug == "parser-crashed"


def test_a_result_workbook_is_read_by_columns_with_its_values(app: App, tmp_path: Path) -> None:
    s = seed(app, students=3)
    issued = workbook.issue(app, new_exam_list(app)).path
    day = dt.date(2026, 11, 2)
    path = fill(
        issued,
        {s.pnrs[0]: {"grade": "4", "grade_date": day, "points": 12.5, "comment": "å/ä"}},
        target=tmp_path / "filled.xlsx",
    )
    wb = reader.read_result_workbook(path, Limits())
    assert wb is not None and wb.sheet_cells.columns is not None
    rows = parser.open_book(check_file(path, Limits()).data).rows(wb.sheet, Limits().max_rows)
    assert wb.sheet_rows == rows  # the same values as the rows the parser gives
    first = int(wb.meta["first_row"])
    pd.testing.assert_frame_equal(wb.frame, rows_to_frame(rows, wb.letters, first, Limits()))
    row = wb.frame.loc[wb.frame["pnr"].str.replace("-", "") == s.pnrs[0]].iloc[0]
    assert (row["grade"], row["grade_date"], row["points"]) == ("4", day, 12.5)
    assert wb.identity_listnr == reader.cell_value(rows, "B4") and wb.listnr is not None


_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData>%s</sheetData></worksheet>"
)


def test_the_checks_name_the_parts_that_may_hold_a_formula(tmp_path: Path) -> None:
    formula = b'<row r="1"><c r="A1"><f>1+1</f><v>2</v></c></row>'
    plain = b'<row r="1"><c r="A1" t="inlineStr"><is><t>Olof f&lt;f </t></is></c></row>'
    path = tmp_path / "f.xlsx"
    path.write_bytes(rezip(xlsx_skeleton(_SHEET % formula)))
    checked = check_file(path, Limits())
    assert checked.formula_parts == frozenset({"xl/worksheets/sheet1.xml"})
    found = formula_cells(checked.data, checked.kind, reader.META_SHEET, checked.formula_parts)
    assert found == {"A1": "=1+1"}
    # Named by the checks or not: the sheet's part is only looked at when it was.
    assert formula_cells(checked.data, checked.kind, reader.META_SHEET, frozenset()) == {}
    path.write_bytes(rezip(xlsx_skeleton(_SHEET % plain)))
    checked = check_file(path, Limits())
    assert checked.formula_parts == frozenset()
    assert formula_cells(checked.data, checked.kind, reader.META_SHEET, None) == {}
