"""The reader's frame building gives the answers of the plain rule it replaces; the checks
before parsing read stored and deflated parts alike, and bounded."""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.xlsx.parser import MAX_COLUMNS, open_book, sheet_rows
from pipeline.xlsx.reader import META_SHEET, blank_to_none, rows_to_frame
from pipeline.xlsx.safety import Limits, UnreadableFile, check_safe, read_checked
from tests.hostile import Member, deflated, lying_zip_bomb, xlsx_skeleton, zip_bytes


def _plain_rows_to_frame(
    rows: list[list[Any]], letters: dict[str, str], first_row: int, limits: Limits
) -> pd.DataFrame:
    """The rule as first written: every cell through blank_to_none, pandas drops blank rows."""
    body = rows[first_row - 1 :]
    width = min((len(r) for r in body), default=0)
    if any(len(r) != width for r in body):
        body = [list(r) + [None] * (MAX_COLUMNS - len(r)) for r in body]
        width = MAX_COLUMNS
    transposed = list(zip(*body, strict=True)) if body else []
    columns: dict[str, list[Any]] = {}
    for name, letter in letters.items():
        position = ord(letter) - ord("A")
        if position < width:
            columns[name] = [blank_to_none(v) for v in transposed[position]]
        else:
            columns[name] = [None] * len(body)
    frame = pd.DataFrame(columns, index=range(first_row, first_row + len(body)), dtype=object)
    filled = frame.notna().any(axis=1)
    if not filled.all():
        frame = frame[filled]
    if len(frame) > limits.max_rows:
        raise UnreadableFile("too-many-rows", rows=len(frame), limit=limits.max_rows)
    return frame


# What calamine gives as cell values, with the text that cleaning changes well represented.
_cells = st.one_of(
    st.just(""),
    st.sampled_from([" ", "\t", "\xa0", "\u3000", " x", "\xa0x", "x ", "'", "'x", "'=cmd"]),
    st.sampled_from(["'+1", "'-1", "'@a", "'\tb", "''=x", "VG", "U", "19900101-1234"]),
    st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-5, max_value=5),
    st.booleans(),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 1, 1)),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.just(dt.time(8, 30)),
    st.just(dt.timedelta(hours=1)),
)


def _assert_same(rows: list[list[Any]], letters: dict[str, str], first_row: int) -> None:
    limits = Limits(max_rows=6)
    try:
        expected = _plain_rows_to_frame(rows, letters, first_row, limits)
    except (ValueError, UnreadableFile) as exc:
        with pytest.raises(type(exc)):
            rows_to_frame(rows, letters, first_row, limits)
        return
    got = rows_to_frame(rows, letters, first_row, limits)
    pd.testing.assert_frame_equal(
        got, expected, check_index_type=True, check_column_type=True, check_exact=True
    )
    assert type(got.index) is type(expected.index)
    assert got.index.tolist() == expected.index.tolist()
    for column in got.columns:  # the very objects, NaN and None told apart
        for mine, theirs in zip(got[column], expected[column], strict=True):
            assert type(mine) is type(theirs)
            assert mine is theirs or mine == theirs or (math.isnan(mine) and math.isnan(theirs))


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(min_value=0, max_value=6),
    data=st.data(),
    letters=st.dictionaries(
        st.sampled_from(["pnr", "grade", "grade_date", "points", "comment"]),
        st.sampled_from("ABCDEFGZ"),
        max_size=5,
    ),
    first_row=st.integers(min_value=1, max_value=3),
    ragged=st.booleans(),
)
def test_rows_to_frame_equals_the_plain_rule(
    width: int, data: st.DataObject, letters: dict[str, str], first_row: int, ragged: bool
) -> None:
    lengths = st.integers(min_value=0, max_value=width) if ragged else st.just(width)
    rows = data.draw(
        st.lists(lengths.flatmap(lambda n: st.lists(_cells, min_size=n, max_size=n)), max_size=9)
    )
    _assert_same(rows, letters, first_row)


def test_rows_to_frame_cleans_each_kind_of_cell_like_blank_to_none() -> None:
    nan = float("nan")
    rows: list[list[Any]] = [
        ["title", "", ""],
        ["19900101-1234", "", nan],  # filled by the first column only
        ["", "  ", nan],  # blank: empty text, white space and NaN
        ["\xa0", "'=1+1", ""],  # escaped formula read back
        [None, "'plain", 3.0],  # an apostrophe that escapes nothing stays
    ]
    letters = {"pnr": "A", "grade": "B", "points": "C"}
    frame = rows_to_frame(rows, letters, 2, Limits())
    assert frame.index.tolist() == [2, 4, 5]
    assert frame.loc[2, "pnr"] == "19900101-1234" and frame.loc[2, "grade"] is None
    points: Any = frame.loc[2, "points"]
    assert isinstance(points, float) and math.isnan(points)
    assert list(frame.loc[4]) == [None, "=1+1", None]
    assert list(frame.loc[5]) == [None, "'plain", 3.0]
    _assert_same(rows, letters, 2)


@pytest.mark.parametrize(
    "rows",
    [
        [],  # no input rows at all
        [["a"], ["b", "c"]],  # ragged: short rows padded with None
        [["a"] * (MAX_COLUMNS + 1), ["b"]],  # ragged past MAX_COLUMNS: refused as before
        [[""], [" "], [None]],  # every row blank
    ],
)
def test_rows_to_frame_edge_shapes(rows: list[list[Any]]) -> None:
    _assert_same(rows, {"pnr": "A", "grade": "B"}, 1)
    _assert_same(rows, {}, 1)


# --------------------------------------------------------------------------- far cells


def _sheet(cells: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1">' + cells + b"</row></sheetData></worksheet>"
    )


def _workbook(tmp_path: Path, sheet_xml: bytes, *, stored: bool = False) -> Path:
    parts = xlsx_skeleton(sheet_xml)
    if stored:
        members = [
            Member(name, data, zlib.crc32(data), len(data), zipfile.ZIP_STORED)
            for name, data in parts.items()
        ]
    else:
        members = [deflated(name, data) for name, data in parts.items()]
    path = tmp_path / "book.xlsx"
    path.write_bytes(zip_bytes(members))
    return path


def _rows(path: Path) -> list[list[Any]]:
    limits = Limits()
    return sheet_rows(open_book(read_checked(path, limits)[1]), META_SHEET, limits)


def test_many_cells_in_bounds_are_read_and_a_far_column_after_them_is_not(
    tmp_path: Path,
) -> None:
    cells = b"".join(b'<c r="KN%d"><v>%d</v></c>' % (row, row) for row in range(1, 20_001))
    rows = _rows(_workbook(tmp_path, _sheet(cells)))
    assert (len(rows), len(rows[0]), rows[-1][-1]) == (20_000, 300, 20_000.0)
    with pytest.raises(UnreadableFile) as refused:
        _rows(_workbook(tmp_path, _sheet(cells + b'<c r="KO1"><v>1</v></c>')))
    assert (refused.value.slug, refused.value.params) == (
        "too-many-columns",
        {"column": 301, "limit": 300},
    )


def test_stored_members_are_checked_like_deflated_ones(tmp_path: Path) -> None:
    good = _sheet(b'<c r="KN50100"><v>1</v></c>')
    assert _rows(_workbook(tmp_path, good, stored=True))[-1][-1] == 1.0
    far = _sheet(b'<c r="XFD1"><v>1</v></c>')
    with pytest.raises(UnreadableFile) as refused:
        _rows(_workbook(tmp_path, far, stored=True))
    assert refused.value.params == {"column": 16384, "limit": 300}
    entities = _sheet(b"").replace(b"<worksheet", b"<!DOCTYPE x><worksheet", 1)
    with pytest.raises(UnreadableFile) as refused:
        check_safe(_workbook(tmp_path, entities, stored=True), Limits())
    assert refused.value.slug == "xml-entities"


@pytest.mark.parametrize("declaration", [b"<!DOCTYPE x>", b"<!doctype x>", b"<!eNtItY y 'z'>"])
def test_a_declaration_in_any_case_is_refused(tmp_path: Path, declaration: bytes) -> None:
    sheet = _sheet(b"").replace(b"<worksheet", declaration + b"<worksheet", 1)
    with pytest.raises(UnreadableFile) as refused:
        check_safe(_workbook(tmp_path, sheet), Limits())
    assert refused.value.slug == "xml-entities"


def test_a_comment_is_not_a_declaration(tmp_path: Path) -> None:
    sheet = _sheet(b"<!-- made by hand --><![CDATA[x]]>")
    assert check_safe(_workbook(tmp_path, sheet), Limits()) == "xlsx"


def test_a_member_whose_headers_lie_about_its_size_is_inflated_only_as_far_as_claimed(
    tmp_path: Path,
) -> None:
    """200 MiB of spaces behind headers claiming a small sheet: zipfile inflates no more than
    the headers claim, and the parser gets the claimed bytes only, repacked."""
    issued = zip_bytes(deflated(n, d) for n, d in xlsx_skeleton(_sheet(b"")).items())
    path = tmp_path / "lying.xlsx"
    path.write_bytes(lying_zip_bomb(issued, "xl/worksheets/sheet1.xml", 200))
    assert path.stat().st_size < 1 << 20
    kind, data = read_checked(path, Limits())
    assert kind == "xlsx"
    with zipfile.ZipFile(path) as lying, zipfile.ZipFile(io.BytesIO(data)) as packed:
        claimed = lying.getinfo("xl/worksheets/sheet1.xml").file_size
        assert len(packed.read("xl/worksheets/sheet1.xml")) == claimed < 1 << 20
